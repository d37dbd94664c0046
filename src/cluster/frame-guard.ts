// The one place frames are sealed and opened for this node: owns the boot epoch, the per-peer
// sequence counters and the replay guard, and counts every refusal by reason. Paths hand it raw
// frames and get back only frames that are authentic, fresh, addressed to us and from a peer.
import { randomBytes } from 'node:crypto';
import type { ClusterKey } from './cluster-key.js';
import type { ClusterCounters } from './counters.js';
import { openFrame, sealFrame, type FrameType, type OpenedFrame } from './frame-codec.js';
import { ReplayGuard } from './replay-guard.js';

export class FrameGuard {
  /** This boot's id: random, so a restarted node never reuses a (key, nonce) pair. */
  readonly epoch: bigint;
  private readonly nextSeq = new Map<string, bigint>();
  private readonly replay: ReplayGuard;

  constructor(
    readonly localSystem: string,
    private readonly key: ClusterKey,
    private readonly isPeer: (system: string) => boolean,
    private readonly counters: ClusterCounters,
    maxSkewMs: number,
    private readonly wallClock: () => number = Date.now,
  ) {
    this.epoch = randomBytes(8).readBigUInt64BE(0);
    this.replay = new ReplayGuard(maxSkewMs);
  }

  seal(type: FrameType, receiver: string, payload: Buffer): Buffer {
    const seq = this.nextSeq.get(receiver) ?? 0n;
    this.nextSeq.set(receiver, seq + 1n);
    this.counters.framesOut++;
    return sealFrame(this.key, { type, sender: this.localSystem, receiver, epoch: this.epoch, seq, timestampMs: this.wallClock() }, payload);
  }

  /** Authenticates, checks freshness, and records a frame; undefined (and counted) when refused. */
  open(buf: Buffer, maxPayload: number): OpenedFrame | undefined {
    const r = openFrame(this.key, buf, this.localSystem, maxPayload);
    if (!r.ok) {
      this.counters.refuse(r.reason);
      return undefined;
    }
    const h = r.frame.header;
    if (!this.isPeer(h.sender)) {
      this.counters.authFailure('unknown_sender');
      return undefined;
    }
    const verdict = this.replay.accept(h.sender, h.epoch, h.seq, h.timestampMs, this.wallClock());
    if (verdict === 'replay') {
      this.counters.replays++;
      return undefined;
    }
    if (verdict !== 'ok') {
      this.counters.drop(verdict);
      return undefined;
    }
    this.counters.framesIn++;
    return r.frame;
  }
}
