// How the primary reaches the backup's export: a TCP connection to the backup's NBD server,
// negotiated with the NBD handshake (nbd/client-handshake.ts) and handed over as a bare file
// descriptor at the start of the transmission phase, ready for the kernel's NBD client.
import net from 'node:net';

import { VigilError } from '../common/errors.js';
import { negotiateClient } from './nbd/client-handshake.js';

/** A negotiated connection to the backup's export. */
export interface BackupConnection {
  /** The socket's descriptor, for NbdControl.attach(). */
  fd: number;
  sizeBytes: number;
  transmissionFlags: number;
  blockSize?: number;
  /** Closes our descriptor (after the kernel took its own reference, or to give up). */
  release(): void;
}

export interface BackupLink {
  /** Where the backup is, for messages ("10.0.0.2:10001"). */
  readonly address: string;
  /**
   * Connects and negotiates within timeoutMs; `connectLimitMs` bounds the TCP connect alone
   * (a retry that may have sent its SYN into a link that was down gives up early and tries again).
   */
  connect(timeoutMs: number, options?: { connectLimitMs?: number }): Promise<BackupConnection>;
}

export interface TcpBackupLinkOptions {
  host: string;
  port: number;
  exportName: string;
  /** Local address to connect from (the replication interface). */
  localAddress?: string;
}

/** The descriptor under a connected net.Socket (libuv's; Node has no public accessor). */
export function socketDescriptor(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new VigilError(0, 'the NBD connection has no file descriptor to hand to the kernel');
  return fd;
}

export class TcpBackupLink implements BackupLink {
  readonly address: string;

  constructor(private readonly options: TcpBackupLinkOptions) {
    this.address = `${options.host}:${options.port}`;
  }

  async connect(timeoutMs: number, options: { connectLimitMs?: number } = {}): Promise<BackupConnection> {
    const deadline = Date.now() + timeoutMs;
    const connectMs = Math.min(timeoutMs, options.connectLimitMs ?? timeoutMs);
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: this.options.host, port: this.options.port, localAddress: this.options.localAddress });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new VigilError(0, `no connection to the NBD server at ${this.address} within ${connectMs} ms`));
      }, connectMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(new VigilError(0, `cannot connect to the NBD server at ${this.address}: ${err.message}`, {}, { cause: err }));
      });
    });
    // Without TCP_NODELAY small NBD replies wait for Nagle's timer; the kernel client sets it too.
    socket.setNoDelay(true);
    const negotiated = await negotiateClient(socket, { exportName: this.options.exportName, timeoutMs: Math.max(1, deadline - Date.now()) });
    socket.pause();
    return {
      fd: socketDescriptor(socket),
      sizeBytes: negotiated.sizeBytes,
      transmissionFlags: negotiated.transmissionFlags,
      // The smallest block the server takes (at least a sector): the array keeps the local disk's
      // logical block size unless the server cannot do better.
      blockSize: negotiated.blockSize ? Math.max(512, negotiated.blockSize.minimum) : undefined,
      // destroy() closes libuv's descriptor without shutdown(): the kernel's reference keeps the
      // TCP connection open.
      release: () => socket.destroy(),
    };
  }
}
