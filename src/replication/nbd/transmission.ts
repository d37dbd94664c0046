// One connection's transmission phase: parses requests off the socket, runs them against the
// export file and sends simple replies. Requests run concurrently (positional I/O on the thread
// pool) and may complete out of order, which the protocol allows since replies carry the
// client's cookie. A FUA write or write-zeroes is replied to only once durable (O_DSYNC
// descriptor); FLUSH replies after fdatasync. Reading stops while too much is in flight or
// queued for sending, so a fast client cannot grow memory without bound. Replies finished in
// one turn of the event loop go out in one corked batch.
import type { Socket } from 'node:net';
import { ByteQueue } from './byte-queue.js';
import type { ExportFile } from './export-file.js';
import type { NbdTransmissionCounts } from '../../platform/platform.js';
import { ReplyBufferPool } from './reply-buffers.js';
import {
  NBD_CMD_DISC,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_EINVAL,
  NBD_EIO,
  NBD_ENOMEM,
  NBD_ENOSPC,
  NBD_EPERM,
  NBD_REQUEST_SIZE,
  NBD_SIMPLE_REPLY_SIZE,
  NbdProtocolError,
  type ServerRequest,
  decodeServerRequest,
  encodeServerReply,
} from './protocol.js';

/** Largest READ/WRITE payload accepted (advertised as the maximum block size). */
export const NBD_MAX_PAYLOAD = 32 * 1024 * 1024;
/** Reading from the socket pauses above these and resumes below half of them. */
const MAX_IN_FLIGHT = 64;
const MAX_QUEUED_OUTPUT = 64 * 1024 * 1024;
/**
 * Reading also pauses while the socket has more than this queued in userspace (its kernel
 * buffer is full): more reads now would only wait behind it, and the socket drains sooner
 * when the thread goes back to the event loop.
 */
const MAX_SOCKET_BACKLOG = 1024 * 1024;
/** Replies held inside one pump() beyond this many bytes are handed to the socket at once. */
const EARLY_FLUSH_BYTES = 128 * 1024;

/** What the transmission phase counts: the same fields whichever data path serves it. */
export type TransmissionCounters = NbdTransmissionCounts;

export function newTransmissionCounters(): TransmissionCounters {
  return { reads: 0, writes: 0, fuaWrites: 0, flushes: 0, trims: 0, writeZeroes: 0, invalidRequests: 0, ioErrors: 0, bytesRead: 0, bytesWritten: 0 };
}

export type SessionEnd =
  | { kind: 'disconnect' }
  | { kind: 'closed'; /** the socket error that ended it (native data path) */ code?: string }
  | { kind: 'protocol-error'; message: string }
  | { kind: 'revoked'; reason: string }
  /** The native data path refused the connection (no descriptors or threads left). */
  | { kind: 'server-error'; message: string };

export class TransmissionSession {
  private readonly input = new ByteQueue();
  private readonly replyBuffers: ReplyBufferPool;
  private pending: ServerRequest | undefined;
  private inFlight = 0;
  private readingPaused = false;
  private disconnecting = false;
  private ended = false;
  private outbox: { data: Buffer; sent?: () => void }[] = [];
  /** Payload bytes of requests in flight plus replies not yet handed to the socket. */
  private heldBytes = 0;
  private flushScheduled = false;
  /** Inside pump(): replies of requests completed synchronously wait for its end, to leave in one batch. */
  private pumping = false;

  constructor(
    private readonly socket: Socket,
    private readonly file: ExportFile,
    private readonly counters: TransmissionCounters,
    private readonly onEnd: (end: SessionEnd) => void,
    replyBuffers?: ReplyBufferPool,
  ) {
    this.replyBuffers = replyBuffers ?? new ReplyBufferPool();
  }

  /** Takes over the socket; `leftover` are bytes already read past the handshake. */
  start(leftover: Buffer): void {
    this.input.push(leftover);
    this.socket.on('data', this.onData);
    this.socket.on('drain', this.onDrain);
    this.socket.on('close', () => this.finish({ kind: 'closed' }));
    this.socket.on('error', () => undefined); // 'close' follows and ends the session
    this.socket.resume();
    this.pump();
  }

  /** Cuts the connection at once (the fence moved on); writes already in the kernel finish unreplied. */
  revoke(reason: string): void {
    this.finish({ kind: 'revoked', reason });
    this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.input.push(chunk);
    this.pump();
  };

  private readonly onDrain = (): void => this.maybeResume();

  private pump(): void {
    // A completion inside the loop may resume reading and call pump() again: the running loop
    // already picks that up.
    if (this.pumping) return;
    this.pumping = true;
    try {
      this.pumpRequests();
    } finally {
      this.pumping = false;
    }
    if (this.outbox.length > 0 && !this.flushScheduled) this.flushOutbox();
  }

  private pumpRequests(): void {
    try {
      while (!this.disconnecting && !this.ended) {
        if (this.overloaded()) {
          this.pauseReading();
          return;
        }
        if (!this.pending) {
          const header = this.input.take(NBD_REQUEST_SIZE);
          if (!header) return;
          this.pending = decodeServerRequest(header);
        }
        const req = this.pending;
        if (req.type === NBD_CMD_WRITE) {
          if (req.length > NBD_MAX_PAYLOAD) throw new NbdProtocolError(`NBD_CMD_WRITE of ${req.length} bytes exceeds the ${NBD_MAX_PAYLOAD}-byte maximum`);
          const payload = this.input.takeParts(req.length);
          if (!payload) return;
          this.pending = undefined;
          this.write(req, payload);
        } else {
          this.pending = undefined;
          this.dispatch(req);
        }
      }
    } catch (err) {
      if (!(err instanceof NbdProtocolError)) throw err;
      this.finish({ kind: 'protocol-error', message: err.message });
      this.socket.destroy();
    }
  }

  private dispatch(req: ServerRequest): void {
    switch (req.type) {
      case NBD_CMD_READ:
        return this.read(req);
      case NBD_CMD_FLUSH:
        this.counters.flushes++;
        this.begin();
        return this.file.flush((err) => this.complete(req, err));
      case NBD_CMD_TRIM:
      case NBD_CMD_WRITE_ZEROES: {
        if (req.type === NBD_CMD_TRIM) this.counters.trims++;
        else this.counters.writeZeroes++;
        const bad = this.outOfRange(req, req.type === NBD_CMD_TRIM ? NBD_EINVAL : NBD_ENOSPC);
        if (bad) return this.replyNow(req, bad);
        this.begin();
        return this.file.writeZeroes(req.offset, req.length, (req.flags & NBD_CMD_FLAG_FUA) !== 0, (err) => this.complete(req, err));
      }
      case NBD_CMD_DISC:
        // No reply; finish what is in flight, then close (the protocol's soft disconnect).
        this.disconnecting = true;
        this.pauseReading();
        this.maybeEndAfterDisconnect();
        return;
      default:
        this.counters.invalidRequests++;
        return this.replyNow(req, NBD_EINVAL);
    }
  }

  private read(req: ServerRequest): void {
    this.counters.reads++;
    if (req.length > NBD_MAX_PAYLOAD) return this.replyNow(req, NBD_EINVAL);
    const bad = this.outOfRange(req, NBD_EINVAL);
    if (bad) return this.replyNow(req, bad);
    // Header and data in one (reused) buffer, one socket write.
    const reply = this.replyBuffers.acquire(NBD_SIMPLE_REPLY_SIZE + req.length);
    const buf = reply.view;
    this.begin();
    this.heldBytes += req.length;
    this.file.read(buf, NBD_SIMPLE_REPLY_SIZE, req.length, req.offset, (err) => {
      this.inFlight--;
      this.heldBytes -= req.length;
      if (err) {
        this.counters.ioErrors++;
        reply.release();
        // A simple reply to a failed read carries no payload.
        this.send(encodeServerReply(errnoOf(err), req));
      } else {
        this.counters.bytesRead += req.length;
        this.send(encodeServerReply(0, req, buf, 0), reply.release);
      }
      this.afterCompletion();
    });
  }

  private write(req: ServerRequest, payload: Buffer[]): void {
    this.counters.writes++;
    const fua = (req.flags & NBD_CMD_FLAG_FUA) !== 0;
    if (fua) this.counters.fuaWrites++;
    const bad = this.outOfRange(req, NBD_ENOSPC);
    if (bad) return this.replyNow(req, bad);
    this.begin();
    this.heldBytes += req.length;
    this.file.write(payload, req.offset, fua, (err) => {
      this.heldBytes -= req.length;
      if (!err) this.counters.bytesWritten += req.length;
      this.complete(req, err);
    });
  }

  private outOfRange(req: ServerRequest, errno: number): number {
    if (req.offset + req.length > this.file.sizeBytes) {
      this.counters.invalidRequests++;
      return errno;
    }
    return 0;
  }

  private begin(): void {
    this.inFlight++;
  }

  private complete(req: ServerRequest, err: NodeJS.ErrnoException | null): void {
    this.inFlight--;
    if (err) this.counters.ioErrors++;
    this.send(encodeServerReply(err ? errnoOf(err) : 0, req));
    this.afterCompletion();
  }

  private replyNow(req: ServerRequest, errno: number): void {
    this.send(encodeServerReply(errno, req));
  }

  private afterCompletion(): void {
    if (this.disconnecting) this.maybeEndAfterDisconnect();
    else this.maybeResume();
  }

  /** Queues a reply; `sent` runs once the socket is done with its bytes (or drops them). */
  private send(reply: Buffer, sent?: () => void): void {
    if (this.ended) {
      sent?.();
      return;
    }
    this.outbox.push(sent ? { data: reply, sent } : { data: reply });
    this.heldBytes += reply.length;
    // Nothing else in flight: no batch to wait for, so the reply goes out now (queue depth 1
    // latency); otherwise replies completing in this turn of the loop leave together.
    if (this.pumping) {
      // pump() sends the batch when it ends, unless it holds read data already: then out it
      // goes, so the socket sends while the next reads run instead of after all of them.
      if (this.heldBytes >= EARLY_FLUSH_BYTES) this.flushOutbox();
      return;
    }
    if (this.inFlight === 0 && !this.flushScheduled) return this.flushOutbox();
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushOutbox);
  }

  private readonly flushOutbox = (): void => {
    this.flushScheduled = false;
    if (this.outbox.length === 0) return;
    const batch = this.outbox;
    this.outbox = [];
    for (const b of batch) this.heldBytes -= b.data.length;
    if (this.ended) {
      for (const b of batch) b.sent?.();
      return;
    }
    const many = batch.length > 1;
    if (many) this.socket.cork();
    for (const b of batch) this.socket.write(b.data, b.sent);
    if (many) this.socket.uncork();
    if (this.disconnecting) this.maybeEndAfterDisconnect();
    // Paused for replies held here rather than in the socket: the socket may have taken them
    // all at once, and then no 'drain' comes to resume reading. A new turn of the loop avoids
    // recursing pump() -> flushOutbox() -> pump().
    else if (this.readingPaused) setImmediate(() => this.maybeResume());
  };

  /** Too much in flight or waiting to be sent: stop taking requests until it drains. */
  private overloaded(): boolean {
    return this.inFlight >= MAX_IN_FLIGHT || this.socket.writableLength > MAX_SOCKET_BACKLOG || this.socket.writableLength + this.heldBytes > MAX_QUEUED_OUTPUT;
  }

  private pauseReading(): void {
    if (this.readingPaused) return;
    this.readingPaused = true;
    this.socket.pause();
  }

  private maybeResume(): void {
    if (!this.readingPaused || this.ended || this.disconnecting) return;
    if (this.inFlight > MAX_IN_FLIGHT / 2 || this.socket.writableLength > MAX_SOCKET_BACKLOG / 2 || this.socket.writableLength + this.heldBytes > MAX_QUEUED_OUTPUT / 2) return;
    this.readingPaused = false;
    this.socket.resume();
    this.pump();
  }

  private maybeEndAfterDisconnect(): void {
    if (this.inFlight > 0 || this.outbox.length > 0 || this.ended) return;
    this.finish({ kind: 'disconnect' });
    this.socket.end();
  }

  private finish(end: SessionEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(end);
  }
}

/** The protocol's error numbers are Linux errno values; unknown failures become EIO. */
function errnoOf(err: NodeJS.ErrnoException): number {
  switch (err.code) {
    case 'ENOSPC':
      return NBD_ENOSPC;
    case 'EPERM':
    case 'EACCES':
    case 'EROFS':
      return NBD_EPERM;
    case 'ENOMEM':
      return NBD_ENOMEM;
    case 'EINVAL':
      return NBD_EINVAL;
    default:
      return NBD_EIO;
  }
}
