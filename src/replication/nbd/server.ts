// Vigil's NBD server: the backup side of a NetRAID mirror, run inside vigild. It listens on
// one given address (the replication address; a wildcard address is refused) and exports, per
// mirror, the backup's partition (or a file) to that mirror's current primary only.
//
// Fencing at the replica. A client must present the export name
//   <mirror>:<generation>:<primary system>:<token>
// (export-token.ts: HMAC under a key derived from the cluster key). The server holds, per
// mirror, the current generation and primary (set by the mirror lifecycle when the hierarchy
// moves); a name for any other generation or system, or with a token that does not verify, is
// refused with NBD_REP_ERR_POLICY (NBD_REP_ERR_UNKNOWN for an unknown mirror) in reply to
// NBD_OPT_GO/INFO, or by closing the connection after NBD_OPT_EXPORT_NAME, and counted by
// reason. When a mirror moves to a new epoch, connections admitted under the old one are cut
// at once, so a primary that was failed over and comes back stale can neither reconnect nor
// keep writing over an old connection. Because the token travels in the export name, the
// handshake is plain NBD: the kernel client (nbd-client -N), qemu and libnbd all work.
//
// Protocol: fixed newstyle handshake (server-negotiation.ts), simple replies, READ, WRITE,
// FLUSH, TRIM, WRITE_ZEROES and DISC with FUA honoured (transmission.ts, export-file.ts), or,
// given the platform's data path, the same on native threads (native-transmission.ts): the
// handshake and every policy decision stay here either way. vigild runs this class on its own
// worker thread (server-thread.ts) with the native data path.
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { VigilError } from '../../common/errors.js';
import { ByteQueue } from './byte-queue.js';
import { ExportFence, type RefusalReason } from './export-fence.js';
import { ExportFile, type DeviceSizeLookup, type IoMode } from './export-file.js';
import { ExportTokenKey } from './export-token.js';
import type { NbdDataPath } from '../../platform/platform.js';
import { NativeTransmissionSession } from './native-transmission.js';
import {
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
} from './protocol.js';
import { ReplyBufferPool } from './reply-buffers.js';
import { ServerNegotiation } from './server-negotiation.js';
import { NBD_MAX_PAYLOAD, TransmissionSession, newTransmissionCounters, type SessionEnd, type TransmissionCounters } from './transmission.js';

/**
 * Flags of every export. CAN_MULTI_CONN is true of this server: all connections to a mirror
 * share one file, so a FLUSH on any of them (fdatasync) covers writes completed on all.
 */
export const EXPORT_TRANSMISSION_FLAGS =
  NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN;

export type NbdServerLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface NbdServerOptions {
  /** The cluster secret; export tokens are verified under a key derived from it. */
  clusterSecret: Buffer;
  /** Size of a block device being exported (the platform's BlockDevices.info). */
  deviceSize: DeviceSizeLookup;
  /** Answer NBD_OPT_LIST with the mirror names (default: refuse with NBD_REP_ERR_POLICY). */
  listExports?: boolean;
  /** A client that has not finished the handshake by then is disconnected. */
  handshakeTimeoutMs?: number;
  log?: NbdServerLog;
  /**
   * 'pool' (default): export I/O on libuv's thread pool. 'sync': on the calling thread, allowed
   * only on a worker thread; NbdServerThread runs the server that way.
   */
  io?: IoMode;
  /**
   * Serve the transmission phase through this data path (the platform's native threads)
   * instead of transmission.ts. The handshake and the fence are the same either way.
   */
  dataPath?: NbdDataPath;
  /** I/O threads per connection of the data path (its default when absent). */
  ioThreads?: number;
}

export interface MirrorExport {
  mirror: string;
  /** Partition (block device) or file to export. */
  path: string;
  generation: number;
  primary: string;
}

export interface NbdServerCounters {
  connections: number;
  activeSessions: number;
  refused: Record<RefusalReason, number>;
  revokedSessions: number;
  protocolErrors: number;
  handshakeTimeouts: number;
  transmission: TransmissionCounters;
}

interface LiveSession {
  mirror: string;
  generation: number;
  clientSystem: string;
  session: TransmissionSession | NativeTransmissionSession;
}

export class NbdServer {
  private readonly fence: ExportFence<ExportFile>;
  private readonly sessions = new Set<LiveSession>();
  private readonly handshaking = new Set<Socket>();
  private server: Server | undefined;
  /** Shared by all sessions: READ reply buffers are reused across connections. */
  private readonly replyBuffers = new ReplyBufferPool();
  /** Native-path connections whose counts are not yet in stats.transmission. */
  private readonly unfolded = new Set<NativeTransmissionSession>();
  private readonly log: NbdServerLog;
  private readonly stats: NbdServerCounters = {
    connections: 0,
    activeSessions: 0,
    refused: { 'malformed-name': 0, 'unknown-export': 0, 'bad-token': 0, 'stale-generation': 0, 'future-generation': 0, 'not-primary': 0 },
    revokedSessions: 0,
    protocolErrors: 0,
    handshakeTimeouts: 0,
    transmission: newTransmissionCounters(),
  };

  constructor(private readonly options: NbdServerOptions) {
    this.fence = new ExportFence(new ExportTokenKey(options.clusterSecret));
    this.log = options.log ?? (() => undefined);
  }

  /** Listens on `host` (an IP address, not a wildcard) and `port` (0: any); resolves to the bound port. */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    if (this.server) throw new VigilError(0, 'the NBD server is already listening');
    if (isIP(host) === 0) throw new VigilError(0, `the NBD server listens on an IP address (the replication address), not "${host}"`);
    if (host === '0.0.0.0' || host === '::' || host === '0:0:0:0:0:0:0:0') {
      throw new VigilError(0, `the NBD server does not listen on the wildcard address ${host}; give it the replication address`);
    }
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log('error', 'NBD server socket error', { err: err.message }));
    this.server = server;
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new VigilError(0, 'the NBD server has no TCP address');
    this.log('info', 'NBD server listening', { host, port: addr.port });
    return { host, port: addr.port };
  }

  /**
   * Exports a mirror, or moves an exported one to a new epoch (generation, primary). Sessions
   * of any other epoch are cut. Changing the path of an exported mirror is refused.
   */
  async exportMirror(spec: MirrorExport): Promise<void> {
    const current = this.fence.get(spec.mirror);
    if (current && current.target.path !== spec.path) {
      throw new VigilError(0, `mirror ${spec.mirror} is already exported from ${current.target.path}, not ${spec.path}`, { mirror: spec.mirror });
    }
    let file = current?.target;
    if (!file) {
      file = await ExportFile.open(spec.path, this.options.deviceSize, this.options.io ?? 'pool');
      // Another call may have exported the mirror while this one opened the file.
      if (this.fence.get(spec.mirror)) {
        await file.close();
        return this.exportMirror(spec);
      }
    }
    try {
      this.fence.set(spec.mirror, { generation: spec.generation, primary: spec.primary }, file);
    } catch (err) {
      if (!current) await file.close();
      throw err;
    }
    this.revokeOutdated(spec.mirror);
    this.log('info', 'NBD export set', { mirror: spec.mirror, path: spec.path, generation: spec.generation, primary: spec.primary, sizeBytes: file.sizeBytes });
  }

  /** Stops exporting a mirror: its sessions are cut and the file closed. */
  async unexportMirror(mirror: string): Promise<void> {
    const current = this.fence.get(mirror);
    if (!current) return;
    this.fence.delete(mirror);
    this.revokeOutdated(mirror);
    await current.target.close();
  }

  /** Snapshot of the counters (refusals by reason, sessions, requests and bytes). */
  counters(): NbdServerCounters {
    const snapshot = structuredClone({ ...this.stats, activeSessions: this.sessions.size });
    for (const s of this.unfolded) {
      const live = s.counts();
      if (!live) continue;
      for (const k of Object.keys(live) as (keyof TransmissionCounters)[]) snapshot.transmission[k] += live[k];
    }
    return snapshot;
  }

  /** Stops listening, cuts every connection and closes every export. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.handshaking) s.destroy();
    for (const live of [...this.sessions]) live.session.revoke('server closing');
    for (const mirror of this.fence.mirrorNames()) await this.unexportMirror(mirror);
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private revokeOutdated(mirror: string): void {
    for (const live of [...this.sessions]) {
      if (live.mirror !== mirror || this.fence.isCurrent(mirror, live.generation, live.clientSystem)) continue;
      this.stats.revokedSessions++;
      this.log('warn', 'NBD session cut: its mirror generation is no longer current', {
        mirror,
        generation: live.generation,
        client: live.clientSystem,
      });
      live.session.revoke('mirror epoch changed');
    }
  }

  private accept(socket: Socket): void {
    this.stats.connections++;
    this.handshaking.add(socket);
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const input = new ByteQueue();
    const negotiation = new ServerNegotiation<ExportFile>({
      admit: (name) => this.fence.admit(name),
      facts: (file) => ({ sizeBytes: file.sizeBytes, transmissionFlags: EXPORT_TRANSMISSION_FLAGS, description: `Vigil replica of ${file.path}` }),
      list: () => (this.options.listExports ? this.fence.mirrorNames() : undefined),
      blockSize: { minimum: 1, preferred: 4096, maximum: NBD_MAX_PAYLOAD },
    });
    let refusalsSeen = 0;
    const timer = setTimeout(() => {
      this.stats.handshakeTimeouts++;
      this.log('warn', 'NBD client did not finish the handshake in time', { peer });
      socket.destroy();
    }, this.options.handshakeTimeoutMs ?? 10_000);
    const cleanup = (): void => {
      clearTimeout(timer);
      this.handshaking.delete(socket);
      socket.off('data', onData);
    };
    const onData = (chunk: Buffer): void => {
      input.push(chunk);
      const step = negotiation.step(input);
      for (const r of negotiation.refusals.slice(refusalsSeen)) {
        this.stats.refused[r.reason]++;
        this.log('warn', 'NBD export refused', { peer, reason: r.reason, message: r.message });
      }
      refusalsSeen = negotiation.refusals.length;
      if (step.send.length > 0) socket.write(step.send.length === 1 ? step.send[0]! : Buffer.concat(step.send));
      if (step.kind === 'close') {
        cleanup();
        if (!step.orderly) this.stats.protocolErrors++;
        this.log('info', 'NBD handshake ended', { peer, reason: step.reason });
        socket.end();
      } else if (step.kind === 'transmission') {
        cleanup();
        socket.pause();
        this.startSession(socket, input.drain(), step.admission);
      }
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
    socket.on('close', cleanup);
    socket.write(negotiation.greeting());
  }

  private startSession(socket: Socket, leftover: Buffer, admission: { mirror: string; generation: number; clientSystem: string; target: ExportFile }): void {
    // The epoch may have moved while the last handshake bytes were in transit.
    if (!this.fence.isCurrent(admission.mirror, admission.generation, admission.clientSystem) || this.fence.get(admission.mirror)?.target !== admission.target) {
      this.stats.revokedSessions++;
      socket.destroy();
      return;
    }
    const live: LiveSession = {
      mirror: admission.mirror,
      generation: admission.generation,
      clientSystem: admission.clientSystem,
      session: undefined as unknown as TransmissionSession,
    };
    const onEnd = (end: SessionEnd): void => {
      this.sessions.delete(live);
      if (end.kind === 'protocol-error') this.stats.protocolErrors++;
      this.log(end.kind === 'protocol-error' || end.kind === 'server-error' ? 'warn' : 'info', 'NBD session ended', { mirror: live.mirror, client: live.clientSystem, ...end });
    };
    live.session = this.options.dataPath
      ? new NativeTransmissionSession(socket, admission.target, this.options.dataPath, this.stats.transmission, this.unfolded, onEnd, this.options.ioThreads)
      : new TransmissionSession(socket, admission.target, this.stats.transmission, onEnd, this.replyBuffers);
    this.sessions.add(live);
    this.log('info', 'NBD session started', { mirror: live.mirror, generation: live.generation, client: live.clientSystem, dataPath: this.options.dataPath ? 'native' : 'typescript', peer: `${socket.remoteAddress}:${socket.remotePort}` });
    live.session.start(leftover);
  }
}
