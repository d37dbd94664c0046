// One connection's transmission phase handed to the platform's data path (NbdDataPath: native
// threads on Linux), with the same surface as TransmissionSession (start, revoke, the same
// SessionEnd) so the server treats both alike. The handshake and the fence stay in TypeScript;
// this only moves the socket over: once the handshake's last reply has left Node's queue, the
// bytes Node buffered past it join the leftover, the data path duplicates the socket and the
// export's descriptors, and the net.Socket is destroyed (closing only Node's descriptor).
// Counters: the live connection's are read from the data path; once it is released (nothing in
// flight) they are added to the server's totals. The session ends when the data path says so,
// or at once when revoked, as TransmissionSession does; its requests still in the kernel go on
// counting until the release.
import type { Socket } from 'node:net';
import type { NbdDataPath, NbdServedConnection, NbdServeEnd, NbdTransmissionCounts } from '../../platform/platform.js';
import type { ExportFile } from './export-file.js';
import type { SessionEnd, TransmissionCounters } from './transmission.js';

export class NativeTransmissionSession {
  private served: NbdServedConnection | undefined;
  private ended = false;
  private folded = false;

  constructor(
    private readonly socket: Socket,
    private readonly file: ExportFile,
    private readonly dataPath: NbdDataPath,
    /** The server's totals: this connection's counts are added at its end. */
    private readonly totals: TransmissionCounters,
    /** Connections whose counts are not in `totals` yet (the server sums them in counters()). */
    private readonly unfolded: Set<NativeTransmissionSession>,
    private readonly onEnd: (end: SessionEnd) => void,
    private readonly ioThreads?: number,
  ) {}

  /** Takes over the socket (paused, its handshake listener removed); `leftover` are bytes read past the handshake. */
  start(leftover: Buffer): void {
    this.socket.on('error', () => undefined);
    this.socket.once('close', () => {
      if (!this.served) this.finish({ kind: 'closed' });
    });
    // An empty write completes after every earlier one: the handshake's reply is in the kernel.
    this.socket.write(Buffer.alloc(0), () => this.handOver(leftover));
  }

  /** Cuts the connection at once (the fence moved on); writes already in the kernel finish unreplied. */
  revoke(reason: string): void {
    this.finish({ kind: 'revoked', reason });
    if (this.served) this.served.stop();
    else this.socket.destroy();
  }

  /** This connection's counts while they are not yet in the server's totals. */
  counts(): NbdTransmissionCounts | undefined {
    return this.served && !this.folded ? this.served.counters() : undefined;
  }

  private handOver(leftover: Buffer): void {
    if (this.ended || this.socket.destroyed) return;
    const fd = (this.socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
    const files = this.file.descriptors();
    if (typeof fd !== 'number' || fd < 0 || !files) {
      this.finish({ kind: 'closed' });
      this.socket.destroy();
      return;
    }
    // Paused since the handshake: whatever Node read meanwhile waits in its buffer. Nothing
    // runs on this thread between draining it and destroying the socket, so no byte is lost.
    const parts = [leftover];
    for (let chunk: Buffer | null; (chunk = this.socket.read() as Buffer | null) !== null; ) parts.push(chunk);
    try {
      this.served = this.dataPath.serve(
        { socketFd: fd, fd: files.fd, dsyncFd: files.dsyncFd, sizeBytes: this.file.sizeBytes, leftover: Buffer.concat(parts), ...(this.ioThreads ? { ioThreads: this.ioThreads } : {}) },
        { onEnd: (end) => this.onServedEnd(end), onReleased: (counts) => this.fold(counts) },
      );
    } catch (err) {
      this.finish({ kind: 'server-error', message: `the NBD data path did not take the connection: ${(err as Error).message}` });
      this.socket.destroy();
      return;
    }
    this.unfolded.add(this);
    this.socket.destroy();
  }

  private fold(counts: NbdTransmissionCounts): void {
    this.folded = true;
    this.unfolded.delete(this);
    for (const k of Object.keys(counts) as (keyof NbdTransmissionCounts)[]) this.totals[k] += counts[k];
  }

  private onServedEnd(end: NbdServeEnd): void {
    if (end.kind === 'protocol-error') this.finish({ kind: 'protocol-error', message: end.message ?? 'protocol error' });
    else if (end.kind === 'disconnect') this.finish({ kind: 'disconnect' });
    else this.finish({ kind: 'closed', ...(end.code ? { code: end.code } : {}) });
  }

  private finish(end: SessionEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(end);
  }
}
