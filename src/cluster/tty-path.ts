// A serial comm path (a null-modem cable, or a socat pty pair in tests). It carries heartbeats
// and small control messages only (TTY_MAX_PAYLOAD), framed for a lossy byte stream
// (stream-framing.ts: COBS + CRC-32, resynchronising after garbage), over TtyLine (direct,
// non-blocking I/O on the event loop). Every opening of the line is a new session
// (session.ts): both sides announce a fresh nonce in a Hello, repeated each heartbeat interval
// until a frame under the session keys confirms the session, and answered at once when a Hello
// does not echo our current nonce. When the device goes away (unplugged, socat gone) it is
// reopened with backoff.
import type { CommPathLink, PathContext, TtyPathConfig } from './comm-path.js';
import { backoffMs, pathIdOf } from './comm-path.js';
import { FIXED_HEADER_BYTES, FrameType, MAX_NAME_BYTES, TAG_BYTES, type OpenedFrame } from './frame-codec.js';
import { parseHello, Session } from './session.js';
import { TtyFrameReader, ttyWrap } from './stream-framing.js';
import { TtyLine } from './tty-line.js';

/** Payload limit on serial lines: heartbeats and small control messages. */
export const TTY_MAX_PAYLOAD = 256;
const TTY_MAX_FRAME = FIXED_HEADER_BYTES + 2 * MAX_NAME_BYTES + TTY_MAX_PAYLOAD + TAG_BYTES;
/** Bytes allowed to wait for the line; at 9600 baud this is about two seconds of traffic. */
const SEND_BACKLOG_BYTES = 2048;
/** Session frames that fail in a row before we re-announce our nonce (the peer may hold an old one). */
const RESYNC_AFTER_FAILURES = 3;

export class TtyPath implements CommPathLink {
  readonly id: string;
  readonly kind = 'TTY' as const;
  readonly peer: string;
  readonly priority: number;
  readonly maxPayload = TTY_MAX_PAYLOAD;
  private line: TtyLine | undefined;
  private session: Session | undefined;
  private stopped = true;
  private opening = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  private lastHelloMs = -Infinity;
  private failuresInRow = 0;
  private readonly source: string;

  constructor(readonly config: TtyPathConfig, private readonly ctx: PathContext) {
    this.id = pathIdOf(config);
    this.peer = config.otherSystem;
    this.priority = config.priority;
    this.source = `tty ${config.device}`;
  }

  start(): void {
    this.stopped = false;
    this.openLine();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.helloTimer);
    const line = this.line;
    this.line = undefined;
    this.session = undefined;
    await line?.close();
  }

  connected(): boolean {
    return this.line !== undefined && this.session?.ready() === true;
  }

  send(type: FrameType, payload: Buffer): boolean {
    const line = this.line;
    const session = this.session;
    if (!line || !session?.ready()) return false;
    if (payload.length > TTY_MAX_PAYLOAD) throw new RangeError(`a TTY comm path carries at most ${TTY_MAX_PAYLOAD} payload bytes`);
    if (line.queuedBytes() > SEND_BACKLOG_BYTES) {
      this.ctx.counters.drop('backlog');
      return false;
    }
    const frame = this.ctx.guard.seal(session, type, payload);
    if (!frame) return false;
    line.write(ttyWrap(frame));
    return true;
  }

  /** A dead line starts a new session: fresh nonce, announced at once. */
  reset(): void {
    if (!this.line) return;
    this.newSession();
  }

  private newSession(): void {
    // The peer's frames of the session dropped here still arrive for a moment: 'rekeyed', not forged.
    this.session = new Session(this.ctx.guard.clusterKey, this.ctx.localSystem, this.peer, this.ctx.maxSkewMs).follows(this.session);
    this.failuresInRow = 0;
    this.sendHello(true);
  }

  /** Announces our nonce; `force` skips the pace limit that keeps a Hello flood from echoing back as one. */
  private sendHello(force = false): void {
    const line = this.line;
    const session = this.session;
    if (!line || !session) return;
    const now = performance.now();
    if (!force && now - this.lastHelloMs < Math.min(100, this.ctx.heartbeatIntervalMs / 2)) return;
    this.lastHelloMs = now;
    line.write(ttyWrap(this.ctx.guard.sealHello(this.peer, session.hello())));
  }

  private openLine(): void {
    if (this.stopped || this.opening) return;
    this.opening = true;
    const reader = new TtyFrameReader(TTY_MAX_FRAME);
    let line: TtyLine | undefined;
    const onData = (chunk: Buffer): void => {
      if (this.line !== line) return;
      const { frames, rejects } = reader.push(chunk);
      for (const r of rejects) this.ctx.counters.refuse(r);
      for (const f of frames) this.onRaw(f);
    };
    TtyLine.open(this.config.device, this.config.baud, onData, () => this.lost(line)).then(
      (l) => {
        this.opening = false;
        line = l;
        if (this.stopped) {
          void l.close();
          return;
        }
        this.attempt = 0;
        this.line = l;
        this.ctx.log('info', 'serial comm path opened', { path: this.id, device: this.config.device, baud: this.config.baud });
        this.newSession();
        clearInterval(this.helloTimer);
        this.helloTimer = setInterval(() => {
          if (this.session && !this.session.confirmed) this.sendHello(true);
        }, this.ctx.heartbeatIntervalMs);
      },
      () => {
        this.opening = false;
        this.retry();
      },
    );
  }

  private onRaw(f: Buffer): void {
    const session = this.session;
    const wasConfirmed = session?.confirmed === true;
    const r = this.ctx.guard.open(f, TTY_MAX_PAYLOAD, session);
    if (!r.ok) {
      const sessionMismatch = r.reason === 'bad_session' || r.reason === 'no_session' || r.reason === 'rekeyed';
      // Counted always; reported unless it is a frame of keys just replaced ('rekeyed': it opens
      // under the peer's previous nonce or the session this side dropped). No time window: a
      // replayed old Hello re-keys the line too, and must not hide the replayed frames after it.
      if (r.reason !== 'rekeyed') this.ctx.failed(this, this.source, r.reason);
      if (sessionMismatch) {
        if (++this.failuresInRow >= RESYNC_AFTER_FAILURES) this.sendHello();
      }
      return;
    }
    const opened = r.frame;
    if (opened.header.sender !== this.peer) {
      this.ctx.counters.authFailure('path_mismatch');
      this.ctx.failed(this, this.source, 'path_mismatch');
      return;
    }
    if (opened.header.type === FrameType.Hello) {
      this.onHello(opened);
      return;
    }
    this.failuresInRow = 0;
    if (!wasConfirmed) {
      this.ctx.log('info', 'comm path session established', { path: this.id });
    }
    this.ctx.onFrame(this, opened);
  }

  private onHello(frame: OpenedFrame): void {
    const session = this.session;
    const body = parseHello(frame.payload);
    if (!session || !body) {
      this.ctx.counters.drop('unexpected');
      return;
    }
    const changed = session.takeHello(body) === 'new';
    if (!session.echoesUs(body)) this.sendHello(changed);
    else if (changed) this.ctx.sessionReady(this);
  }

  private lost(line: TtyLine | undefined): void {
    if (!line || this.line !== line) return;
    this.line = undefined;
    this.session = undefined;
    clearInterval(this.helloTimer);
    void line.close();
    this.retry();
  }

  private retry(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.openLine(), backoffMs(this.attempt++, this.ctx.retryMinMs, this.ctx.retryMaxMs));
  }
}
