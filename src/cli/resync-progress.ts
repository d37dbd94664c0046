// Progress of a NetRAID resync for the commands that wait on one (netraid_resync --wait,
// netraid_extend --wait) and for netraid_monitor: percent, rate and time left, from md's
// sync_completed (sectors done / total) sampled over time. The rate is what md copied in the
// last RATE_WINDOW_MS, so a resync slowed down by load or the speed ceiling shows its current
// pace. ResyncEstimator is I/O-free; waitForResync polls the mirror's state and prints.
import type { MirrorState } from '../replication/mirror-state.js';

/** How far back the rate looks: long enough to smooth md's bursts, short enough to follow changes. */
export const RATE_WINDOW_MS = 10_000;
const SECTOR_BYTES = 512;

export interface ResyncEstimate {
  /** Whole percent done (0-100). */
  percent: number;
  doneBytes: number;
  totalBytes: number;
  /** Copy rate over the window; undefined until two samples some time apart. */
  bytesPerSecond?: number;
  /** Seconds left at that rate; undefined while the rate is unknown or zero. */
  etaSeconds?: number;
}

/** Rate and time left from successive sync_completed samples of one resync. */
export class ResyncEstimator {
  private samples: Array<{ atMs: number; done: number }> = [];
  private total = 0;

  constructor(private readonly windowMs = RATE_WINDOW_MS) {}

  observe(atMs: number, doneSectors: number, totalSectors: number): ResyncEstimate {
    const last = this.samples.at(-1);
    // A new resync (progress went back, or another size) starts a new estimate.
    if (totalSectors !== this.total || (last && doneSectors < last.done)) this.samples = [];
    this.total = totalSectors;
    this.samples.push({ atMs, done: doneSectors });
    // Keep the newest sample older than the window as the base, so the rate spans the whole window.
    while (this.samples.length > 2 && this.samples[1]!.atMs <= atMs - this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const est: ResyncEstimate = {
      percent: totalSectors > 0 ? Math.min(100, Math.floor((doneSectors * 100) / totalSectors)) : 0,
      doneBytes: doneSectors * SECTOR_BYTES,
      totalBytes: totalSectors * SECTOR_BYTES,
    };
    if (atMs > first.atMs) {
      est.bytesPerSecond = ((doneSectors - first.done) * SECTOR_BYTES * 1000) / (atMs - first.atMs);
      if (est.bytesPerSecond > 0) est.etaSeconds = Math.ceil(((totalSectors - doneSectors) * SECTOR_BYTES) / est.bytesPerSecond);
    }
    return est;
  }
}

function size(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

/** One progress line: "/dev/md0 resync 42% (13.4 MiB of 32.0 MiB), 8.2 MiB/s, 3s left". */
export function formatResyncProgress(device: string, e: ResyncEstimate): string {
  const head = `${device} resync ${e.percent}% (${size(e.doneBytes)} of ${size(e.totalBytes)})`;
  if (e.bytesPerSecond === undefined) return `${head}, rate not known yet`;
  const rate = `${size(e.bytesPerSecond)}/s`;
  return e.etaSeconds === undefined ? `${head}, ${rate}, time left not known (no progress)` : `${head}, ${rate}, ${duration(e.etaSeconds)} left`;
}

/** What waitForResync reads each time: the mirror's state and md's progress. */
export interface ResyncReading {
  state: MirrorState;
  sync?: { completed?: { doneSectors: number; totalSectors: number } };
}

export interface ResyncWait {
  device: string;
  read(): Promise<ResyncReading>;
  /** A progress line (the caller prints it to stderr, or drops it under --json). */
  progress(line: string): void;
  intervalMs: number;
  /** How long the mirror may stay 'degraded' before md starts the copy (a re-add is not instant). */
  startGraceMs: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export type ResyncOutcome = { outcome: 'in-sync'; seconds: number } | { outcome: 'stopped'; state: MirrorState; seconds: number };

/**
 * Polls until the mirror is in sync ('in-sync') or the resync is no longer running ('stopped',
 * with the state it ended in), printing a progress line at each poll while it runs.
 */
export async function waitForResync(w: ResyncWait): Promise<ResyncOutcome> {
  const now = w.now ?? Date.now;
  const sleep = w.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const estimator = new ResyncEstimator();
  const started = now();
  let seenRunning = false;
  for (;;) {
    const r = await w.read();
    const seconds = (now() - started) / 1000;
    if (r.state === 'mirroring') return { outcome: 'in-sync', seconds };
    if (r.state === 'resyncing') {
      seenRunning = true;
      const c = r.sync?.completed;
      if (c) w.progress(formatResyncProgress(w.device, estimator.observe(now(), c.doneSectors, c.totalSectors)));
      else w.progress(`${w.device} resync starting`);
    } else if (r.state !== 'degraded' || seenRunning || now() - started > w.startGraceMs) {
      return { outcome: 'stopped', state: r.state, seconds };
    }
    await sleep(w.intervalMs);
  }
}
