// The sequential write both mirror passes time (Vigil's md array, DRBD's device and the plain
// local disk before each): dd of zeros, 1 MiB requests, O_DIRECT, ending with a flush, timed
// inside the guest.
import type { VmNode } from '../../vmcluster/node.js';
import { lastLineNs, mibPerS, timedShell } from '../nbd-vm/stats.js';

export async function ddMiBps(n: VmNode, target: string, mb: number, seekMb = 0): Promise<number> {
  const out = await n.run(timedShell(`dd if=/dev/zero of=${target} bs=1M seek=${seekMb} count=${mb} oflag=direct conv=fsync status=none`), { timeoutMs: 600_000 });
  return mibPerS(mb * 2 ** 20, lastLineNs(out));
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
