// One session of a comm path: a TCP connection, or one opening of a serial line. Each side picks
// a fresh random nonce for the session and tells it in a Hello (sealed with its per-boot hello
// key, echoing the other side's nonce once known). A side that knows both nonces derives the two
// session keys (one per direction) from the cluster secret and both nonces, and seals everything
// but Hellos with them. A Hello only announces a nonce, so replaying one achieves nothing:
// liveness and messages count only frames that open under the session keys, and no one could
// have sealed those before both of this session's nonces existed.
import { randomBytes } from 'node:crypto';
import { SESSION_NONCE_BYTES, type ClusterKey } from './cluster-key.js';
import { ReplayGuard, type ReplayVerdict } from './replay-guard.js';

/** The payload of a Hello frame (JSON; small enough for a serial line). */
export interface HelloBody {
  /** The sender's nonce for this session, hex. */
  n: string;
  /** The receiver's nonce as the sender last heard it, hex ('' while unknown). */
  e: string;
  /** TCP only: the path's local and remote address from the sender's side, and the port. */
  from?: string;
  to?: string;
  port?: number;
}

const NONCE_HEX = new RegExp(`^[0-9a-f]{${SESSION_NONCE_BYTES * 2}}$`);

/** Parses a Hello payload; undefined when it is not one. */
export function parseHello(payload: Buffer): HelloBody | undefined {
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b.n !== 'string' || !NONCE_HEX.test(b.n)) return undefined;
  if (typeof b.e !== 'string' || (b.e !== '' && !NONCE_HEX.test(b.e))) return undefined;
  return b as unknown as HelloBody;
}

export class Session {
  readonly localNonce = randomBytes(SESSION_NONCE_BYTES);
  private peerNonce: Buffer | undefined;
  private keys: { send: Buffer; recv: Buffer } | undefined;
  /** The receive key a new peer nonce replaced: frames the peer sealed before it saw our Hello. */
  private previousRecv: Buffer | undefined;
  private seq = 0n;
  private replay: ReplayGuard;
  /** A frame sealed with this session's keys arrived from the peer: it knows our nonce. */
  confirmed = false;

  constructor(
    private readonly clusterKey: ClusterKey,
    readonly localSystem: string,
    readonly peer: string,
    private readonly maxSkewMs: number,
  ) {
    this.replay = new ReplayGuard(maxSkewMs);
  }

  /**
   * This session replaces `dropped` on the same line: the peer's frames under the dropped
   * session's keys, still in flight, are told apart from forged ones until the next re-key.
   */
  follows(dropped: Session | undefined): this {
    this.previousRecv = dropped?.recvKey();
    return this;
  }

  /** Our Hello for this session; `extra` carries the TCP path's addresses. */
  hello(extra: Pick<HelloBody, 'from' | 'to' | 'port'> = {}): Buffer {
    const body: HelloBody = { n: this.localNonce.toString('hex'), e: this.peerNonce?.toString('hex') ?? '', ...extra };
    return Buffer.from(JSON.stringify(body));
  }

  /**
   * Takes an authentic Hello of the peer. 'new' when it announced a nonce we did not have (the
   * keys are derived anew and the session is unconfirmed until a frame under them arrives),
   * 'same' when it repeated the one we have.
   */
  takeHello(body: HelloBody): 'new' | 'same' {
    const n = Buffer.from(body.n, 'hex');
    if (this.peerNonce?.equals(n)) return 'same';
    this.peerNonce = n;
    // Before the first Hello the previous key is the dropped session's (see follows()).
    if (this.keys) this.previousRecv = this.keys.recv;
    this.keys = {
      send: this.clusterKey.sessionKey(this.localSystem, this.peer, this.localNonce, n),
      recv: this.clusterKey.sessionKey(this.peer, this.localSystem, n, this.localNonce),
    };
    this.seq = 0n;
    this.replay = new ReplayGuard(this.maxSkewMs);
    this.confirmed = false;
    return 'new';
  }

  /** Whether a Hello of the peer names our current nonce (so it can seal for this session). */
  echoesUs(body: HelloBody): boolean {
    return body.e === this.localNonce.toString('hex');
  }

  /** True once both nonces are known and frames can be sealed and opened. */
  ready(): boolean {
    return this.keys !== undefined;
  }

  /** The key and sequence number for the next outgoing frame (undefined before ready()). */
  nextSend(): { key: Buffer; seq: bigint } | undefined {
    if (!this.keys) return undefined;
    return { key: this.keys.send, seq: this.seq++ };
  }

  recvKey(): Buffer | undefined {
    return this.keys?.recv;
  }

  /** The receive key before the last re-key, to tell frames still in flight from forged ones. */
  previousRecvKey(): Buffer | undefined {
    return this.previousRecv;
  }

  /** Freshness of an authentic incoming frame within this session. */
  accept(epoch: bigint, seq: bigint, timestampMs: number, nowMs: number): ReplayVerdict {
    return this.replay.accept(this.peer, epoch, seq, timestampMs, nowMs);
  }
}
