// The NBD wire protocol: constants and byte-exact encoders/decoders for the fixed newstyle
// handshake (options and option replies) and the transmission phase (requests and simple
// replies), as the NBD protocol document defines them. Every number on the wire is big-endian.
// No I/O here: the server, the client handshake and the tests build on these functions.
// Structured replies and extended headers are not implemented: a server refuses those options
// with NBD_REP_ERR_UNSUP, which every client must accept.

// ---- Handshake -------------------------------------------------------------------------------

/** "NBDMAGIC": first 8 bytes the server sends. */
export const NBD_MAGIC = 0x4e42444d41474943n;
/** "IHAVEOPT": the newstyle magic, also the prefix of every option request. */
export const NBD_IHAVEOPT = 0x49484156454f5054n;
/** Prefix of every option reply. */
export const NBD_OPT_REPLY_MAGIC = 0x0003e889045565a9n;

/** Handshake flags (server → client, 16 bits). */
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
/** Client flags (client → server, 32 bits). */
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

/** Option types. */
export const NBD_OPT_EXPORT_NAME = 1;
export const NBD_OPT_ABORT = 2;
export const NBD_OPT_LIST = 3;
export const NBD_OPT_STARTTLS = 5;
export const NBD_OPT_INFO = 6;
export const NBD_OPT_GO = 7;
export const NBD_OPT_STRUCTURED_REPLY = 8;
export const NBD_OPT_LIST_META_CONTEXT = 9;
export const NBD_OPT_SET_META_CONTEXT = 10;
export const NBD_OPT_EXTENDED_HEADERS = 11;

/** Option reply types; errors have bit 31 set. */
export const NBD_REP_ACK = 1;
export const NBD_REP_SERVER = 2;
export const NBD_REP_INFO = 3;
export const NBD_REP_FLAG_ERROR = 0x80000000;
export const NBD_REP_ERR_UNSUP = 0x80000001;
export const NBD_REP_ERR_POLICY = 0x80000002;
export const NBD_REP_ERR_INVALID = 0x80000003;
export const NBD_REP_ERR_PLATFORM = 0x80000004;
export const NBD_REP_ERR_TLS_REQD = 0x80000005;
export const NBD_REP_ERR_UNKNOWN = 0x80000006;
export const NBD_REP_ERR_SHUTDOWN = 0x80000007;
export const NBD_REP_ERR_BLOCK_SIZE_REQD = 0x80000008;
export const NBD_REP_ERR_TOO_BIG = 0x80000009;

/** Information types of NBD_REP_INFO (and of the requests in NBD_OPT_INFO/GO). */
export const NBD_INFO_EXPORT = 0;
export const NBD_INFO_NAME = 1;
export const NBD_INFO_DESCRIPTION = 2;
export const NBD_INFO_BLOCK_SIZE = 3;

/** Limits: export names and option payloads are at most 4096 bytes by the protocol's advice. */
export const NBD_MAX_STRING = 4096;
/** Longest option payload a peer accepts from the other side (a GO carries a name + info list). */
export const NBD_MAX_OPTION_DATA = 64 * 1024;
/** After NBD_OPT_EXPORT_NAME without NO_ZEROES the server pads its reply with 124 zero bytes. */
export const NBD_EXPORT_NAME_PADDING = 124;

// ---- Transmission ----------------------------------------------------------------------------

export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;
export const NBD_REQUEST_SIZE = 28;
export const NBD_SIMPLE_REPLY_SIZE = 16;
export const NBD_OPTION_HEADER_SIZE = 16;
export const NBD_OPTION_REPLY_HEADER_SIZE = 20;

/** Transmission flags (server → client, 16 bits). */
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_ROTATIONAL = 1 << 4;
export const NBD_FLAG_SEND_TRIM = 1 << 5;
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
export const NBD_FLAG_SEND_DF = 1 << 7;
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
export const NBD_FLAG_SEND_RESIZE = 1 << 9;
export const NBD_FLAG_SEND_CACHE = 1 << 10;
export const NBD_FLAG_SEND_FAST_ZERO = 1 << 11;

/** Command flags (16 bits of a request). */
export const NBD_CMD_FLAG_FUA = 1 << 0;
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;
export const NBD_CMD_FLAG_DF = 1 << 2;
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3;
export const NBD_CMD_FLAG_FAST_ZERO = 1 << 4;

/** Command types. */
export const NBD_CMD_READ = 0;
export const NBD_CMD_WRITE = 1;
export const NBD_CMD_DISC = 2;
export const NBD_CMD_FLUSH = 3;
export const NBD_CMD_TRIM = 4;
export const NBD_CMD_CACHE = 5;
export const NBD_CMD_WRITE_ZEROES = 6;
export const NBD_CMD_BLOCK_STATUS = 7;

/** Error values of a reply (the protocol fixes these numbers; they are Linux's errno values). */
export const NBD_EPERM = 1;
export const NBD_EIO = 5;
export const NBD_ENOMEM = 12;
export const NBD_EINVAL = 22;
export const NBD_ENOSPC = 28;
export const NBD_EOVERFLOW = 75;
export const NBD_ENOTSUP = 95;
export const NBD_ESHUTDOWN = 108;

/** Names for logs and error messages. */
export function optionName(option: number): string {
  const names: Record<number, string> = {
    [NBD_OPT_EXPORT_NAME]: 'NBD_OPT_EXPORT_NAME',
    [NBD_OPT_ABORT]: 'NBD_OPT_ABORT',
    [NBD_OPT_LIST]: 'NBD_OPT_LIST',
    [NBD_OPT_STARTTLS]: 'NBD_OPT_STARTTLS',
    [NBD_OPT_INFO]: 'NBD_OPT_INFO',
    [NBD_OPT_GO]: 'NBD_OPT_GO',
    [NBD_OPT_STRUCTURED_REPLY]: 'NBD_OPT_STRUCTURED_REPLY',
    [NBD_OPT_LIST_META_CONTEXT]: 'NBD_OPT_LIST_META_CONTEXT',
    [NBD_OPT_SET_META_CONTEXT]: 'NBD_OPT_SET_META_CONTEXT',
    [NBD_OPT_EXTENDED_HEADERS]: 'NBD_OPT_EXTENDED_HEADERS',
  };
  return names[option] ?? `option ${option}`;
}

export function replyTypeName(type: number): string {
  const names: Record<number, string> = {
    [NBD_REP_ACK]: 'NBD_REP_ACK',
    [NBD_REP_SERVER]: 'NBD_REP_SERVER',
    [NBD_REP_INFO]: 'NBD_REP_INFO',
    [NBD_REP_ERR_UNSUP]: 'NBD_REP_ERR_UNSUP',
    [NBD_REP_ERR_POLICY]: 'NBD_REP_ERR_POLICY',
    [NBD_REP_ERR_INVALID]: 'NBD_REP_ERR_INVALID',
    [NBD_REP_ERR_PLATFORM]: 'NBD_REP_ERR_PLATFORM',
    [NBD_REP_ERR_TLS_REQD]: 'NBD_REP_ERR_TLS_REQD',
    [NBD_REP_ERR_UNKNOWN]: 'NBD_REP_ERR_UNKNOWN',
    [NBD_REP_ERR_SHUTDOWN]: 'NBD_REP_ERR_SHUTDOWN',
    [NBD_REP_ERR_BLOCK_SIZE_REQD]: 'NBD_REP_ERR_BLOCK_SIZE_REQD',
    [NBD_REP_ERR_TOO_BIG]: 'NBD_REP_ERR_TOO_BIG',
  };
  return names[type >>> 0] ?? `reply type 0x${(type >>> 0).toString(16)}`;
}

export function commandName(type: number): string {
  const names: Record<number, string> = {
    [NBD_CMD_READ]: 'NBD_CMD_READ',
    [NBD_CMD_WRITE]: 'NBD_CMD_WRITE',
    [NBD_CMD_DISC]: 'NBD_CMD_DISC',
    [NBD_CMD_FLUSH]: 'NBD_CMD_FLUSH',
    [NBD_CMD_TRIM]: 'NBD_CMD_TRIM',
    [NBD_CMD_CACHE]: 'NBD_CMD_CACHE',
    [NBD_CMD_WRITE_ZEROES]: 'NBD_CMD_WRITE_ZEROES',
    [NBD_CMD_BLOCK_STATUS]: 'NBD_CMD_BLOCK_STATUS',
  };
  return names[type] ?? `command ${type}`;
}

/** A malformed message from the peer: the connection cannot continue. */
export class NbdProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NbdProtocolError';
  }
}

// ---- Handshake encoders/decoders -------------------------------------------------------------

/** S: NBDMAGIC, IHAVEOPT, 16-bit handshake flags (18 bytes). */
export function encodeServerGreeting(handshakeFlags: number): Buffer {
  const b = Buffer.alloc(18);
  b.writeBigUInt64BE(NBD_MAGIC, 0);
  b.writeBigUInt64BE(NBD_IHAVEOPT, 8);
  b.writeUInt16BE(handshakeFlags, 16);
  return b;
}

export interface ServerGreeting {
  handshakeFlags: number;
}

/** Decodes the 18-byte greeting; refuses oldstyle servers and anything else. */
export function decodeServerGreeting(b: Buffer): ServerGreeting {
  if (b.length !== 18) throw new NbdProtocolError(`server greeting is 18 bytes, got ${b.length}`);
  if (b.readBigUInt64BE(0) !== NBD_MAGIC) throw new NbdProtocolError('not an NBD server (no NBDMAGIC)');
  const second = b.readBigUInt64BE(8);
  if (second !== NBD_IHAVEOPT) {
    throw new NbdProtocolError(`server speaks the oldstyle handshake (magic 0x${second.toString(16)}), only newstyle is supported`);
  }
  return { handshakeFlags: b.readUInt16BE(16) };
}

/** C: 32-bit client flags. */
export function encodeClientFlags(clientFlags: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(clientFlags >>> 0, 0);
  return b;
}

/** C: IHAVEOPT, option, length, data. */
export function encodeOption(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(NBD_OPTION_HEADER_SIZE + data.length);
  b.writeBigUInt64BE(NBD_IHAVEOPT, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(data.length, 12);
  data.copy(b, NBD_OPTION_HEADER_SIZE);
  return b;
}

export interface OptionHeader {
  option: number;
  length: number;
}

export function decodeOptionHeader(b: Buffer): OptionHeader {
  if (b.length !== NBD_OPTION_HEADER_SIZE) throw new NbdProtocolError(`option header is 16 bytes, got ${b.length}`);
  if (b.readBigUInt64BE(0) !== NBD_IHAVEOPT) throw new NbdProtocolError('option without the IHAVEOPT magic');
  return { option: b.readUInt32BE(8), length: b.readUInt32BE(12) };
}

/** S: reply magic, option, reply type, length, data. */
export function encodeOptionReply(option: number, replyType: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(NBD_OPTION_REPLY_HEADER_SIZE + data.length);
  b.writeBigUInt64BE(NBD_OPT_REPLY_MAGIC, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(replyType >>> 0, 12);
  b.writeUInt32BE(data.length, 16);
  data.copy(b, NBD_OPTION_REPLY_HEADER_SIZE);
  return b;
}

export interface OptionReplyHeader {
  option: number;
  replyType: number;
  length: number;
}

export function decodeOptionReplyHeader(b: Buffer): OptionReplyHeader {
  if (b.length !== NBD_OPTION_REPLY_HEADER_SIZE) throw new NbdProtocolError(`option reply header is 20 bytes, got ${b.length}`);
  if (b.readBigUInt64BE(0) !== NBD_OPT_REPLY_MAGIC) throw new NbdProtocolError('option reply without the reply magic');
  return { option: b.readUInt32BE(8), replyType: b.readUInt32BE(12), length: b.readUInt32BE(16) };
}

/** An error reply's data is a human-readable UTF-8 message. */
export function encodeOptionError(option: number, errorType: number, message: string): Buffer {
  return encodeOptionReply(option, errorType, Buffer.from(message, 'utf8'));
}

/** Data of NBD_OPT_INFO / NBD_OPT_GO: 32-bit name length, name, 16-bit count, 16-bit info types. */
export function encodeInfoRequest(exportName: string, infoTypes: number[]): Buffer {
  const name = Buffer.from(exportName, 'utf8');
  const b = Buffer.alloc(4 + name.length + 2 + 2 * infoTypes.length);
  b.writeUInt32BE(name.length, 0);
  name.copy(b, 4);
  b.writeUInt16BE(infoTypes.length, 4 + name.length);
  infoTypes.forEach((t, i) => b.writeUInt16BE(t, 4 + name.length + 2 + 2 * i));
  return b;
}

export interface InfoRequest {
  exportName: string;
  infoTypes: number[];
}

export function decodeInfoRequest(b: Buffer): InfoRequest {
  if (b.length < 6) throw new NbdProtocolError(`NBD_OPT_INFO/GO data too short (${b.length} bytes)`);
  const nameLength = b.readUInt32BE(0);
  if (nameLength > NBD_MAX_STRING || 4 + nameLength + 2 > b.length) {
    throw new NbdProtocolError(`NBD_OPT_INFO/GO name length ${nameLength} does not fit the ${b.length}-byte option`);
  }
  const exportName = b.toString('utf8', 4, 4 + nameLength);
  const count = b.readUInt16BE(4 + nameLength);
  if (4 + nameLength + 2 + 2 * count !== b.length) {
    throw new NbdProtocolError(`NBD_OPT_INFO/GO announces ${count} information requests but carries ${b.length - 6 - nameLength} bytes of them`);
  }
  const infoTypes: number[] = [];
  for (let i = 0; i < count; i++) infoTypes.push(b.readUInt16BE(4 + nameLength + 2 + 2 * i));
  return { exportName, infoTypes };
}

/** NBD_REP_INFO data for NBD_INFO_EXPORT: type, 64-bit size, 16-bit transmission flags. */
export function encodeInfoExport(sizeBytes: bigint, transmissionFlags: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(NBD_INFO_EXPORT, 0);
  b.writeBigUInt64BE(sizeBytes, 2);
  b.writeUInt16BE(transmissionFlags, 10);
  return b;
}

/** NBD_REP_INFO data for NBD_INFO_BLOCK_SIZE: type, minimum, preferred, maximum (32-bit each). */
export function encodeInfoBlockSize(minimum: number, preferred: number, maximum: number): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 0);
  b.writeUInt32BE(minimum, 2);
  b.writeUInt32BE(preferred, 6);
  b.writeUInt32BE(maximum, 10);
  return b;
}

/** NBD_REP_INFO data for NBD_INFO_NAME / NBD_INFO_DESCRIPTION: type then UTF-8 text. */
export function encodeInfoText(infoType: number, text: string): Buffer {
  const t = Buffer.from(text, 'utf8');
  const b = Buffer.alloc(2 + t.length);
  b.writeUInt16BE(infoType, 0);
  t.copy(b, 2);
  return b;
}

export type DecodedInfo =
  | { type: typeof NBD_INFO_EXPORT; sizeBytes: bigint; transmissionFlags: number }
  | { type: typeof NBD_INFO_BLOCK_SIZE; minimum: number; preferred: number; maximum: number }
  | { type: typeof NBD_INFO_NAME | typeof NBD_INFO_DESCRIPTION; text: string }
  | { type: number; raw: Buffer };

export function decodeInfo(b: Buffer): DecodedInfo {
  if (b.length < 2) throw new NbdProtocolError('NBD_REP_INFO without an information type');
  const type = b.readUInt16BE(0);
  if (type === NBD_INFO_EXPORT) {
    if (b.length !== 12) throw new NbdProtocolError(`NBD_INFO_EXPORT is 12 bytes, got ${b.length}`);
    return { type, sizeBytes: b.readBigUInt64BE(2), transmissionFlags: b.readUInt16BE(10) };
  }
  if (type === NBD_INFO_BLOCK_SIZE) {
    if (b.length !== 14) throw new NbdProtocolError(`NBD_INFO_BLOCK_SIZE is 14 bytes, got ${b.length}`);
    return { type, minimum: b.readUInt32BE(2), preferred: b.readUInt32BE(6), maximum: b.readUInt32BE(10) };
  }
  if (type === NBD_INFO_NAME || type === NBD_INFO_DESCRIPTION) return { type, text: b.toString('utf8', 2) };
  return { type, raw: b.subarray(2) };
}

/** NBD_REP_SERVER data for NBD_OPT_LIST: 32-bit name length, name (no details). */
export function encodeServerEntry(exportName: string): Buffer {
  const name = Buffer.from(exportName, 'utf8');
  const b = Buffer.alloc(4 + name.length);
  b.writeUInt32BE(name.length, 0);
  name.copy(b, 4);
  return b;
}

export function decodeServerEntry(b: Buffer): string {
  if (b.length < 4) throw new NbdProtocolError('NBD_REP_SERVER too short');
  const n = b.readUInt32BE(0);
  if (4 + n > b.length) throw new NbdProtocolError('NBD_REP_SERVER name overruns the reply');
  return b.toString('utf8', 4, 4 + n);
}

/** S: reply to NBD_OPT_EXPORT_NAME: 64-bit size, 16-bit flags, and 124 zeroes unless NO_ZEROES. */
export function encodeExportNameReply(sizeBytes: bigint, transmissionFlags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(10 + (noZeroes ? 0 : NBD_EXPORT_NAME_PADDING));
  b.writeBigUInt64BE(sizeBytes, 0);
  b.writeUInt16BE(transmissionFlags, 8);
  return b;
}

// ---- Transmission encoders/decoders ----------------------------------------------------------

export interface NbdRequest {
  flags: number;
  type: number;
  /** The client's opaque 64-bit cookie (handle), echoed in the reply. */
  cookie: bigint;
  offset: bigint;
  length: number;
}

export function encodeRequest(req: NbdRequest, into: Buffer = Buffer.alloc(NBD_REQUEST_SIZE), at = 0): Buffer {
  into.writeUInt32BE(NBD_REQUEST_MAGIC, at);
  into.writeUInt16BE(req.flags, at + 4);
  into.writeUInt16BE(req.type, at + 6);
  into.writeBigUInt64BE(req.cookie, at + 8);
  into.writeBigUInt64BE(req.offset, at + 16);
  into.writeUInt32BE(req.length >>> 0, at + 24);
  return into;
}

export function decodeRequest(b: Buffer, at = 0): NbdRequest {
  const magic = b.readUInt32BE(at);
  if (magic !== NBD_REQUEST_MAGIC) throw new NbdProtocolError(`request with bad magic 0x${magic.toString(16)}`);
  return {
    flags: b.readUInt16BE(at + 4),
    type: b.readUInt16BE(at + 6),
    cookie: b.readBigUInt64BE(at + 8),
    offset: b.readBigUInt64BE(at + 16),
    length: b.readUInt32BE(at + 24),
  };
}

/** Writes the 16-byte simple reply header (magic, error, cookie) at `at` of `into`. */
export function encodeSimpleReply(error: number, cookie: bigint, into: Buffer = Buffer.alloc(NBD_SIMPLE_REPLY_SIZE), at = 0): Buffer {
  into.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, at);
  into.writeUInt32BE(error >>> 0, at + 4);
  into.writeBigUInt64BE(cookie, at + 8);
  return into;
}

export interface SimpleReply {
  error: number;
  cookie: bigint;
}

export function decodeSimpleReply(b: Buffer, at = 0): SimpleReply {
  const magic = b.readUInt32BE(at);
  if (magic !== NBD_SIMPLE_REPLY_MAGIC) {
    const what = magic === NBD_STRUCTURED_REPLY_MAGIC ? 'a structured reply, which was not negotiated' : `bad magic 0x${magic.toString(16)}`;
    throw new NbdProtocolError(`reply with ${what}`);
  }
  return { error: b.readUInt32BE(at + 4), cookie: b.readBigUInt64BE(at + 8) };
}

/**
 * A request as the server's hot path reads it: no BigInt (allocated per use, and costly at
 * hundreds of thousands of requests a second). The cookie stays two opaque 32-bit halves; an
 * offset beyond 2^53 (never a valid one for an export here) reads as Infinity.
 */
export interface ServerRequest {
  flags: number;
  type: number;
  cookieHigh: number;
  cookieLow: number;
  offset: number;
  length: number;
}

export function decodeServerRequest(b: Buffer, at = 0): ServerRequest {
  const magic = b.readUInt32BE(at);
  if (magic !== NBD_REQUEST_MAGIC) throw new NbdProtocolError(`request with bad magic 0x${magic.toString(16)}`);
  const offsetHigh = b.readUInt32BE(at + 16);
  return {
    flags: b.readUInt16BE(at + 4),
    type: b.readUInt16BE(at + 6),
    cookieHigh: b.readUInt32BE(at + 8),
    cookieLow: b.readUInt32BE(at + 12),
    offset: offsetHigh >= 0x200000 ? Infinity : offsetHigh * 0x100000000 + b.readUInt32BE(at + 20),
    length: b.readUInt32BE(at + 24),
  };
}

/** The simple reply header for a ServerRequest's cookie, written at `at` of `into`. */
export function encodeServerReply(error: number, req: ServerRequest, into: Buffer = Buffer.allocUnsafe(NBD_SIMPLE_REPLY_SIZE), at = 0): Buffer {
  into.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, at);
  into.writeUInt32BE(error >>> 0, at + 4);
  into.writeUInt32BE(req.cookieHigh, at + 8);
  into.writeUInt32BE(req.cookieLow, at + 12);
  return into;
}
