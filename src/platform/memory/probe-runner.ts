// The in-memory twin of native/probe_runner: same admission bounds, same counters, same
// timeout-then-park-then-reclaim life cycle, with the "kernel call" being a promise that the
// memory kernel settles (or keeps pending while a hang fault holds it).
import { ProbeCapacityError, ProbeTimeoutError } from '../errors.js';
import type { ProbeCounters, ProbeLimits } from '../platform.js';

/** What a multi-step job adds to the plain probe life cycle (the twin of ProbeJob's hooks). */
export interface ProbeHooks {
  /** The step the job is in, named in a timeout error instead of the fixed syscall. */
  syscall?(): string;
  /** Runs at the instant the probe is parked; says whether the job's commit had already started. */
  onTimeout?(): { commitStarted: boolean; note?: string };
}

export const DEFAULT_PROBE_LIMITS: ProbeLimits = { maxParked: 256, maxParkedPerKey: 32 };

function bump(map: Map<string, number>, key: string, delta: number): void {
  const n = (map.get(key) ?? 0) + delta;
  if (n === 0) map.delete(key);
  else map.set(key, n);
}

export class MemoryProbeRunner {
  private limits: ProbeLimits = { ...DEFAULT_PROBE_LIMITS };
  private inFlight = 0;
  private parked = 0;
  private reclaimedTotal = 0;
  private timedOutTotal = 0;
  private capacityRejectedTotal = 0;
  private readonly threadsByKey = new Map<string, number>();
  private readonly parkedByKey = new Map<string, number>();

  run<T>(syscall: string, path: string, key: string, timeoutMs: number, call: () => Promise<T>, hooks: ProbeHooks = {}): Promise<T> {
    if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
      return Promise.reject(new TypeError('path must be a non-empty string without NUL bytes'));
    }
    if (!Number.isFinite(timeoutMs) || timeoutMs < 1 || timeoutMs > 86_400_000) {
      return Promise.reject(new RangeError('timeoutMs must be between 1 and 86400000'));
    }
    const keyThreads = this.threadsByKey.get(key) ?? 0;
    if (this.inFlight + this.parked >= this.limits.maxParked || keyThreads >= this.limits.maxParkedPerKey) {
      this.capacityRejectedTotal++;
      return Promise.reject(new ProbeCapacityError(syscall, path, key));
    }
    this.inFlight++;
    bump(this.threadsByKey, key, 1);
    return new Promise<T>((resolve, reject) => {
      let state: 'running' | 'parked' = 'running';
      const timer = setTimeout(() => {
        state = 'parked';
        this.inFlight--;
        this.parked++;
        this.timedOutTotal++;
        bump(this.parkedByKey, key, 1);
        const outcome = hooks.onTimeout?.();
        const name = hooks.syscall?.() ?? syscall;
        const message = `EPROBETIMEOUT: ${name} '${path}' did not return within ${timeoutMs} ms${outcome?.note ? `; ${outcome.note}` : ''}`;
        reject(new ProbeTimeoutError(name, path, timeoutMs, key, message, outcome?.commitStarted ?? false));
      }, timeoutMs);
      const finish = (settle: () => void) => {
        bump(this.threadsByKey, key, -1);
        if (state === 'parked') {
          this.parked--;
          this.reclaimedTotal++;
          bump(this.parkedByKey, key, -1);
          return;
        }
        clearTimeout(timer);
        this.inFlight--;
        settle();
      };
      call().then(
        (value) => finish(() => resolve(value)),
        (err: unknown) => finish(() => reject(err)),
      );
    });
  }

  counters(): ProbeCounters {
    return {
      inFlight: this.inFlight,
      parked: this.parked,
      reclaimedTotal: this.reclaimedTotal,
      timedOutTotal: this.timedOutTotal,
      capacityRejectedTotal: this.capacityRejectedTotal,
      parkedByKey: Object.fromEntries(this.parkedByKey),
    };
  }

  configure(limits: Partial<ProbeLimits> = {}): ProbeLimits {
    for (const name of ['maxParked', 'maxParkedPerKey'] as const) {
      const v = limits[name];
      if (v === undefined) continue;
      if (!Number.isInteger(v) || v < 1 || v > 100_000) throw new RangeError(`${name} must be an integer from 1 to 100000`);
    }
    this.limits = { ...this.limits, ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) };
    return { ...this.limits };
  }
}
