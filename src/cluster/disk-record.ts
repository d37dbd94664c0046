// The on-disk layout of the DISK comm path and its heartbeat records, without I/O.
//
// Reserved area (layout version 1), at byte AREA_OFFSET (512 KiB) of the LUN — past an MBR or
// GPT header and the MBR gap, before the 1 MiB where partitions conventionally start; the
// device given to `net_create -T DISK` must not have a file system or partition over it
// (net_create checks):
//   area + 0                  header block (HEADER_BYTES): magic "VIGILDSK", version, slot count,
//                             slot size
//   area + 4096 * (1 + i)     slot i, i = 0..SLOT_COUNT-1 (32 slots: the cluster maximum)
// A slot is 4096 bytes (one block on 4Kn LUNs, eight on 512-byte ones); a record uses the first
// RECORD_BYTES of it:
//   0   magic "VGHB"                  4
//   4   record version (1)            1
//   5   state (1 running, 2 leaving,  1
//       3 yielding)
//   6   system name length            1   (1..64)
//   7   slot index                    1
//   8   boot id (the sender's epoch)  8
//  16   sequence number               8   (+1 per heartbeat within one boot)
//  24   wall time, ms since epoch     8
//  32   system name, zero padded      64
//  96   HMAC-SHA256 of bytes 0..95    32  (key: HKDF of the cluster key, "vigil disk heartbeat v1")
// The slot index is inside the authenticated bytes, so a record copied into another slot is
// refused like a forged one.
// Echo extension (optional, after the record; a vigild that predates it reads the first
// RECORD_BYTES only and is not disturbed by it):
//  128   magic "VGEC"                  4
//  132   entry count n (0..31)         1   (3 bytes zero)
//  136   n entries of 17 bytes: slot (1), boot id (8), sequence (8) of the newest authentic
//        record this system read in that slot
//  136 + 17n  HMAC-SHA256 of bytes 0..136+17n-1 (same key): binds the echoes to this record
// An echo of our own slot with our boot id says the writer read our record with that sequence,
// so it was alive after we issued that write: the DISK path's HeartbeatAck (disk-path.ts), the
// evidence the quorum gate and the watchdog lease count (quorum/quorum-evidence.ts).
//
// Storage quorum (QUORUM_MODE=storage, WITNESS_MODE=storage; docs/quorum.md) keeps the same
// header and records in a second area of the quorum LUN, at QUORUM_AREA_OFFSET (768 KiB: after
// the comm path's area, still before 1 MiB), authenticated with a key of its own
// (quorumRecordKey), so a comm path record copied into the quorum area is refused as forged.
import { createHmac, hkdfSync, timingSafeEqual, createHash } from 'node:crypto';

export const AREA_OFFSET = 512 * 1024;
/** The storage quorum area (same layout), on QUORUM_DISK. */
export const QUORUM_AREA_OFFSET = 768 * 1024;
export const SLOT_BYTES = 4096;
export const HEADER_BYTES = 4096;
export const SLOT_COUNT = 32;
export const AREA_BYTES = HEADER_BYTES + SLOT_COUNT * SLOT_BYTES;
export const LAYOUT_VERSION = 1;
export const RECORD_VERSION = 1;
export const RECORD_BYTES = 128;
const HEADER_MAGIC = Buffer.from('VIGILDSK', 'latin1');
const RECORD_MAGIC = Buffer.from('VGHB', 'latin1');
const MAC_OFFSET = 96;
const MAX_NAME = 64;

/**
 * running: a heartbeat; leaving: stopping on purpose; yielding: alive, but without quorum and
 * serving nothing (the loss action took everything out of service): not a heartbeat, so the
 * others may count the system gone and take over what it gave up (wire-quorum.ts).
 */
export type DiskState = 'running' | 'leaving' | 'yielding';
const STATE_CODES: Record<DiskState, number> = { running: 1, leaving: 2, yielding: 3 };

export interface DiskRecord {
  slot: number;
  system: string;
  bootId: bigint;
  seq: bigint;
  timeMs: number;
  state: DiskState;
  /** The newest record the writer read in each other slot (the echo extension); absent: none written. */
  echoes?: readonly RecordEcho[];
}

export interface RecordEcho {
  slot: number;
  bootId: bigint;
  seq: bigint;
}

const ECHO_OFFSET = RECORD_BYTES;
const ECHO_MAGIC = Buffer.from('VGEC', 'latin1');
const ECHO_HEADER = 8;
const ECHO_ENTRY = 17;

export type RecordReject = 'empty' | 'bad_magic' | 'bad_version' | 'bad_name' | 'bad_slot' | 'bad_tag';
export type DecodeResult = { ok: true; record: DiskRecord } | { ok: false; reason: RecordReject };

/** The record MAC key: never the raw cluster secret. */
export function diskRecordKey(secret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from('vigil disk heartbeat v1'), Buffer.from('record'), 32));
}

/** The storage quorum record MAC key: another HKDF label, so the two areas' records never pass for each other. */
export function quorumRecordKey(secret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from('vigil quorum heartbeat v1'), Buffer.from('record'), 32));
}

export function encodeRecord(key: Buffer, r: DiskRecord): Buffer {
  const name = Buffer.from(r.system, 'utf8');
  if (name.length < 1 || name.length > MAX_NAME) throw new RangeError('system names must be 1..64 bytes');
  if (!Number.isInteger(r.slot) || r.slot < 0 || r.slot >= SLOT_COUNT) throw new RangeError(`slot must be 0..${SLOT_COUNT - 1}`);
  const b = Buffer.alloc(SLOT_BYTES);
  RECORD_MAGIC.copy(b, 0);
  b[4] = RECORD_VERSION;
  b[5] = STATE_CODES[r.state];
  b[6] = name.length;
  b[7] = r.slot;
  b.writeBigUInt64BE(r.bootId, 8);
  b.writeBigUInt64BE(r.seq, 16);
  b.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(r.timeMs))), 24);
  name.copy(b, 32);
  createHmac('sha256', key).update(b.subarray(0, MAC_OFFSET)).digest().copy(b, MAC_OFFSET);
  if (r.echoes) {
    if (r.echoes.length > SLOT_COUNT - 1) throw new RangeError(`at most ${SLOT_COUNT - 1} echoes`);
    ECHO_MAGIC.copy(b, ECHO_OFFSET);
    b[ECHO_OFFSET + 4] = r.echoes.length;
    let at = ECHO_OFFSET + ECHO_HEADER;
    for (const e of r.echoes) {
      if (!Number.isInteger(e.slot) || e.slot < 0 || e.slot >= SLOT_COUNT) throw new RangeError(`echo slot must be 0..${SLOT_COUNT - 1}`);
      b[at] = e.slot;
      b.writeBigUInt64BE(e.bootId, at + 1);
      b.writeBigUInt64BE(e.seq, at + 9);
      at += ECHO_ENTRY;
    }
    createHmac('sha256', key).update(b.subarray(0, at)).digest().copy(b, at);
  }
  return b;
}

/** The echo extension of an authentic record: undefined when absent, malformed or not authentic. */
function decodeEchoes(key: Buffer, b: Buffer): RecordEcho[] | undefined {
  if (b.length < ECHO_OFFSET + ECHO_HEADER || !b.subarray(ECHO_OFFSET, ECHO_OFFSET + 4).equals(ECHO_MAGIC)) return undefined;
  const n = b[ECHO_OFFSET + 4]!;
  const end = ECHO_OFFSET + ECHO_HEADER + n * ECHO_ENTRY;
  if (n > SLOT_COUNT - 1 || b.length < end + 32) return undefined;
  const mac = createHmac('sha256', key).update(b.subarray(0, end)).digest();
  if (!timingSafeEqual(mac, b.subarray(end, end + 32))) return undefined;
  const out: RecordEcho[] = [];
  for (let at = ECHO_OFFSET + ECHO_HEADER; at < end; at += ECHO_ENTRY) {
    if (b[at]! >= SLOT_COUNT) return undefined;
    out.push({ slot: b[at]!, bootId: b.readBigUInt64BE(at + 1), seq: b.readBigUInt64BE(at + 9) });
  }
  return out;
}

/** Decodes slot `slot` (at least RECORD_BYTES); anything not authentic is refused with the reason. */
export function decodeRecord(key: Buffer, slotBytes: Buffer, slot: number): DecodeResult {
  if (slotBytes.length < RECORD_BYTES) return { ok: false, reason: 'empty' };
  if (slotBytes.subarray(0, RECORD_BYTES).every((x) => x === 0)) return { ok: false, reason: 'empty' };
  if (!slotBytes.subarray(0, 4).equals(RECORD_MAGIC)) return { ok: false, reason: 'bad_magic' };
  if (slotBytes[4] !== RECORD_VERSION) return { ok: false, reason: 'bad_version' };
  const mac = createHmac('sha256', key).update(slotBytes.subarray(0, MAC_OFFSET)).digest();
  if (!timingSafeEqual(mac, slotBytes.subarray(MAC_OFFSET, MAC_OFFSET + 32))) return { ok: false, reason: 'bad_tag' };
  if (slotBytes[7] !== slot) return { ok: false, reason: 'bad_slot' };
  const len = slotBytes[6]!;
  if (len < 1 || len > MAX_NAME) return { ok: false, reason: 'bad_name' };
  const state = (Object.keys(STATE_CODES) as DiskState[]).find((k) => STATE_CODES[k] === slotBytes[5]);
  if (!state) return { ok: false, reason: 'bad_version' };
  const echoes = decodeEchoes(key, slotBytes);
  return {
    ok: true,
    record: {
      slot,
      system: slotBytes.toString('utf8', 32, 32 + len),
      bootId: slotBytes.readBigUInt64BE(8),
      seq: slotBytes.readBigUInt64BE(16),
      timeMs: Number(slotBytes.readBigUInt64BE(24)),
      state,
      ...(echoes ? { echoes } : {}),
    },
  };
}

export interface AreaHeader {
  version: number;
  slotCount: number;
  slotBytes: number;
}

export function encodeHeader(): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  HEADER_MAGIC.copy(b, 0);
  b.writeUInt32BE(LAYOUT_VERSION, 8);
  b.writeUInt32BE(SLOT_COUNT, 12);
  b.writeUInt32BE(SLOT_BYTES, 16);
  return b;
}

/** undefined: no Vigil header (a fresh area); otherwise what the header says. */
export function decodeHeader(b: Buffer): AreaHeader | undefined {
  if (b.length < 20 || !b.subarray(0, 8).equals(HEADER_MAGIC)) return undefined;
  return { version: b.readUInt32BE(8), slotCount: b.readUInt32BE(12), slotBytes: b.readUInt32BE(16) };
}

/** Why a header makes the area unusable for this version, if it does. */
export function headerProblem(h: AreaHeader): string | undefined {
  if (h.version !== LAYOUT_VERSION) return `the disk heartbeat area has layout version ${h.version}; this vigild writes version ${LAYOUT_VERSION}`;
  if (h.slotCount !== SLOT_COUNT || h.slotBytes !== SLOT_BYTES) return `the disk heartbeat area has ${h.slotCount} slots of ${h.slotBytes} bytes; expected ${SLOT_COUNT} of ${SLOT_BYTES}`;
  return undefined;
}

/** Where a system's search for a slot starts: spread by name so systems rarely meet. */
export function preferredSlot(system: string): number {
  return createHash('sha256').update(system).digest().readUInt32BE(0) % SLOT_COUNT;
}

/**
 * The slot this system should write, given what the slots hold now: the one already holding its
 * own authentic record, else the first (from its preferred slot on) that holds no authentic
 * record of another system that is still advancing (`busy` says which are). undefined: full.
 */
export function chooseSlot(system: string, slots: Array<DiskRecord | undefined>, busy: (slot: number) => boolean): number | undefined {
  const own = slots.findIndex((r) => r?.system === system);
  if (own >= 0) return own;
  const start = preferredSlot(system);
  for (let i = 0; i < SLOT_COUNT; i++) {
    const s = (start + i) % SLOT_COUNT;
    const r = slots[s];
    if (!r || !busy(s)) return s;
  }
  return undefined;
}

/**
 * Liveness from another system's records: a record counts as a heartbeat only when it is newer
 * than the last one accepted — the same boot with a higher sequence, or a new boot with a later
 * time (a restart). A stuck record (same sequence), a replayed older one, or one from the future
 * beyond the allowed skew is not a heartbeat.
 */
export class RecordTracker {
  private last: DiskRecord | undefined;

  constructor(private readonly maxSkewMs = 30_000) {}

  observe(r: DiskRecord, nowMs: number): { heartbeat: boolean; why: 'advanced' | 'restarted' | 'first' | 'stuck' | 'replayed' | 'future' | 'leaving' | 'yielding' } {
    if (r.timeMs > nowMs + this.maxSkewMs) return { heartbeat: false, why: 'future' };
    // A system that wrote "leaving" is stopping on purpose: its last record is no heartbeat.
    if (r.state === 'leaving') return { heartbeat: false, why: 'leaving' };
    // One without quorum that gave everything up asks to be counted gone (its records still advance).
    if (r.state === 'yielding') return { heartbeat: false, why: 'yielding' };
    const last = this.last;
    if (!last) {
      // The first record seen proves nothing about liveness yet: it may be years old.
      this.last = r;
      return { heartbeat: false, why: 'first' };
    }
    if (r.bootId === last.bootId) {
      if (r.seq > last.seq) {
        this.last = r;
        return { heartbeat: true, why: 'advanced' };
      }
      return { heartbeat: false, why: r.seq === last.seq ? 'stuck' : 'replayed' };
    }
    if (r.timeMs > last.timeMs) {
      this.last = r;
      return { heartbeat: true, why: 'restarted' };
    }
    return { heartbeat: false, why: 'replayed' };
  }

  get lastRecord(): DiskRecord | undefined {
    return this.last;
  }
}
