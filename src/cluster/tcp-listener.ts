// Accepts TCP comm-path connections on one configured local address (never the wildcard unless
// that is what the LCD says). A connection must authenticate with a Hello that names one of our
// paths from its peer's side within a time limit; anything else is counted and closed. The
// number of not-yet-authenticated connections is bounded so a flood cannot exhaust the agent.
import { createServer, type Server, type Socket } from 'node:net';
import type { ClusterCounters } from './counters.js';
import type { FrameGuard } from './frame-guard.js';
import { FrameType } from './frame-codec.js';
import { TcpFrameReader } from './stream-framing.js';
import type { HelloPayload, TcpPath } from './tcp-path.js';

const MAX_PENDING = 64;
/** Frames before authentication are small; a Hello is well under this. */
const MAX_HELLO_PAYLOAD = 1024;

/** Strips the IPv4-mapped prefix so addresses compare as configured. */
function plainAddress(a: string | undefined): string {
  return (a ?? '').replace(/^::ffff:/, '');
}

export class TcpListener {
  private server: Server | undefined;
  private readonly pending = new Set<Socket>();

  constructor(
    readonly address: string,
    readonly port: number,
    private readonly guard: FrameGuard,
    private readonly counters: ClusterCounters,
    private readonly findPath: (peer: string, local: string, remote: string) => TcpPath | undefined,
    private readonly helloTimeoutMs: number,
  ) {}

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((s) => this.accept(s));
      server.once('error', reject);
      server.listen({ host: this.address, port: this.port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        this.server = server;
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    for (const s of this.pending) s.destroy();
    this.pending.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private reject(socket: Socket): void {
    this.counters.connectionsRejected++;
    this.pending.delete(socket);
    socket.destroy();
  }

  private accept(socket: Socket): void {
    if (this.pending.size >= MAX_PENDING) {
      this.reject(socket);
      return;
    }
    this.pending.add(socket);
    const reader = new TcpFrameReader(MAX_HELLO_PAYLOAD);
    const timer = setTimeout(() => {
      this.counters.authFailure('hello_timeout');
      this.reject(socket);
    }, this.helloTimeoutMs);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      this.pending.delete(socket);
    });
    const onData = (chunk: Buffer): void => {
      const { frames, fatal } = reader.push(chunk, 1);
      if (frames.length === 0) {
        if (fatal) {
          this.counters.refuse(fatal);
          clearTimeout(timer);
          this.reject(socket);
        }
        return;
      }
      clearTimeout(timer);
      socket.off('data', onData);
      const opened = this.guard.open(frames[0]!, MAX_HELLO_PAYLOAD);
      if (!opened) {
        this.reject(socket);
        return;
      }
      if (opened.header.type !== FrameType.Hello) {
        this.counters.drop('unexpected');
        this.reject(socket);
        return;
      }
      let hello: HelloPayload;
      try {
        hello = JSON.parse(opened.payload.toString('utf8')) as HelloPayload;
      } catch {
        this.counters.drop('unexpected');
        this.reject(socket);
        return;
      }
      const path = this.findPath(opened.header.sender, String(hello.to), String(hello.from));
      const fromAddress = plainAddress(socket.remoteAddress);
      if (!path || hello.port !== this.port || fromAddress !== hello.from || plainAddress(socket.localAddress) !== hello.to) {
        this.counters.authFailure('path_mismatch');
        this.reject(socket);
        return;
      }
      this.pending.delete(socket);
      // Bytes that arrived right behind the Hello belong to the path: hand them over through a
      // fresh reader with the path's own size limit.
      const rest = reader.takeRest();
      path.adopt(socket, new TcpFrameReader(path.maxPayload));
      if (rest.length > 0) socket.emit('data', rest);
    };
    socket.on('data', onData);
  }
}
