// A serial comm path (a null-modem cable, or a socat pty pair in tests) through `serialport`.
// It carries heartbeats and small control messages only (TTY_MAX_PAYLOAD), framed for a lossy
// byte stream (stream-framing.ts: COBS + CRC-32, resynchronising after garbage). When the
// device goes away (unplugged, socat gone) it is reopened with backoff.
import { SerialPort } from 'serialport';
import type { CommPathLink, PathContext, TtyPathConfig } from './comm-path.js';
import { backoffMs, pathIdOf } from './comm-path.js';
import { FIXED_HEADER_BYTES, MAX_NAME_BYTES, TAG_BYTES, type FrameType } from './frame-codec.js';
import { TtyFrameReader, ttyWrap } from './stream-framing.js';

/** Payload limit on serial lines: heartbeats and small control messages. */
export const TTY_MAX_PAYLOAD = 256;
const TTY_MAX_FRAME = FIXED_HEADER_BYTES + 2 * MAX_NAME_BYTES + TTY_MAX_PAYLOAD + TAG_BYTES;
/** Bytes allowed to wait for the line; at 9600 baud this is about two seconds of traffic. */
const SEND_BACKLOG_BYTES = 2048;

export class TtyPath implements CommPathLink {
  readonly id: string;
  readonly kind = 'TTY' as const;
  readonly peer: string;
  readonly priority: number;
  readonly maxPayload = TTY_MAX_PAYLOAD;
  private port: SerialPort | undefined;
  private open = false;
  private stopped = true;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Frames waiting for the write in flight to finish (see flush()). */
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  private writing = false;

  constructor(readonly config: TtyPathConfig, private readonly ctx: PathContext) {
    this.id = pathIdOf(config);
    this.peer = config.otherSystem;
    this.priority = config.priority;
  }

  start(): void {
    this.stopped = false;
    this.openPort();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const port = this.port;
    this.port = undefined;
    this.open = false;
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
  }

  connected(): boolean {
    return this.open;
  }

  send(type: FrameType, payload: Buffer): boolean {
    const port = this.port;
    if (!port || !this.open) return false;
    if (payload.length > TTY_MAX_PAYLOAD) throw new RangeError(`a TTY comm path carries at most ${TTY_MAX_PAYLOAD} payload bytes`);
    if (this.queuedBytes + port.writableLength > SEND_BACKLOG_BYTES) {
      this.ctx.counters.drop('backlog');
      return false;
    }
    const wire = ttyWrap(this.ctx.guard.seal(type, this.peer, payload));
    this.queued.push(wire);
    this.queuedBytes += wire.length;
    this.flush(port);
    return true;
  }

  /**
   * One write in flight at a time, carrying everything queued meanwhile. Each serialport write
   * costs a thread-pool round trip and a main-thread callback; on a starved CPU, writing frame by
   * frame let those round trips pile up into seconds of latency, batching keeps it to one.
   */
  private flush(port: SerialPort): void {
    if (this.writing || this.queued.length === 0 || port !== this.port || !this.open) return;
    const batch = this.queued.length === 1 ? this.queued[0]! : Buffer.concat(this.queued);
    this.queued = [];
    this.queuedBytes = 0;
    this.writing = true;
    port.write(batch, () => {
      this.writing = false;
      this.flush(port);
    });
  }

  /** A serial line has no connection to reset; a dead line is simply listened to until it speaks. */
  reset(): void {}

  private openPort(): void {
    if (this.stopped) return;
    const port = new SerialPort({ path: this.config.device, baudRate: this.config.baud, autoOpen: false });
    this.port = port;
    const reader = new TtyFrameReader(TTY_MAX_FRAME);
    port.on('data', (chunk: Buffer) => {
      const { frames, rejects } = reader.push(chunk);
      for (const r of rejects) this.ctx.counters.refuse(r);
      for (const f of frames) {
        const opened = this.ctx.guard.open(f, TTY_MAX_PAYLOAD);
        if (!opened) continue;
        if (opened.header.sender !== this.peer) {
          this.ctx.counters.authFailure('path_mismatch');
          continue;
        }
        this.ctx.onFrame(this, opened);
      }
    });
    port.on('error', () => {
      // Followed by 'close' (or the open callback's error); the retry logic handles both.
    });
    port.on('close', () => this.lost(port));
    port.open((err) => {
      if (err) {
        this.lost(port);
        return;
      }
      this.attempt = 0;
      this.open = true;
      this.ctx.log('info', 'serial comm path opened', { path: this.id, device: this.config.device, baud: this.config.baud });
    });
  }

  private lost(port: SerialPort): void {
    if (this.port !== port) return;
    this.open = false;
    this.port = undefined;
    this.queued = [];
    this.queuedBytes = 0;
    this.writing = false;
    if (port.isOpen) port.close(() => undefined);
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.openPort(), backoffMs(this.attempt++, this.ctx.retryMinMs, this.ctx.retryMaxMs));
  }
}
