// The versioned binary frame every comm path carries. The header travels in clear (it routes
// the frame and selects the key) but is bound to the payload as AEAD associated data, so any
// change to it fails authentication. Payloads are sealed with AES-256-GCM: a Hello under the
// per-direction, per-boot hello key, every other frame under the per-direction session key (both
// from cluster-key.ts). The 96-bit GCM nonce is the sequence number, which the sender never
// reuses under one key (per boot for hellos, per session for the rest).
//
// Layout (big-endian):
//   0  magic 'V' 'G'            2
//   2  version (2)              1
//   3  type (FrameType)         1
//   4  flags (0)                1
//   5  sender name length       1   (1..64)
//   6  receiver name length     1   (1..64)
//   7  reserved (0)             1
//   8  epoch (sender boot id)   8
//  16  sequence number          8
//  24  timestamp (ms, Unix)     8
//  32  ciphertext length        4
//  36  sender name, receiver name (UTF-8)
//   .. ciphertext, then the 16-byte GCM tag
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { ClusterKey } from './cluster-key.js';

export const FRAME_MAGIC = 0x5647; // 'VG'
/** 2: session keys from both sides' nonces (1 keyed frames by the sender's boot only). */
export const FRAME_VERSION = 2;
export const FIXED_HEADER_BYTES = 36;
export const TAG_BYTES = 16;
export const MAX_NAME_BYTES = 64;
/** Largest payload any path accepts; TCP may lower it, TTY lowers it a lot. */
export const MAX_PAYLOAD_BYTES = 1 << 20;

export enum FrameType {
  Hello = 1,
  Heartbeat = 2,
  HeartbeatAck = 3,
  Request = 4,
  Response = 5,
}
const KNOWN_TYPES = new Set<number>([1, 2, 3, 4, 5]);

export interface FrameHeader {
  type: FrameType;
  sender: string;
  receiver: string;
  epoch: bigint;
  seq: bigint;
  timestampMs: number;
}

export interface OpenedFrame {
  header: FrameHeader;
  payload: Buffer;
}

/** Why a frame was refused; used as the label of the drop counters. */
export type FrameRejectReason =
  | 'bad_magic'
  | 'bad_version'
  | 'bad_type'
  | 'bad_name'
  | 'oversize'
  | 'truncated'
  | 'bad_tag'
  | 'wrong_receiver';

export type OpenResult = { ok: true; frame: OpenedFrame } | { ok: false; reason: FrameRejectReason };

function nonceFor(seq: bigint): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64BE(seq, 4);
  return n;
}

/**
 * The AEAD key of a frame: a ClusterKey gives the sender's per-boot hello key; a Buffer is a
 * session key (ClusterKey.sessionKey) used as it is.
 */
export type FrameKey = ClusterKey | Buffer;

function keyBytes(key: FrameKey, sender: string, receiver: string, epoch: bigint): Buffer {
  return Buffer.isBuffer(key) ? key : key.helloKey(sender, receiver, epoch);
}

/** Builds and seals one frame. */
export function sealFrame(key: FrameKey, h: FrameHeader, payload: Buffer): Buffer {
  const sender = Buffer.from(h.sender, 'utf8');
  const receiver = Buffer.from(h.receiver, 'utf8');
  if (sender.length < 1 || sender.length > MAX_NAME_BYTES || receiver.length < 1 || receiver.length > MAX_NAME_BYTES) {
    throw new RangeError('system names must be 1..64 bytes');
  }
  if (payload.length > MAX_PAYLOAD_BYTES) throw new RangeError(`payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
  const headerLen = FIXED_HEADER_BYTES + sender.length + receiver.length;
  const out = Buffer.allocUnsafe(headerLen + payload.length + TAG_BYTES);
  out.writeUInt16BE(FRAME_MAGIC, 0);
  out[2] = FRAME_VERSION;
  out[3] = h.type;
  out[4] = 0;
  out[5] = sender.length;
  out[6] = receiver.length;
  out[7] = 0;
  out.writeBigUInt64BE(h.epoch, 8);
  out.writeBigUInt64BE(h.seq, 16);
  out.writeBigUInt64BE(BigInt(Math.trunc(h.timestampMs)), 24);
  out.writeUInt32BE(payload.length, 32);
  sender.copy(out, FIXED_HEADER_BYTES);
  receiver.copy(out, FIXED_HEADER_BYTES + sender.length);
  const cipher = createCipheriv('aes-256-gcm', keyBytes(key, h.sender, h.receiver, h.epoch), nonceFor(h.seq), { authTagLength: TAG_BYTES });
  cipher.setAAD(out.subarray(0, headerLen));
  const c1 = cipher.update(payload);
  c1.copy(out, headerLen);
  cipher.final();
  cipher.getAuthTag().copy(out, headerLen + payload.length);
  return out;
}

/**
 * Checks the fixed header of a possibly incomplete buffer. Returns the whole frame's length once
 * the fixed header is present, 0 if more bytes are needed, or a reason if the header can never
 * be valid (so a stream reader stops at once instead of waiting for a huge length).
 */
export function frameLength(buf: Buffer, maxPayload = MAX_PAYLOAD_BYTES): number | FrameRejectReason {
  if (buf.length >= 2 && buf.readUInt16BE(0) !== FRAME_MAGIC) return 'bad_magic';
  if (buf.length >= 3 && buf[2] !== FRAME_VERSION) return 'bad_version';
  if (buf.length < FIXED_HEADER_BYTES) return 0;
  if (!KNOWN_TYPES.has(buf[3]!)) return 'bad_type';
  const sl = buf[5]!;
  const rl = buf[6]!;
  if (sl < 1 || sl > MAX_NAME_BYTES || rl < 1 || rl > MAX_NAME_BYTES) return 'bad_name';
  const pl = buf.readUInt32BE(32);
  if (pl > maxPayload) return 'oversize';
  return FIXED_HEADER_BYTES + sl + rl + pl + TAG_BYTES;
}

/** Authenticates and decrypts one complete frame addressed to `localSystem`. */
export function openFrame(key: FrameKey, buf: Buffer, localSystem: string, maxPayload = MAX_PAYLOAD_BYTES): OpenResult {
  const len = frameLength(buf, maxPayload);
  if (typeof len === 'string') return { ok: false, reason: len };
  if (len === 0 || buf.length < len) return { ok: false, reason: 'truncated' };
  if (buf.length > len) return { ok: false, reason: 'oversize' };
  const sl = buf[5]!;
  const rl = buf[6]!;
  const sender = buf.toString('utf8', FIXED_HEADER_BYTES, FIXED_HEADER_BYTES + sl);
  const receiver = buf.toString('utf8', FIXED_HEADER_BYTES + sl, FIXED_HEADER_BYTES + sl + rl);
  if (receiver !== localSystem) return { ok: false, reason: 'wrong_receiver' };
  const header: FrameHeader = {
    type: buf[3] as FrameType,
    sender,
    receiver,
    epoch: buf.readBigUInt64BE(8),
    seq: buf.readBigUInt64BE(16),
    timestampMs: Number(buf.readBigUInt64BE(24)),
  };
  const headerLen = FIXED_HEADER_BYTES + sl + rl;
  const pl = buf.readUInt32BE(32);
  try {
    const d = createDecipheriv('aes-256-gcm', keyBytes(key, sender, receiver, header.epoch), nonceFor(header.seq), { authTagLength: TAG_BYTES });
    d.setAAD(buf.subarray(0, headerLen));
    d.setAuthTag(buf.subarray(headerLen + pl, headerLen + pl + TAG_BYTES));
    const p1 = d.update(buf.subarray(headerLen, headerLen + pl));
    d.final();
    return { ok: true, frame: { header, payload: p1 } };
  } catch {
    return { ok: false, reason: 'bad_tag' };
  }
}
