// The byte pipe under a serial comm path. `serialport` opens and configures the device (baud,
// raw mode, exclusive lock), but its stream reads and writes go through libuv's shared thread
// pool, where a heartbeat would wait behind whatever else the agent queued there (file system
// work on a slow disk). So once open, this reads and writes the non-blocking descriptor directly
// on the event loop: readiness comes from serialport's poller (epoll), a read drains what is
// there, a write puts what fits into the kernel's buffer and keeps the rest for the next try.
// `serialport` is imported when the first serial path opens, not at start-up: it is about 50
// modules that a node without TTY paths never needs, and vigild's start-up time is the time its
// heartbeats are silent after a restart.
import { readSync, writeSync } from 'node:fs';

interface RawPort {
  readonly fd: number | null;
  readonly poller: { once(ev: 'readable', cb: (err: Error | null) => void): unknown };
  close(): Promise<void>;
}

/** Retry pace for bytes the kernel's tty buffer could not take (the line is slower than we write). */
const WRITE_RETRY_MS = 5;

export class TtyLine {
  private readonly buf = Buffer.allocUnsafe(4096);
  private pendingOut: Buffer[] = [];
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly port: RawPort,
    private readonly onData: (chunk: Buffer) => void,
    private readonly onLost: (err: Error) => void,
  ) {}

  /** Opens and configures the device (raw, `baud`), then starts reading. */
  static async open(device: string, baud: number, onData: (chunk: Buffer) => void, onLost: (err: Error) => void): Promise<TtyLine> {
    const { SerialPort } = await import('serialport');
    const port = (await SerialPort.binding.open({ path: device, baudRate: baud })) as unknown as RawPort;
    const line = new TtyLine(port, onData, onLost);
    line.armRead();
    return line;
  }

  /** Bytes accepted by write() but not yet handed to the kernel. */
  queuedBytes(): number {
    let n = 0;
    for (const b of this.pendingOut) n += b.length;
    return n;
  }

  /** Writes what the kernel takes now; the rest is retried shortly, in order. */
  write(data: Buffer): void {
    if (this.closed) return;
    this.pendingOut.push(data);
    if (this.pendingOut.length === 1) this.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.pendingOut = [];
    if (this.port.fd !== null) await this.port.close().catch(() => undefined);
  }

  private flush(): void {
    this.retryTimer = undefined;
    const fd = this.port.fd;
    while (!this.closed && fd !== null && this.pendingOut.length > 0) {
      const head = this.pendingOut[0]!;
      let n: number;
      try {
        n = writeSync(fd, head);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EINTR') break;
        this.lose(e as Error);
        return;
      }
      if (n >= head.length) this.pendingOut.shift();
      else {
        this.pendingOut[0] = head.subarray(n);
        break;
      }
    }
    if (!this.closed && this.pendingOut.length > 0) this.retryTimer = setTimeout(() => this.flush(), WRITE_RETRY_MS);
  }

  private armRead(): void {
    if (this.closed) return;
    this.port.poller.once('readable', (err) => {
      if (this.closed) return;
      if (err) {
        this.lose(err);
        return;
      }
      this.drain();
    });
  }

  private drain(): void {
    const fd = this.port.fd;
    if (fd === null) return;
    for (let reads = 0; ; reads++) {
      let n: number;
      try {
        n = readSync(fd, this.buf, 0, this.buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EINTR') break;
        this.lose(e as Error);
        return;
      }
      if (n === 0) {
        // Readable but nothing to read: the other end hung up.
        if (reads === 0) {
          this.lose(new Error('end of file on the serial line'));
          return;
        }
        break;
      }
      this.onData(Buffer.from(this.buf.subarray(0, n)));
      if (this.closed) return;
    }
    this.armRead();
  }

  private lose(err: Error): void {
    if (this.closed) return;
    void this.close();
    this.onLost(err);
  }
}
