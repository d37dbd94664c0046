// The one place frames are sealed and opened for this node: owns the boot epoch, the Hello
// sequence counters and the Hello replay guard, and counts every refusal by reason. Hellos are
// sealed with the per-boot hello key; every other frame with the keys of the session it belongs
// to (session.ts). Paths hand it raw frames and get back only frames that are authentic, fresh,
// addressed to us and from a peer, or the reason why not (already counted).
import { randomBytes } from 'node:crypto';
import type { ClusterKey } from './cluster-key.js';
import type { ClusterCounters } from './counters.js';
import { FrameType, openFrame, sealFrame, type FrameRejectReason, type OpenedFrame } from './frame-codec.js';
import { ReplayGuard, type ReplayVerdict } from './replay-guard.js';
import type { Session } from './session.js';

export type RefusalReason = FrameRejectReason | Exclude<ReplayVerdict, 'ok'> | 'unknown_sender' | 'bad_session' | 'no_session' | 'rekeyed';

export type GuardResult = { ok: true; frame: OpenedFrame } | { ok: false; reason: RefusalReason };

export class FrameGuard {
  /** This boot's id: random, so a restarted node never reuses a (hello key, nonce) pair. */
  readonly epoch: bigint;
  private readonly nextHelloSeq = new Map<string, bigint>();
  private readonly helloReplay: ReplayGuard;

  constructor(
    readonly localSystem: string,
    private readonly key: ClusterKey,
    private readonly isPeer: (system: string) => boolean,
    private readonly counters: ClusterCounters,
    readonly maxSkewMs: number,
    private readonly wallClock: () => number = Date.now,
  ) {
    this.epoch = randomBytes(8).readBigUInt64BE(0);
    this.helloReplay = new ReplayGuard(maxSkewMs);
  }

  get clusterKey(): ClusterKey {
    return this.key;
  }

  /** Seals a Hello for `receiver` with this boot's hello key. */
  sealHello(receiver: string, payload: Buffer): Buffer {
    const seq = this.nextHelloSeq.get(receiver) ?? 0n;
    this.nextHelloSeq.set(receiver, seq + 1n);
    this.counters.framesOut++;
    return sealFrame(this.key, { type: FrameType.Hello, sender: this.localSystem, receiver, epoch: this.epoch, seq, timestampMs: this.wallClock() }, payload);
  }

  /** Seals a session frame; undefined while the session has no keys yet. */
  seal(session: Session, type: FrameType, payload: Buffer): Buffer | undefined {
    const next = session.nextSend();
    if (!next) return undefined;
    this.counters.framesOut++;
    return sealFrame(next.key, { type, sender: this.localSystem, receiver: session.peer, epoch: this.epoch, seq: next.seq, timestampMs: this.wallClock() }, payload);
  }

  /**
   * Authenticates a frame, checks its freshness and records it. A Hello opens with the sender's
   * hello key; anything else only with the keys of `session` (the transport it came on).
   */
  open(buf: Buffer, maxPayload: number, session: Session | undefined): GuardResult {
    const isHello = buf.length > 3 && buf[3] === FrameType.Hello;
    let key: ClusterKey | Buffer = this.key;
    if (!isHello) {
      const k = session?.recvKey();
      if (!k) return this.refuse('no_session');
      key = k;
    }
    const r = openFrame(key, buf, this.localSystem, maxPayload);
    if (!r.ok && r.reason === 'bad_tag' && !isHello) {
      // Authentic under the keys just replaced: in flight when the peer re-keyed, not an attack.
      const previous = session!.previousRecvKey();
      return this.refuse(previous && openFrame(previous, buf, this.localSystem, maxPayload).ok ? 'rekeyed' : 'bad_session');
    }
    if (!r.ok) return this.refuse(r.reason);
    const h = r.frame.header;
    if (!this.isPeer(h.sender)) return this.refuse('unknown_sender');
    if (!isHello && h.sender !== session!.peer) return this.refuse('bad_session');
    const now = this.wallClock();
    const verdict = isHello ? this.helloReplay.accept(h.sender, h.epoch, h.seq, h.timestampMs, now) : session!.accept(h.epoch, h.seq, h.timestampMs, now);
    if (verdict !== 'ok') return this.refuse(verdict);
    if (!isHello) session!.confirmed = true;
    this.counters.framesIn++;
    return { ok: true, frame: r.frame };
  }

  private refuse(reason: RefusalReason): GuardResult {
    if (reason === 'replay') this.counters.replays++;
    else if (reason === 'unknown_sender' || reason === 'bad_session') this.counters.authFailure(reason);
    else this.counters.refuse(reason);
    return { ok: false, reason };
  }
}
