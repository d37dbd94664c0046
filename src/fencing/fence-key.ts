// The persistent-reservation key of a system: stable across restarts and reinstalls, derived only
// from the system's name (its identity in the cluster), so every node can compute every other
// node's key and an operator can recognise Vigil's keys in `sg_persist --in --read-keys`:
//
//   key = 0x56 ('V') in the top byte, then the first 7 bytes of SHA-256("vigil-pr-key:" + name)
//
// e.g. node1 -> 0x56c4f2...; never 0 (0 means "no key" in SPC-4).
import { createHash } from 'node:crypto';

export const FENCE_KEY_TAG = 0x56n;

export function fenceKeyFor(system: string): bigint {
  if (!system) throw new RangeError('a fence key needs a system name');
  const digest = createHash('sha256').update(`vigil-pr-key:${system}`).digest();
  return (FENCE_KEY_TAG << 56n) | (digest.readBigUInt64BE(0) >> 8n);
}

/** Whether a key on a LUN looks like one of Vigil's (top byte 'V'). */
export function isVigilKey(key: bigint): boolean {
  return key >> 56n === FENCE_KEY_TAG;
}
