// Replay protection for authenticated frames: per sender and per sender boot (epoch), a sliding
// window of sequence numbers, plus a bound on clock skew so a frame recorded long ago is refused
// even if it belongs to a boot we have not seen. A sender that reboots starts a new epoch; the
// previous epochs are remembered (bounded) so their frames cannot be replayed afterwards.

export type ReplayVerdict = 'ok' | 'replay' | 'stale' | 'old_epoch';

export const REPLAY_WINDOW = 1024;
const RETIRED_EPOCHS_KEPT = 16;

interface SenderWindow {
  epoch: bigint;
  /** Highest sequence number accepted in this epoch. */
  highest: bigint;
  /** Bit i set: sequence (highest - i) was seen. */
  seen: Uint32Array;
  retired: bigint[];
}

export class ReplayGuard {
  private readonly senders = new Map<string, SenderWindow>();

  constructor(private readonly maxSkewMs: number) {}

  /**
   * Checks a frame that already passed authentication and records it when accepted. Only
   * authenticated frames reach here, so a forger cannot move the window.
   */
  accept(sender: string, epoch: bigint, seq: bigint, timestampMs: number, nowMs: number): ReplayVerdict {
    if (Math.abs(nowMs - timestampMs) > this.maxSkewMs) return 'stale';
    let w = this.senders.get(sender);
    if (w && w.epoch !== epoch) {
      if (w.retired.includes(epoch)) return 'old_epoch';
      w.retired.push(w.epoch);
      if (w.retired.length > RETIRED_EPOCHS_KEPT) w.retired.shift();
      w.epoch = epoch;
      w.highest = -1n;
      w.seen.fill(0);
    }
    if (!w) {
      w = { epoch, highest: -1n, seen: new Uint32Array(REPLAY_WINDOW / 32), retired: [] };
      this.senders.set(sender, w);
    }
    if (seq > w.highest) {
      const shift = seq - w.highest;
      shiftWindow(w.seen, shift >= BigInt(REPLAY_WINDOW) ? REPLAY_WINDOW : Number(shift));
      w.highest = seq;
      w.seen[0]! |= 1;
      return 'ok';
    }
    const back = w.highest - seq;
    if (back >= BigInt(REPLAY_WINDOW)) return 'replay';
    const i = Number(back);
    const word = i >>> 5;
    const bit = 1 << (i & 31);
    if ((w.seen[word]! & bit) !== 0) return 'replay';
    w.seen[word]! |= bit;
    return 'ok';
  }

  /** The epoch currently accepted from a sender (to notice a peer's reboot). */
  epochOf(sender: string): bigint | undefined {
    return this.senders.get(sender)?.epoch;
  }
}

/** Moves every bit `n` places towards higher indexes (older sequence numbers). */
function shiftWindow(bits: Uint32Array, n: number): void {
  if (n >= REPLAY_WINDOW) {
    bits.fill(0);
    return;
  }
  const words = n >>> 5;
  const rem = n & 31;
  for (let i = bits.length - 1; i >= 0; i--) {
    const src = i - words;
    let v = src >= 0 ? bits[src]! << rem : 0;
    if (rem !== 0 && src - 1 >= 0) v |= bits[src - 1]! >>> (32 - rem);
    bits[i] = v >>> 0;
  }
}
