// Taking an NFS mount out of service in bounded time, even when its server is dead. Steps, each
// with its own time limit and a log line: (1) end the processes holding the mount (TERM, then
// KILL: a process stuck on a hard mount waits killably, so KILL ends it); (2) a normal unmount;
// (3) a forced unmount (umount -f aborts the NFS requests in flight); (4) a lazy unmount
// (umount -l detaches the mount from the tree now; the kernel frees it when the last user is
// gone). Whatever happens, release() settles within the sum of the step limits, and it reports
// whether the mount point is free. A mount that is detached lazily, or even one that is still
// listed after every step, does not keep the hierarchy here: the file system is on the server,
// not on this system, and the processes that used it are gone.
import type { MountTable } from '../../platform/platform.js';
import type { MountControl, MountHolders, UnmountMode } from '../../platform/mounts.js';
import type { NasMetricsEvents } from './nas-metrics-events.js';
import { readMounts } from './nas-failure.js';

export interface ReleaseLimits {
  /** Finding holders (walks /proc) and ending them (TERM, grace, KILL), ms. */
  holdersMs: number;
  /** Time holders get between TERM and KILL, ms. */
  graceMs: number;
  /** Each unmount attempt, ms. */
  umountMs: number;
}

export interface ReleaseOutcome {
  /** Nothing is mounted on the mount point any more (normal, forced or lazy). */
  free: boolean;
  /** The step that freed it, or 'none' when it was not mounted; undefined when still listed. */
  by?: 'none' | UnmountMode;
  steps: string[];
}

export type Log = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}

export async function releaseNfsMount(
  mountPoint: string,
  p: { mountTable: MountTable; mountControl: MountControl; holders: MountHolders },
  limits: ReleaseLimits,
  log: Log,
  metrics?: Pick<NasMetricsEvents, 'releaseStep'>,
): Promise<ReleaseOutcome> {
  const steps: string[] = [];
  // An unreadable table is the seeds' 107008 (a NasFailure the calling action answers with).
  const mounted = async () => (await readMounts(p.mountTable, '')).some((m) => m.mountPoint === mountPoint);
  if (!(await mounted())) return { free: true, by: 'none', steps: ['not mounted'] };

  const step = async (name: 'holders' | 'umount' | 'force' | 'lazy', fn: () => Promise<string>, ms: number): Promise<boolean> => {
    const t0 = performance.now();
    try {
      const note = await bounded(fn(), ms, name);
      const line = `${name}: ${note} (${Math.round(performance.now() - t0)} ms)`;
      steps.push(line);
      log('info', `release of ${mountPoint}: ${line}`, { mountPoint, step: name });
      metrics?.releaseStep(name, 'ok', (performance.now() - t0) / 1000);
      return true;
    } catch (e) {
      const msg = (e as Error).message;
      const timedOut = /did not finish within/.test(msg);
      const line = `${name}: ${timedOut ? 'timed out' : 'failed'}: ${msg} (${Math.round(performance.now() - t0)} ms)`;
      steps.push(line);
      log('warn', `release of ${mountPoint}: ${line}`, { mountPoint, step: name });
      metrics?.releaseStep(name, timedOut ? 'timeout' : 'failed', (performance.now() - t0) / 1000);
      return false;
    }
  };

  await step(
    'holders',
    async () => {
      const found = await p.holders.find(mountPoint);
      if (found.length === 0) return 'no process holds it';
      log('warn', `ending processes that hold ${mountPoint}`, { holders: found });
      const ended = await p.holders.end(found, limits.graceMs);
      return `ended ${ended.join(', ')}`;
    },
    limits.holdersMs,
  );
  for (const mode of ['normal', 'force', 'lazy'] as const) {
    const name = mode === 'normal' ? 'umount' : mode;
    // The unmount program has its own limit; the outer bound also covers a stuck table read.
    const done = await step(name, async () => {
      await p.mountControl.umount(mountPoint, limits.umountMs, mode);
      return 'done';
    }, limits.umountMs + 1000);
    if (done && !(await bounded(mounted(), limits.umountMs, 'mount table read').catch(() => true))) {
      return { free: true, by: mode, steps };
    }
  }
  log('error', `${mountPoint} is still mounted after the forced and lazy unmounts; leaving it to the kernel`, { mountPoint, steps });
  return { free: false, steps };
}
