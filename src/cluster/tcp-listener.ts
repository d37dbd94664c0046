// Accepts TCP comm-path connections on one configured local address (never the wildcard unless
// that is what the LCD says). A connection whose source is not the remote address of one of our
// paths is closed at accept. The others must complete the session handshake (session.ts) within
// a time limit: an authentic Hello naming one of our paths from its peer's side, our Hello back,
// then a first frame under the session keys; only then is the connection handed to its path.
// Connections still in the handshake are budgeted per source address, and when an address is
// over its budget its oldest unfinished connection is closed to make room, never the newest: a
// peer's own reconnect is not starved by idle connections, whoever holds them.
import { createServer, type Server, type Socket } from 'node:net';
import type { ClusterCounters } from './counters.js';
import type { FrameGuard } from './frame-guard.js';
import { FrameType } from './frame-codec.js';
import { parseHello, Session } from './session.js';
import { TcpFrameReader } from './stream-framing.js';
import type { TcpPath } from './tcp-path.js';

/** Unfinished handshakes per source address; the oldest is evicted beyond this. */
export const PENDING_PER_ADDRESS = 8;
/** Frames before authentication are small; a Hello is well under this. */
const MAX_HELLO_PAYLOAD = 1024;

/** Strips the IPv4-mapped prefix so addresses compare as configured. */
function plainAddress(a: string | undefined): string {
  return (a ?? '').replace(/^::ffff:/, '');
}

export interface ListenerHooks {
  /** The accepting path for a Hello from `peer` naming (our address, its address). */
  findPath(peer: string, local: string, remote: string): TcpPath | undefined;
  /** Whether `remote` is the remote address of a path that accepts on this listener. */
  isConfiguredRemote(remote: string): boolean;
  /** A refusal worth reporting, with the source address and the local address it came to. */
  failed(remote: string, reason: string): void;
}

interface Pending {
  socket: Socket;
  /** An authentic Hello arrived: evicted only after the connections that never said anything. */
  helloSeen: boolean;
}

export class TcpListener {
  private server: Server | undefined;
  /** Unfinished handshakes by source address, oldest first. */
  private readonly pending = new Map<string, Pending[]>();

  constructor(
    readonly address: string,
    readonly port: number,
    private readonly guard: FrameGuard,
    private readonly counters: ClusterCounters,
    private readonly hooks: ListenerHooks,
    private readonly helloTimeoutMs: number,
  ) {}

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((s) => this.accept(s));
      server.once('error', reject);
      server.listen({ host: this.address, port: this.port, exclusive: true, backlog: 4096 }, () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        this.server = server;
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    for (const list of this.pending.values()) for (const p of list) p.socket.destroy();
    this.pending.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** Unfinished handshakes held now (all addresses). */
  pendingCount(): number {
    let n = 0;
    for (const list of this.pending.values()) n += list.length;
    return n;
  }

  private forget(from: string, socket: Socket): void {
    const list = this.pending.get(from);
    if (!list) return;
    const i = list.findIndex((p) => p.socket === socket);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.pending.delete(from);
  }

  private reject(from: string, socket: Socket): void {
    this.counters.connectionsRejected++;
    this.forget(from, socket);
    socket.destroy();
  }

  private accept(socket: Socket): void {
    const from = plainAddress(socket.remoteAddress);
    socket.on('error', () => undefined);
    if (!this.hooks.isConfiguredRemote(from)) {
      this.counters.connectionsFromUnknownAddress++;
      this.counters.authFailure('unknown_address');
      this.hooks.failed(from, 'unknown_address');
      socket.destroy();
      return;
    }
    let list = this.pending.get(from);
    if (!list) {
      list = [];
      this.pending.set(from, list);
    }
    if (list.length >= PENDING_PER_ADDRESS) {
      const victim = list.find((p) => !p.helloSeen) ?? list[0]!;
      this.counters.pendingEvicted++;
      this.counters.drop('evicted');
      this.reject(from, victim.socket);
    }
    const entry: Pending = { socket, helloSeen: false };
    list.push(entry);
    socket.setNoDelay(true);
    const reader = new TcpFrameReader(MAX_HELLO_PAYLOAD);
    let session: Session | undefined;
    let path: TcpPath | undefined;
    const timer = setTimeout(() => {
      this.counters.authFailure('hello_timeout');
      if (entry.helloSeen) this.hooks.failed(from, 'hello_timeout');
      this.reject(from, socket);
    }, this.helloTimeoutMs);
    socket.on('close', () => {
      clearTimeout(timer);
      this.forget(from, socket);
    });
    const fail = (reason: string | undefined): void => {
      clearTimeout(timer);
      if (reason) this.hooks.failed(from, reason);
      this.reject(from, socket);
    };
    const onData = (chunk: Buffer): void => {
      const { frames, fatal } = reader.push(chunk, 1);
      if (frames.length === 0) {
        if (fatal) {
          this.counters.refuse(fatal);
          fail(undefined);
        }
        return;
      }
      const r = this.guard.open(frames[0]!, MAX_HELLO_PAYLOAD, session);
      if (!r.ok) {
        fail(r.reason);
        return;
      }
      const frame = r.frame;
      if (!session) {
        // First frame: the dialer's Hello, naming this path from its side.
        const hello = frame.header.type === FrameType.Hello ? parseHello(frame.payload) : undefined;
        if (!hello) {
          this.counters.drop('unexpected');
          fail(undefined);
          return;
        }
        path = this.hooks.findPath(frame.header.sender, String(hello.to), String(hello.from));
        if (!path || hello.port !== this.port || from !== hello.from || plainAddress(socket.localAddress) !== hello.to) {
          this.counters.authFailure('path_mismatch');
          fail('path_mismatch');
          return;
        }
        entry.helloSeen = true;
        session = new Session(this.guard.clusterKey, this.guard.localSystem, frame.header.sender, this.guard.maxSkewMs);
        session.takeHello(hello);
        socket.write(this.guard.sealHello(frame.header.sender, session.hello()));
        // More may already be buffered behind the Hello.
        if (reader.hasMore()) onData(Buffer.alloc(0));
        return;
      }
      if (frame.header.type === FrameType.Hello) {
        this.counters.drop('unexpected');
        fail(undefined);
        return;
      }
      // The first frame under the session keys: the dialer knows our fresh nonce, so this is no
      // replay. The connection belongs to the path from here on.
      clearTimeout(timer);
      socket.off('data', onData);
      this.forget(from, socket);
      const rest = reader.takeRest();
      const pathReader = new TcpFrameReader(path!.maxPayload);
      path!.adopt(socket, pathReader, session, frame);
      if (rest.length > 0) socket.emit('data', rest);
    };
    socket.on('data', onData);
  }
}
