// Guest clocks for the side-by-side benchmark: each product logs in its guest's wall clock, and the
// storage VM's prober logs in its /proc/uptime; both are mapped onto the host's clock here, from
// the sample with the shortest round trip through the guest agent.
import type { VmNode } from '../../vmcluster/node.js';

export interface ClockMap {
  /** guest wall clock (ms) - host clock (ms) */
  wallOffsetMs: number;
  /** host ms at guest uptime 0 */
  uptimeZeroHostMs: number;
  uncertaintyMs: number;
}

/** One `date` + `/proc/uptime` read per sample; keeps the sample with the shortest round trip. */
export async function measureClock(node: VmNode, samples = 4): Promise<ClockMap> {
  let best: ClockMap | undefined;
  for (let i = 0; i < samples; i++) {
    const t0 = Date.now();
    const out = await node.run(['/run/vmc/busybox', 'sh', '-c', 'cat /proc/uptime; date +%s'], { timeoutMs: 30_000 });
    const t1 = Date.now();
    const [upLine, dateLine] = out.trim().split('\n');
    const up = Number(upLine!.split(' ')[0]) * 1000;
    const mid = (t0 + t1) / 2;
    // `date +%s` has whole seconds only; the wall offset is refined below from a ms-resolution read.
    const cand: ClockMap = { wallOffsetMs: Number(dateLine) * 1000 - mid, uptimeZeroHostMs: mid - up, uncertaintyMs: (t1 - t0) / 2 };
    if (!best || cand.uncertaintyMs < best.uncertaintyMs) best = cand;
  }
  // Millisecond wall clock: coreutils date (the busybox one has no %N).
  let bestWall: { off: number; unc: number } | undefined;
  for (let i = 0; i < samples; i++) {
    const t0 = Date.now();
    const out = await node.run('date +%s%3N', { timeoutMs: 30_000 });
    const t1 = Date.now();
    const cand = { off: Number(out.trim()) - (t0 + t1) / 2, unc: (t1 - t0) / 2 };
    if (!bestWall || cand.unc < bestWall.unc) bestWall = cand;
  }
  best!.wallOffsetMs = bestWall!.off;
  best!.uncertaintyMs = Math.max(best!.uncertaintyMs, bestWall!.unc);
  return best!;
}

export const guestWallToHost = (m: ClockMap, guestMs: number): number => guestMs - m.wallOffsetMs;
export const guestUptimeToHost = (m: ClockMap, uptimeS: number): number => m.uptimeZeroHostMs + uptimeS * 1000;
