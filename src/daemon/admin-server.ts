// The root-only admin socket: a unix stream socket speaking JSON lines (src/admin/protocol.ts).
// Two walls. First, file permissions: the socket lives in a directory that only the daemon's
// user can enter (0700) and is itself 0600; both are created that way (umask held while
// binding, so there is no window) and checked before listening; a directory that others can
// enter or write is refused, not repaired. Second, every accepted connection's peer is read
// with SO_PEERCRED (PeerCredentials) before a byte of it is parsed, and anyone but root (or
// the daemon's own user, which is root in production) gets one refusal line and is closed.
// The second wall fails closed: a connection whose peer cannot be read is refused too.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { AgentContext } from '../admin/context.js';
import { EXIT_FAILED, EXIT_USAGE } from '../admin/exit-codes.js';
import type { AdminReply, AdminRequest } from '../admin/protocol.js';
import type { AdminCommands } from '../admin/registry.js';
import { VigilError } from '../common/errors.js';
import type { PeerCredential, PeerCredentials } from '../platform/platform.js';
import type { Subsystem } from './agent.js';

/** A request line longer than this is refused and the connection closed. */
export const MAX_REQUEST_BYTES = 1 << 20;

/** A refused peer that does not hang up is cut off after this long, so it cannot hold fds. */
const REFUSED_LINGER_MS = 10_000;

/**
 * The file descriptor under an accepted unix socket. Node keeps it on the private libuv handle;
 * when it is not there (another Node, another handle type) the peer cannot be checked, and the
 * caller must refuse rather than guess.
 */
export function socketFd(sock: net.Socket): number | undefined {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

/** Create (0700) or verify the socket's directory: owned by us, no access for group or others. */
export function prepareSocketDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.statSync(dir);
  const euid = process.geteuid?.() ?? st.uid;
  if (!st.isDirectory() || st.uid !== euid || (st.mode & 0o077) !== 0) {
    throw new VigilError(
      0,
      `admin socket directory ${dir} must be a directory owned by uid ${euid} with mode 0700 ` +
        `(found uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)})`,
      { dir },
    );
  }
}

/** Remove a socket file left by a crashed daemon; refuse if a live daemon answers on it. */
async function clearStaleSocket(socketPath: string): Promise<void> {
  if (!fs.existsSync(socketPath)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new VigilError(0, `another vigild is already serving ${socketPath}`, { socketPath });
  fs.rmSync(socketPath, { force: true });
}

function isRequest(x: unknown): x is AdminRequest {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  return (
    typeof r.id === 'number' &&
    typeof r.command === 'string' &&
    typeof r.options === 'object' &&
    r.options !== null &&
    !Array.isArray(r.options) &&
    Array.isArray(r.args) &&
    r.args.every((a) => typeof a === 'string') &&
    (r.destsys === undefined || typeof r.destsys === 'string')
  );
}

export class AdminServer implements Subsystem {
  readonly name = 'admin-server';
  private server: net.Server | undefined;
  private readonly connections = new Set<net.Socket>();

  /** Root, and the daemon's own user (the socket's owner, so the first wall lets it in too). */
  private readonly allowedUids: ReadonlySet<number>;

  constructor(
    readonly socketPath: string,
    private readonly ctx: AgentContext,
    private readonly log: Logger,
    private readonly peers: PeerCredentials,
    private readonly commands: AdminCommands,
  ) {
    this.allowedUids = new Set([0, process.geteuid?.() ?? 0]);
  }

  async start(): Promise<void> {
    prepareSocketDir(path.dirname(this.socketPath));
    await clearStaleSocket(this.socketPath);
    const server = net.createServer((sock) => this.serve(sock));
    // Bind with a umask that leaves the socket 0600 from its first instant.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(oldMask);
    }
    fs.chmodSync(this.socketPath, 0o600);
    server.on('error', (err) => this.log.error({ err }, 'admin socket error'));
    this.server = server;
    this.log.info({ socket: this.socketPath }, 'admin socket listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.connections) c.destroy();
    await closed;
    fs.rmSync(this.socketPath, { force: true });
  }

  /** Why this connection's peer may not use the socket, or undefined when it may. */
  private refusalOf(sock: net.Socket): string | undefined {
    const fd = socketFd(sock);
    if (fd === undefined) {
      this.log.warn('admin connection refused: its file descriptor is not available, so its peer cannot be checked');
      return 'the admin socket could not identify the connecting process; refused';
    }
    let peer: PeerCredential;
    try {
      peer = this.peers.of(fd);
    } catch (err) {
      this.log.warn({ err, fd }, 'admin connection refused: cannot read its peer credentials');
      return `the admin socket could not identify the connecting process (${(err as Error).message}); refused`;
    }
    if (this.allowedUids.has(peer.uid)) return undefined;
    // Under `peer`: the log line's own `pid` is the daemon's.
    this.log.warn({ peer: { pid: peer.pid, uid: peer.uid, gid: peer.gid } }, 'admin connection refused: peer is not root');
    return `the admin socket is for root only; refused uid ${peer.uid} (pid ${peer.pid})`;
  }

  private serve(sock: net.Socket): void {
    this.connections.add(sock);
    sock.on('close', () => this.connections.delete(sock));
    sock.on('error', (err) => this.log.debug({ err }, 'admin connection error'));
    const refusal = this.refusalOf(sock);
    if (refusal !== undefined) {
      // Nothing the peer sends is read; it gets one reply line and the connection is closed.
      const reply: AdminReply = { id: 0, exitCode: EXIT_FAILED, stdout: '', stderr: `${new VigilError(0, refusal).format()}\n` };
      sock.setTimeout(REFUSED_LINGER_MS, () => sock.destroy());
      sock.end(JSON.stringify(reply) + '\n');
      sock.resume();
      return;
    }
    let buf = '';
    let refused = false;
    const send = (reply: AdminReply) => {
      if (!sock.destroyed) sock.write(JSON.stringify(reply) + '\n');
    };
    const refuse = (message: string) => {
      refused = true;
      buf = '';
      send({ id: 0, exitCode: EXIT_USAGE, stdout: '', stderr: `${message}\n` });
      sock.end();
    };
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      if (refused) return;
      buf += chunk;
      if (buf.length > MAX_REQUEST_BYTES && !buf.includes('\n')) return refuse('request too long');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() === '') continue;
        let req: unknown;
        try {
          req = JSON.parse(line);
        } catch {
          return refuse('malformed request: not JSON');
        }
        if (!isRequest(req)) return refuse('malformed request: expected {id, command, options, args}');
        this.log.info({ command: req.command, destsys: req.destsys }, 'admin command');
        void this.commands.dispatch(req, this.ctx).then(send);
      }
    });
  }
}
