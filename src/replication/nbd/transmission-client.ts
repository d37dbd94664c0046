// A small userspace NBD client for the transmission phase, over a socket that
// negotiateClient() left at transmission: any number of requests in flight, matched to simple
// replies by cookie. Used where Vigil itself talks to a replica without the kernel (probing a
// replica, the tests and the benchmark); the mirror's data path is the kernel's NBD client.
import type { Socket } from 'node:net';
import { VigilError } from '../../common/errors.js';
import { ByteQueue } from './byte-queue.js';
import {
  NBD_CMD_DISC,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_REQUEST_SIZE,
  NBD_SIMPLE_REPLY_SIZE,
  NbdProtocolError,
  commandName,
  decodeSimpleReply,
  encodeRequest,
} from './protocol.js';

/** A request the server answered with a non-zero error (an errno value, e.g. 5 = EIO). */
export class NbdRequestError extends VigilError {
  constructor(
    readonly command: string,
    readonly nbdErrno: number,
  ) {
    super(0, `${command} failed on the NBD server with error ${nbdErrno}`, { command, nbdErrno });
    this.name = 'NbdRequestError';
  }
}

interface Waiting {
  type: number;
  readInto?: Buffer;
  resolve: (data: Buffer | undefined) => void;
  reject: (err: Error) => void;
}

export class NbdTransmissionClient {
  private readonly input = new ByteQueue();
  private readonly waiting = new Map<bigint, Waiting>();
  private nextCookie = 1n;
  /** Reply header read, waiting for the READ payload that follows it. */
  private payloadFor: { cookie: bigint; waiting: Waiting } | undefined;
  private failure: Error | undefined;

  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.input.push(chunk);
      this.parse();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new VigilError(0, 'NBD connection closed')));
    // The server's end of the stream: no reply can come any more. Failing here rather than at
    // 'close' keeps a request made in between from failing with Node's write-after-end error.
    socket.on('end', () => this.fail(new VigilError(0, 'NBD connection closed by the server')));
    socket.resume();
  }

  get inFlight(): number {
    return this.waiting.size;
  }

  read(offset: number, length: number): Promise<Buffer> {
    const into = Buffer.allocUnsafe(length);
    return this.request(NBD_CMD_READ, 0, offset, length, undefined, into).then(() => into);
  }

  write(offset: number, data: Buffer, options: { fua?: boolean } = {}): Promise<void> {
    return this.request(NBD_CMD_WRITE, options.fua ? NBD_CMD_FLAG_FUA : 0, offset, data.length, data).then(() => undefined);
  }

  writeZeroes(offset: number, length: number, options: { fua?: boolean } = {}): Promise<void> {
    return this.request(NBD_CMD_WRITE_ZEROES, options.fua ? NBD_CMD_FLAG_FUA : 0, offset, length).then(() => undefined);
  }

  trim(offset: number, length: number): Promise<void> {
    return this.request(NBD_CMD_TRIM, 0, offset, length).then(() => undefined);
  }

  flush(): Promise<void> {
    return this.request(NBD_CMD_FLUSH, 0, 0, 0).then(() => undefined);
  }

  /** Soft disconnect: NBD_CMD_DISC (no reply), then waits for the server to close. */
  async disconnect(): Promise<void> {
    if (this.failure) return;
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.socket.write(encodeRequest({ flags: 0, type: NBD_CMD_DISC, cookie: this.nextCookie++, offset: 0n, length: 0 }));
    this.socket.end();
    await closed;
  }

  private request(type: number, flags: number, offset: number, length: number, payload?: Buffer, readInto?: Buffer): Promise<Buffer | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    const cookie = this.nextCookie++;
    const header = encodeRequest({ flags, type, cookie, offset: BigInt(offset), length }, Buffer.allocUnsafe(NBD_REQUEST_SIZE));
    return new Promise((resolve, reject) => {
      this.waiting.set(cookie, { type, ...(readInto ? { readInto } : {}), resolve, reject });
      if (payload) {
        this.socket.cork();
        this.socket.write(header);
        this.socket.write(payload);
        this.socket.uncork();
      } else {
        this.socket.write(header);
      }
    });
  }

  private parse(): void {
    try {
      for (;;) {
        if (this.payloadFor) {
          const { cookie, waiting } = this.payloadFor;
          const parts = this.input.takeParts(waiting.readInto!.length);
          if (!parts) return;
          let at = 0;
          for (const part of parts) at += part.copy(waiting.readInto!, at);
          this.payloadFor = undefined;
          this.waiting.delete(cookie);
          waiting.resolve(waiting.readInto);
          continue;
        }
        const header = this.input.take(NBD_SIMPLE_REPLY_SIZE);
        if (!header) return;
        const reply = decodeSimpleReply(header);
        const waiting = this.waiting.get(reply.cookie);
        if (!waiting) throw new NbdProtocolError(`reply for unknown cookie ${reply.cookie}`);
        if (reply.error !== 0) {
          this.waiting.delete(reply.cookie);
          waiting.reject(new NbdRequestError(commandName(waiting.type), reply.error));
        } else if (waiting.type === NBD_CMD_READ && waiting.readInto!.length > 0) {
          this.payloadFor = { cookie: reply.cookie, waiting };
        } else {
          this.waiting.delete(reply.cookie);
          waiting.resolve(undefined);
        }
      }
    } catch (err) {
      this.fail(err as Error);
      this.socket.destroy();
    }
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}
