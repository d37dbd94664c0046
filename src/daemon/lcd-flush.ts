// Periodically writes runtime state (system and path states that the cluster records in the
// LCD's memory) to disk, so a restart shows recent last-known states without an fsync per
// heartbeat. `lcdsync` does the same on demand. While an LCD write is stuck in the kernel (a
// stalled disk), the flush skips instead of queueing more writes behind it, says so once, and
// says again when writes work again.
import type { Agent, Subsystem } from './agent.js';

export const LCD_FLUSH_INTERVAL_MS = 5_000;

export function lcdFlushSubsystem(agent: Agent, intervalMs = LCD_FLUSH_INTERVAL_MS): Subsystem {
  let timer: NodeJS.Timeout | undefined;
  let flushing = false;
  let stallReported = false;
  const flush = () => {
    if (flushing) return; // the previous flush is still within its time limit
    const stuckForMs = agent.lcd.stalledForMs();
    if (stuckForMs !== undefined) {
      if (!stallReported) agent.log.warn({ dir: agent.lcd.dir, stuckForMs }, 'LCD write stuck in the kernel; periodic LCD flush skipped until it returns');
      stallReported = true;
      return;
    }
    if (stallReported) agent.log.info({ dir: agent.lcd.dir }, 'stuck LCD write returned; periodic LCD flush resumed');
    stallReported = false;
    flushing = true;
    agent.lcd
      .sync()
      .catch((err: unknown) => agent.log.error({ err }, 'periodic LCD flush failed'))
      .finally(() => (flushing = false));
  };
  return {
    name: 'lcd-flush',
    start() {
      timer = setInterval(flush, intervalMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
    },
  };
}
