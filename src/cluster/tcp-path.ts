// One TCP comm path: a single connection between a local and a remote address. The system whose
// name sorts first dials (binding the path's local address) and redials with backoff; the other
// side only accepts, through TcpListener. Every connection is one session (session.ts): the
// dialer sends a Hello with its fresh nonce, the acceptor answers with its own nonce echoing the
// dialer's, both derive the session keys, and the acceptor hands the connection to the path only
// once the first frame under those keys arrived. A newer confirmed connection replaces an older
// one, so there is at most one connection per path.
import { connect, type Socket } from 'node:net';
import type { CommPathLink, PathContext, TcpPathConfig } from './comm-path.js';
import { backoffMs, pathIdOf } from './comm-path.js';
import { FrameType, type OpenedFrame } from './frame-codec.js';
import { parseHello, Session } from './session.js';
import { TcpFrameReader } from './stream-framing.js';

export const TCP_MAX_PAYLOAD = 1 << 20;
/** Outgoing bytes allowed to wait in the socket before frames are refused (a stalled link). */
const SEND_BACKLOG_BYTES = 256 * 1024;

export class TcpPath implements CommPathLink {
  readonly id: string;
  readonly kind = 'TCP' as const;
  readonly peer: string;
  readonly priority: number;
  readonly maxPayload = TCP_MAX_PAYLOAD;
  /** Whether this side dials (see the file header). */
  readonly dials: boolean;
  private socket: Socket | undefined;
  private session: Session | undefined;
  private stopped = true;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(readonly config: TcpPathConfig, private readonly ctx: PathContext, private readonly connectTimeoutMs: number) {
    this.id = pathIdOf(config);
    this.peer = config.otherSystem;
    this.priority = config.priority;
    this.dials = ctx.localSystem < config.otherSystem;
  }

  start(): void {
    this.stopped = false;
    if (this.dials) this.dial();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.destroy();
    this.socket = undefined;
    this.session = undefined;
  }

  connected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed && !this.socket.connecting && this.session?.ready() === true;
  }

  send(type: FrameType, payload: Buffer): boolean {
    const s = this.socket;
    const session = this.session;
    if (!s || s.destroyed || s.connecting || !session?.ready()) return false;
    if (s.writableLength > SEND_BACKLOG_BYTES) {
      this.ctx.counters.drop('backlog');
      return false;
    }
    const frame = this.ctx.guard.seal(session, type, payload);
    if (!frame) return false;
    s.write(frame);
    return true;
  }

  reset(): void {
    if (this.socket) {
      this.ctx.log('info', 'dropping connection of dead comm path', { path: this.id });
      this.socket.destroy();
    }
  }

  /**
   * Takes over an accepted connection whose handshake completed for this path: `session` has
   * its keys and `first` is the session frame that confirmed it.
   */
  adopt(socket: Socket, reader: TcpFrameReader, session: Session, first: OpenedFrame): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const old = this.socket;
    this.socket = undefined;
    old?.destroy();
    this.attach(socket, reader, session);
    this.ctx.log('info', 'comm path session established', { path: this.id });
    this.ctx.onFrame(this, first);
  }

  private dial(): void {
    if (this.stopped) return;
    const { remoteAddress, localAddress, port } = this.config;
    const socket = connect({ host: remoteAddress, port, localAddress });
    socket.setNoDelay(true);
    const session = new Session(this.ctx.guard.clusterKey, this.ctx.localSystem, this.peer, this.ctx.maxSkewMs);
    const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), this.connectTimeoutMs);
    socket.once('connect', () => {
      socket.write(this.ctx.guard.sealHello(this.peer, session.hello({ from: localAddress, to: remoteAddress, port })));
    });
    socket.once('close', () => {
      clearTimeout(timer);
      // Connected, then closed by the peer before our session was confirmed: it did not accept
      // our Hello (most often another cluster key on its side).
      if (!socket.connecting && !session.confirmed && !this.stopped && socket.bytesRead === 0 && socket.bytesWritten > 0) {
        this.ctx.failed(this, `tcp ${remoteAddress}:${port}`, 'handshake_refused');
      }
    });
    this.attach(socket, new TcpFrameReader(this.maxPayload), session, timer);
  }

  private attach(socket: Socket, reader: TcpFrameReader, session: Session, handshakeTimer?: NodeJS.Timeout): void {
    this.socket = socket;
    this.session = session;
    const source = `tcp ${this.config.remoteAddress}:${this.config.port}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      const { frames, fatal } = reader.push(chunk);
      for (const f of frames) {
        const r = this.ctx.guard.open(f, this.maxPayload, session);
        if (!r.ok) {
          this.ctx.failed(this, source, r.reason);
          continue;
        }
        const opened = r.frame;
        if (opened.header.sender !== this.peer) {
          this.ctx.counters.authFailure('path_mismatch');
          this.ctx.failed(this, source, 'path_mismatch');
          continue;
        }
        if (opened.header.type === FrameType.Hello) {
          this.onHello(socket, session, opened, source);
          continue;
        }
        // Backoff restarts only once the peer proved itself in this session: a peer that
        // accepts and then refuses us (another key) is retried at the slow pace, not hammered.
        if (this.attempt !== 0 || handshakeTimer) {
          this.attempt = 0;
          clearTimeout(handshakeTimer);
          handshakeTimer = undefined;
          this.ctx.log('info', 'comm path session established', { path: this.id });
        }
        this.ctx.onFrame(this, opened);
      }
      if (fatal) {
        this.ctx.counters.refuse(fatal);
        socket.destroy();
      }
    });
    socket.on('error', () => {
      // 'close' follows; errors of a comm path are expected (peer down, link cut).
    });
    socket.on('close', () => {
      if (this.socket === socket) {
        this.socket = undefined;
        this.session = undefined;
      }
      if (this.dials && !this.stopped && this.socket === undefined) this.scheduleRedial();
    });
  }

  /** The acceptor's answer to our Hello: it must echo the nonce of this connection. */
  private onHello(socket: Socket, session: Session, frame: OpenedFrame, source: string): void {
    const body = parseHello(frame.payload);
    if (!this.dials || !body || session.ready()) {
      this.ctx.counters.drop('unexpected');
      return;
    }
    if (!session.echoesUs(body)) {
      // An answer to another connection's Hello: recorded earlier and replayed.
      this.ctx.counters.authFailure('bad_session');
      this.ctx.failed(this, source, 'bad_session');
      socket.destroy();
      return;
    }
    session.takeHello(body);
    this.ctx.sessionReady(this);
  }

  private scheduleRedial(): void {
    clearTimeout(this.retryTimer);
    const wait = backoffMs(this.attempt++, this.ctx.retryMinMs, this.ctx.retryMaxMs);
    this.retryTimer = setTimeout(() => this.dial(), wait);
  }
}
