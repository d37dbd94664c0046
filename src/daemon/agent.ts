// The Agent: one vigild's configuration, LCD, logger and the ordered list of subsystems that run
// inside it. Parts of the product attach themselves as subsystems (see compose.ts); the Agent
// starts them in order and stops them in reverse, so a part can rely on everything attached
// before it while it runs. The Agent does not build its platform: the composition root
// (daemon/main.ts) builds the one Linux platform of the process and hands it in.
import type { Logger } from 'pino';
import type { AgentContext } from '../admin/context.js';
import type { VigilConfig } from '../common/config.js';
import { Lcd, type LcdStartMode } from '../lcd/lcd.js';
import type { Platform } from '../platform/platform.js';

export interface Subsystem {
  /** Short name for logs ("admin-server", "cluster", ...). */
  readonly name: string;
  start(): Promise<void> | void;
  /** Release everything (sockets, timers, children). Called once, in reverse start order. */
  stop(): Promise<void> | void;
}

/** How long one subsystem may take to stop before shutdown moves on without it. */
export const SUBSYSTEM_STOP_TIMEOUT_MS = 10_000;

export class Agent {
  readonly config: VigilConfig;
  readonly lcd: Lcd;
  readonly log: Logger;
  readonly localSystem: string;
  /** The kernel interfaces every part of this agent uses. */
  readonly platform: Platform;
  /** Handed to admin command handlers; the cluster fills in `forward`. */
  readonly context: AgentContext;
  private readonly subsystems: Subsystem[] = [];
  private started: Subsystem[] = [];
  private stopping: Promise<void> | undefined;

  /**
   * `lcd`: an LCD opened already (tests); by default the one under VIGIL_STATE_DIR.
   * `lcdStart`: how a missing or damaged LCD is treated (vigild --lcd-init / --lcd-recover).
   */
  constructor(config: VigilConfig, log: Logger, deps: { platform: Platform; lcd?: Lcd; lcdStart?: LcdStartMode }) {
    this.config = config;
    this.log = log;
    this.platform = deps.platform;
    this.lcd =
      deps.lcd ??
      Lcd.open({
        dir: config.VIGIL_STATE_DIR,
        localSystem: config.VIGIL_NODE_NAME,
        files: deps.platform.durableFiles,
        writeTimeoutMs: config.VIGIL_LCD_WRITE_TIMEOUT_MS,
        onWarning: (message, details) => log.warn(details, message),
        // One vigild per state directory: a second one would silently lose the first's changes.
        lock: true,
        // An initialised node's state directory never looks new, even when its file system is not mounted.
        markOutside: true,
        start: deps.lcdStart,
      });
    this.localSystem = this.lcd.localSystem;
    this.context = { lcd: this.lcd, config, localSystem: this.localSystem, log };
  }

  /** Add a subsystem; it starts after those added before it. Only before start(). */
  addSubsystem(s: Subsystem): void {
    if (this.started.length) throw new Error(`cannot add subsystem "${s.name}" to a running agent`);
    this.subsystems.push(s);
  }

  subsystemNames(): string[] {
    return this.subsystems.map((s) => s.name);
  }

  /** Start every subsystem in order; if one fails, stop the ones already started and rethrow. */
  async start(): Promise<void> {
    for (const s of this.subsystems) {
      try {
        await s.start();
      } catch (err) {
        this.log.error({ err, subsystem: s.name }, 'subsystem failed to start');
        await this.stop();
        throw err;
      }
      this.started.push(s);
      this.log.debug({ subsystem: s.name }, 'subsystem started');
    }
    this.log.info({ system: this.localSystem, subsystems: this.subsystemNames() }, 'agent started');
  }

  /** Stop started subsystems in reverse order (each with a time limit), then flush the LCD. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const s of [...this.started].reverse()) {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(() => s.stop()),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`did not stop within ${SUBSYSTEM_STOP_TIMEOUT_MS} ms`)), SUBSYSTEM_STOP_TIMEOUT_MS);
              timer.unref();
            }),
          ]);
          this.log.debug({ subsystem: s.name }, 'subsystem stopped');
        } catch (err) {
          this.log.error({ err, subsystem: s.name }, 'subsystem failed to stop cleanly');
        } finally {
          clearTimeout(timer);
        }
      }
      this.started = [];
      try {
        // Bounded by the LCD's write time limit; refused at once if a write is stuck already.
        await this.lcd.sync();
      } catch (err) {
        this.log.error({ err }, 'final LCD flush failed');
      }
      this.lcd.close();
      this.log.info({ system: this.localSystem }, 'agent stopped');
    })();
    return this.stopping;
  }
}
