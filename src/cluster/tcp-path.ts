// One TCP comm path: a single connection between a local and a remote address. The system whose
// name sorts first dials (binding the path's local address) and redials with backoff; the other
// side only accepts, through TcpListener, which hands over the connection once its first frame
// (a Hello naming this path) has authenticated. A newer authenticated connection replaces an
// older one, so there is at most one connection per path.
import { connect, type Socket } from 'node:net';
import type { CommPathLink, PathContext, TcpPathConfig } from './comm-path.js';
import { backoffMs, pathIdOf } from './comm-path.js';
import { FrameType } from './frame-codec.js';
import { TcpFrameReader } from './stream-framing.js';

export const TCP_MAX_PAYLOAD = 1 << 20;
/** Outgoing bytes allowed to wait in the socket before frames are refused (a stalled link). */
const SEND_BACKLOG_BYTES = 256 * 1024;

export interface HelloPayload {
  /** The sender's local address of the path, the sender's remote address, and the port. */
  from: string;
  to: string;
  port: number;
}

export class TcpPath implements CommPathLink {
  readonly id: string;
  readonly kind = 'TCP' as const;
  readonly peer: string;
  readonly priority: number;
  readonly maxPayload = TCP_MAX_PAYLOAD;
  /** Whether this side dials (see the file header). */
  readonly dials: boolean;
  private socket: Socket | undefined;
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
  }

  connected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed && !this.socket.connecting;
  }

  send(type: FrameType, payload: Buffer): boolean {
    const s = this.socket;
    if (!s || s.destroyed || s.connecting) return false;
    if (s.writableLength > SEND_BACKLOG_BYTES) {
      this.ctx.counters.drop('backlog');
      return false;
    }
    s.write(this.ctx.guard.seal(type, this.peer, payload));
    return true;
  }

  reset(): void {
    if (this.socket) {
      this.ctx.log('info', 'dropping connection of dead comm path', { path: this.id });
      this.socket.destroy();
    }
  }

  /** Takes over an accepted connection whose Hello authenticated for this path. */
  adopt(socket: Socket, reader: TcpFrameReader): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const old = this.socket;
    this.socket = undefined;
    old?.destroy();
    this.attach(socket, reader);
  }

  private dial(): void {
    if (this.stopped) return;
    const { remoteAddress, localAddress, port } = this.config;
    const socket = connect({ host: remoteAddress, port, localAddress });
    socket.setNoDelay(true);
    const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), this.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      const hello: HelloPayload = { from: localAddress, to: remoteAddress, port };
      socket.write(this.ctx.guard.seal(FrameType.Hello, this.peer, Buffer.from(JSON.stringify(hello))));
    });
    socket.once('close', () => clearTimeout(timer));
    this.attach(socket, new TcpFrameReader(this.maxPayload));
  }

  private attach(socket: Socket, reader: TcpFrameReader): void {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      const { frames, fatal } = reader.push(chunk);
      for (const f of frames) {
        const opened = this.ctx.guard.open(f, this.maxPayload);
        if (!opened) continue;
        if (opened.header.sender !== this.peer) {
          this.ctx.counters.authFailure('path_mismatch');
          continue;
        }
        // Backoff restarts only once the peer proved itself: a peer that accepts and then
        // refuses us (another key) is retried at the slow pace, not hammered.
        this.attempt = 0;
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
      if (this.socket === socket) this.socket = undefined;
      if (this.dials && !this.stopped && this.socket === undefined) this.scheduleRedial();
    });
  }

  private scheduleRedial(): void {
    clearTimeout(this.retryTimer);
    const wait = backoffMs(this.attempt++, this.ctx.retryMinMs, this.ctx.retryMaxMs);
    this.retryTimer = setTimeout(() => this.dial(), wait);
  }
}
