// Periodically writes runtime state (system and path states that the cluster records in the
// LCD's memory) to disk, so a restart shows recent last-known states without an fsync per
// heartbeat. `lcdsync` does the same on demand.
import type { Agent, Subsystem } from './agent.js';

export const LCD_FLUSH_INTERVAL_MS = 5_000;

export function lcdFlushSubsystem(agent: Agent, intervalMs = LCD_FLUSH_INTERVAL_MS): Subsystem {
  let timer: NodeJS.Timeout | undefined;
  return {
    name: 'lcd-flush',
    start() {
      timer = setInterval(() => {
        try {
          agent.lcd.sync();
        } catch (err) {
          agent.log.error({ err }, 'periodic LCD flush failed');
        }
      }, intervalMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
    },
  };
}
