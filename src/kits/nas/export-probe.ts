// The NAS monitor's probe: stat(2) of the mount point on a probe thread, each call bounded by
// LKNFSSYSCALLTO, repeated until one succeeds or LKNFSTIMEOUT has passed since the first. A call
// that does not return in time is abandoned on its thread (the kernel keeps that thread until
// the server answers; the probe runner counts it as parked and reclaims it then) and the next
// attempt starts at once on a new thread. A call that fails quickly (ESTALE, EIO from a soft
// mount) is retried after a short pause. When the per-mount bound of stuck threads is reached,
// new attempts are refused at once; the loop keeps trying (some thread may come back) until
// the overall time is up. The event loop only ever waits on promises.
import { ProbeCapacityError, ProbeTimeoutError } from '../../platform/errors.js';
import type { TimedStat } from '../../platform/platform.js';

export interface ProbeTiming {
  /** One system call's limit (LKNFSSYSCALLTO), ms. */
  syscallMs: number;
  /** Overall limit (LKNFSTIMEOUT), ms. */
  overallMs: number;
  /** Pause after an attempt that failed at once, ms. */
  retryPauseMs?: number;
}

export type ProbeCause = 'hung' | 'error' | 'capacity';

export interface ProbeVerdict {
  ok: boolean;
  attempts: number;
  /** Attempts abandoned because they did not return within syscallMs. */
  hung: number;
  elapsedMs: number;
  /** Duration of the successful call, ms. */
  latencyMs?: number;
  /** Why the last attempt failed (on failure). */
  cause?: ProbeCause;
  lastError?: string;
}

export interface ProbeEvents {
  /** Every attempt's outcome and duration. */
  attempt?(outcome: 'ok' | ProbeCause, ms: number): void;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export async function probeExport(
  stat: TimedStat,
  path: string,
  timing: ProbeTiming,
  opts: {
    signal?: AbortSignal;
    events?: ProbeEvents;
    key?: string;
    now?: () => number;
    /** An error that still proves the server answered (ENOENT for a lookup of a fresh name). */
    healthy?: (err: unknown) => boolean;
  } = {},
): Promise<ProbeVerdict> {
  const now = opts.now ?? (() => performance.now());
  const start = now();
  const pause = timing.retryPauseMs ?? 1000;
  let attempts = 0;
  let hung = 0;
  let cause: ProbeCause = 'error';
  let lastError = '';
  for (;;) {
    const left = timing.overallMs - (now() - start);
    if (left <= 0 || opts.signal?.aborted) break;
    attempts++;
    const t0 = now();
    try {
      await stat.stat(path, Math.max(1, Math.min(timing.syscallMs, left)), opts.key ? { key: opts.key } : {});
      const ms = now() - t0;
      opts.events?.attempt?.('ok', ms);
      return { ok: true, attempts, hung, elapsedMs: now() - start, latencyMs: ms };
    } catch (e) {
      const ms = now() - t0;
      if (opts.healthy?.(e)) {
        opts.events?.attempt?.('ok', ms);
        return { ok: true, attempts, hung, elapsedMs: now() - start, latencyMs: ms };
      }
      lastError = (e as Error).message;
      if (e instanceof ProbeTimeoutError) {
        hung++;
        cause = 'hung';
      } else if (e instanceof ProbeCapacityError) {
        cause = 'capacity';
      } else {
        cause = 'error';
      }
      opts.events?.attempt?.(cause, ms);
      if (cause !== 'hung') await sleep(Math.min(pause, Math.max(0, timing.overallMs - (now() - start))), opts.signal);
    }
  }
  return { ok: false, attempts, hung, elapsedMs: now() - start, cause, lastError: lastError || 'no attempt could be made' };
}
