// Client side of the NBD fixed newstyle handshake over a connected socket: greeting, client
// flags, then NBD_OPT_GO for the export name (asking for NBD_INFO_BLOCK_SIZE), which reports a
// refusal as a typed error instead of a dropped connection. Only a server that answers GO with
// NBD_REP_ERR_UNSUP (servers from before 2017) gets NBD_OPT_EXPORT_NAME instead. On success the
// socket is paused, has no listeners of ours and no unread bytes: it sits at the start of the
// transmission phase, so its file descriptor can be handed to the kernel (NBD_SET_SOCK) or to a
// userspace transmission client.
import type { Socket } from 'node:net';
import { VigilError } from '../../common/errors.js';
import { ByteQueue } from './byte-queue.js';
import {
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_EXPORT,
  NBD_MAX_OPTION_DATA,
  NBD_OPTION_REPLY_HEADER_SIZE,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_REP_ACK,
  NBD_REP_ERR_UNSUP,
  NBD_REP_FLAG_ERROR,
  NBD_REP_INFO,
  NbdProtocolError,
  decodeInfo,
  decodeOptionReplyHeader,
  decodeServerGreeting,
  encodeClientFlags,
  encodeInfoRequest,
  encodeOption,
  replyTypeName,
} from './protocol.js';

export interface ClientHandshakeOptions {
  exportName: string;
  /** Whole handshake time limit; the socket is destroyed when it passes. */
  timeoutMs?: number;
  /** Skip NBD_OPT_GO and use NBD_OPT_EXPORT_NAME (for tests of old-server behaviour). */
  forceExportName?: boolean;
}

export interface NegotiatedExport {
  sizeBytes: number;
  transmissionFlags: number;
  /** From NBD_INFO_BLOCK_SIZE when the server sent it. */
  blockSize?: { minimum: number; preferred: number; maximum: number };
  /** Which option entered transmission. */
  via: 'NBD_OPT_GO' | 'NBD_OPT_EXPORT_NAME';
}

/** The server refused the export (an NBD_REP_ERR_* reply) — e.g. a stale fencing token. */
export class NbdRefusedError extends VigilError {
  readonly replyType: number;
  readonly serverMessage: string;
  constructor(exportName: string, replyType: number, serverMessage: string) {
    super(0, `NBD server refused export "${exportName}": ${replyTypeName(replyType)}${serverMessage ? ` (${serverMessage})` : ''}`, {
      exportName,
      replyType,
    });
    this.name = 'NbdRefusedError';
    this.replyType = replyType >>> 0;
    this.serverMessage = serverMessage;
  }
}

/** Reads exact byte counts from a socket during the handshake, with one overall deadline. */
class HandshakeReader {
  private readonly queue = new ByteQueue();
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly socket: Socket, timeoutMs: number) {
    this.timer = setTimeout(() => this.fail(new VigilError(0, `NBD handshake timed out after ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('end', this.onEnd);
  }

  read(n: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    const have = this.queue.take(n);
    if (have) return Promise.resolve(Buffer.from(have));
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.socket.resume();
    });
  }

  /** Stops listening and pauses the socket; returns bytes received beyond the handshake. */
  detach(): Buffer {
    clearTimeout(this.timer);
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    this.socket.off('end', this.onEnd);
    return this.queue.drain();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.queue.push(chunk);
    const w = this.waiter;
    if (!w) {
      this.socket.pause();
      return;
    }
    const got = this.queue.take(w.n);
    if (got) {
      this.waiter = undefined;
      this.socket.pause();
      w.resolve(Buffer.from(got));
    }
  };
  private readonly onError = (err: Error): void => this.fail(new VigilError(0, `NBD handshake: ${err.message}`, {}, { cause: err }));
  private readonly onEnd = (): void => this.fail(new VigilError(0, 'NBD server closed the connection during the handshake'));
  private readonly onClose = (): void => this.fail(new VigilError(0, 'NBD connection closed during the handshake'));

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }
}

/**
 * Negotiates `exportName` on a connected socket. Resolves at the start of the transmission
 * phase; rejects with NbdRefusedError when the server refuses the export (the socket is then
 * closed after a polite NBD_OPT_ABORT), or another error for timeouts and protocol faults (the
 * socket is destroyed).
 */
export async function negotiateClient(socket: Socket, options: ClientHandshakeOptions): Promise<NegotiatedExport> {
  const nameBytes = Buffer.byteLength(options.exportName, 'utf8');
  if (nameBytes > 4096) throw new VigilError(0, `NBD export name is ${nameBytes} bytes; the protocol allows 4096`);
  const reader = new HandshakeReader(socket, options.timeoutMs ?? 10_000);
  try {
    const result = await runHandshake(socket, reader, options);
    const extra = reader.detach();
    if (extra.length > 0) throw new NbdProtocolError(`server sent ${extra.length} unexpected bytes after the handshake`);
    return result;
  } catch (err) {
    reader.detach();
    if (err instanceof NbdRefusedError) {
      socket.end(encodeOption(NBD_OPT_ABORT));
    } else {
      socket.destroy();
    }
    throw err;
  }
}

async function runHandshake(socket: Socket, reader: HandshakeReader, options: ClientHandshakeOptions): Promise<NegotiatedExport> {
  const { handshakeFlags } = decodeServerGreeting(await reader.read(18));
  const fixed = (handshakeFlags & NBD_FLAG_FIXED_NEWSTYLE) !== 0;
  const noZeroes = (handshakeFlags & NBD_FLAG_NO_ZEROES) !== 0;
  socket.write(encodeClientFlags((fixed ? NBD_FLAG_C_FIXED_NEWSTYLE : 0) | (noZeroes ? NBD_FLAG_C_NO_ZEROES : 0)));
  // Without fixed newstyle a server may drop the connection on any option it does not know,
  // so only EXPORT_NAME is safe to send.
  if (fixed && !options.forceExportName) {
    const viaGo = await tryGo(socket, reader, options.exportName);
    if (viaGo) return viaGo;
  }
  socket.write(encodeOption(NBD_OPT_EXPORT_NAME, Buffer.from(options.exportName, 'utf8')));
  // A refusal of EXPORT_NAME can only be a closed connection (the reader reports it).
  const reply = await reader.read(10 + (noZeroes ? 0 : 124));
  return {
    sizeBytes: toSafeSize(reply.readBigUInt64BE(0)),
    transmissionFlags: reply.readUInt16BE(8),
    via: 'NBD_OPT_EXPORT_NAME',
  };
}

/** NBD_OPT_GO; undefined when the server does not know GO (then EXPORT_NAME follows). */
async function tryGo(socket: Socket, reader: HandshakeReader, exportName: string): Promise<NegotiatedExport | undefined> {
  socket.write(encodeOption(NBD_OPT_GO, encodeInfoRequest(exportName, [NBD_INFO_BLOCK_SIZE])));
  let size: number | undefined;
  let flags = 0;
  let blockSize: NegotiatedExport['blockSize'];
  for (;;) {
    const header = decodeOptionReplyHeader(await reader.read(NBD_OPTION_REPLY_HEADER_SIZE));
    if (header.option !== NBD_OPT_GO) throw new NbdProtocolError(`reply to option ${header.option} while waiting for NBD_OPT_GO`);
    if (header.length > NBD_MAX_OPTION_DATA) throw new NbdProtocolError(`option reply of ${header.length} bytes is too long`);
    const data = await reader.read(header.length);
    if (header.replyType === NBD_REP_ACK) {
      if (size === undefined) throw new NbdProtocolError('server acknowledged NBD_OPT_GO without sending NBD_INFO_EXPORT');
      return { sizeBytes: size, transmissionFlags: flags, ...(blockSize ? { blockSize } : {}), via: 'NBD_OPT_GO' };
    }
    if (header.replyType === NBD_REP_INFO) {
      const info = decodeInfo(data);
      if (info.type === NBD_INFO_EXPORT && 'sizeBytes' in info) {
        size = toSafeSize(info.sizeBytes);
        flags = info.transmissionFlags;
      } else if (info.type === NBD_INFO_BLOCK_SIZE && 'preferred' in info) {
        blockSize = { minimum: info.minimum, preferred: info.preferred, maximum: info.maximum };
      }
      continue; // other information types are optional and ignored, as the protocol asks
    }
    if (header.replyType === NBD_REP_ERR_UNSUP) return undefined;
    if ((header.replyType & NBD_REP_FLAG_ERROR) !== 0) throw new NbdRefusedError(exportName, header.replyType, data.toString('utf8'));
    throw new NbdProtocolError(`unexpected ${replyTypeName(header.replyType)} in reply to NBD_OPT_GO`);
  }
}

function toSafeSize(size: bigint): number {
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new NbdProtocolError(`export size ${size} is beyond 2^53 bytes`);
  return Number(size);
}
