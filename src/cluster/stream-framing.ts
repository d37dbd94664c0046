// Cutting byte streams into frames. TCP is reliable, so frames are simply concatenated and the
// header's length delimits them; a header that can never be valid ends the connection (there is
// no way to find the next frame). A serial line loses and corrupts bytes, so TTY frames are COBS
// encoded with a CRC-32 and a 0x00 delimiter: after any garbage the reader resynchronises at the
// next 0x00, and the CRC separates line noise from forgery before any crypto work is spent.
import { crc32 } from 'node:zlib';
import { frameLength, type FrameRejectReason } from './frame-codec.js';

export type StreamReject = FrameRejectReason | 'crc' | 'cobs' | 'line_overflow';

/** Accumulates TCP bytes and yields whole frames. */
export class TcpFrameReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly maxPayload: number) {}

  /** Appends `chunk`; returns the complete frames, and a reason if the stream is unrecoverable. */
  push(chunk: Buffer, maxFrames = Infinity): { frames: Buffer[]; fatal?: StreamReject } {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Buffer[] = [];
    while (frames.length < maxFrames) {
      const len = frameLength(this.buf, this.maxPayload);
      if (typeof len === 'string') {
        this.buf = Buffer.alloc(0);
        return { frames, fatal: len };
      }
      if (len === 0 || this.buf.length < len) return { frames };
      frames.push(this.buf.subarray(0, len));
      this.buf = this.buf.subarray(len);
    }
    return { frames };
  }

  /** Whether bytes are held after the frames returned so far. */
  hasMore(): boolean {
    return this.buf.length > 0;
  }

  /** The bytes held after the frames returned so far (to hand a stream over to another reader). */
  takeRest(): Buffer {
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }
}

/** COBS encoding (no 0x00 in the output). */
export function cobsEncode(input: Buffer): Buffer {
  const out = Buffer.allocUnsafe(input.length + Math.ceil(input.length / 254) + 1);
  let codeIdx = 0;
  let o = 1;
  let code = 1;
  for (let i = 0; i < input.length; i++) {
    const b = input[i]!;
    if (b === 0) {
      out[codeIdx] = code;
      codeIdx = o++;
      code = 1;
    } else {
      out[o++] = b;
      code++;
      if (code === 0xff) {
        out[codeIdx] = code;
        codeIdx = o++;
        code = 1;
      }
    }
  }
  out[codeIdx] = code;
  return out.subarray(0, o);
}

/** COBS decoding; undefined when the input is not valid COBS. */
export function cobsDecode(input: Buffer): Buffer | undefined {
  const out = Buffer.allocUnsafe(input.length);
  let o = 0;
  let i = 0;
  while (i < input.length) {
    const code = input[i]!;
    if (code === 0) return undefined;
    i++;
    const end = i + code - 1;
    if (end > input.length) return undefined;
    for (; i < end; i++) out[o++] = input[i]!;
    if (code !== 0xff && i < input.length) out[o++] = 0;
  }
  return out.subarray(0, o);
}

/** Wraps a sealed frame for the serial line: COBS(frame || crc32(frame)) 0x00. */
export function ttyWrap(frame: Buffer): Buffer {
  const withCrc = Buffer.allocUnsafe(frame.length + 4);
  frame.copy(withCrc, 0);
  withCrc.writeUInt32BE(crc32(frame), frame.length);
  const enc = cobsEncode(withCrc);
  const out = Buffer.allocUnsafe(enc.length + 2);
  // A leading delimiter ends whatever garbage the peer's reader may be holding.
  out[0] = 0;
  enc.copy(out, 1);
  out[enc.length + 1] = 0;
  return out;
}

/** Reads a serial byte stream; yields the frames whose COBS and CRC check out. */
export class TtyFrameReader {
  private parts: Buffer[] = [];
  private held = 0;
  private overflowing = false;
  /** Largest encoded line accepted; longer runs without a delimiter are dropped whole. */
  private readonly maxLine: number;

  constructor(maxFrameBytes: number) {
    this.maxLine = maxFrameBytes + 4 + Math.ceil((maxFrameBytes + 4) / 254) + 1;
  }

  push(chunk: Buffer): { frames: Buffer[]; rejects: StreamReject[] } {
    const frames: Buffer[] = [];
    const rejects: StreamReject[] = [];
    let start = 0;
    for (;;) {
      const z = chunk.indexOf(0, start);
      if (z < 0) {
        this.hold(chunk.subarray(start), rejects);
        return { frames, rejects };
      }
      this.hold(chunk.subarray(start, z), rejects);
      start = z + 1;
      const line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
      const wasOverflowing = this.overflowing;
      this.parts = [];
      this.held = 0;
      this.overflowing = false;
      if (wasOverflowing || line.length === 0) continue;
      const dec = cobsDecode(line);
      if (!dec || dec.length < 5) {
        rejects.push('cobs');
        continue;
      }
      const body = dec.subarray(0, dec.length - 4);
      if (crc32(body) !== dec.readUInt32BE(dec.length - 4)) {
        rejects.push('crc');
        continue;
      }
      frames.push(Buffer.from(body));
    }
  }

  private hold(bytes: Buffer, rejects: StreamReject[]): void {
    if (bytes.length === 0 || this.overflowing) return;
    if (this.held + bytes.length > this.maxLine) {
      this.overflowing = true;
      this.parts = [];
      this.held = 0;
      rejects.push('line_overflow');
      return;
    }
    this.parts.push(Buffer.from(bytes));
    this.held += bytes.length;
  }
}
