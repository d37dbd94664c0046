// The record format of the NetRAID crash loop (netraid-crash-loop.test.ts), shared by the writer
// in the guest (netraid-record-writer.ts) and the verifier on the host: raw 4 KiB blocks on the
// mirror, record n in slot n mod SLOTS, each carrying its number and a SHA-256 over the rest, so a
// torn, stale or misplaced block is told apart from the record it should be. The writer announces
// each record it has made durable as an `@ack N CRC` token on the guest's serial console, which
// qemu copies to a file on the host as it goes: unlike anything inside the guest, it outlives a
// SIGKILL of the VM. Only node: imports (this file is bundled into the guest's writer).
import { createHash } from 'node:crypto';

export const RECORD_BYTES = 4096;
const MAGIC = Buffer.from('VIGILREC', 'ascii');
const HASH_AT = RECORD_BYTES - 32;

/** Deterministic filler of record n: a torn write or another record's bytes cannot match it. */
function fill(buf: Buffer, n: number): void {
  let x = (n * 2654435761 + 0x9e3779b9) >>> 0 || 1;
  for (let i = 24; i < HASH_AT; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
}

/** The 4 KiB block of record n (n ≥ 1) written to slot n mod slots. */
export function encodeRecord(n: number, slots: number): Buffer {
  const buf = Buffer.alloc(RECORD_BYTES);
  MAGIC.copy(buf, 0);
  buf.writeBigUInt64LE(BigInt(n), 8);
  buf.writeUInt32LE(n % slots, 16);
  buf.writeUInt32LE(slots, 20);
  fill(buf, n);
  createHash('sha256').update(buf.subarray(0, HASH_AT)).digest().copy(buf, HASH_AT);
  return buf;
}

/** The record number a block holds, or why it holds none (never written, torn, misplaced). */
export function decodeRecord(block: Buffer, slot: number, slots: number): { n: number } | { bad: string } {
  if (block.length !== RECORD_BYTES) return { bad: `block of ${block.length} bytes` };
  if (!block.subarray(0, 8).equals(MAGIC)) return { bad: block.every((b) => b === 0) ? 'zeros (never written)' : 'no record magic' };
  if (!createHash('sha256').update(block.subarray(0, HASH_AT)).digest().equals(block.subarray(HASH_AT))) return { bad: 'checksum mismatch (torn or corrupt)' };
  const n = Number(block.readBigUInt64LE(8));
  if (block.readUInt32LE(16) !== slot || block.readUInt32LE(20) !== slots || n % slots !== slot) return { bad: `record ${n} in the wrong slot` };
  const want = Buffer.alloc(RECORD_BYTES);
  fill(want, n);
  if (!block.subarray(24, HASH_AT).equals(want.subarray(24, HASH_AT))) return { bad: `record ${n} with a foreign body` };
  return { n };
}

/** A check value of the decimal number, so a console line mangled by interleaved output is not misread. */
export function ackCheck(n: number): string {
  return createHash('sha256').update(String(n)).digest('hex').slice(0, 8);
}

/** The console token the writer prints once record n is durable. */
export function ackToken(n: number): string {
  return `@ack ${n} ${ackCheck(n)}`;
}

/** Every acknowledged number in a console log (tokens whose check value does not match are skipped). */
export function parseAcks(consoleText: string): { acked: number[]; mangled: number } {
  const acked: number[] = [];
  let mangled = 0;
  for (const m of consoleText.matchAll(/@ack (\d+) ([0-9a-f]{8})/g)) {
    const n = Number(m[1]);
    if (ackCheck(n) === m[2]) acked.push(n);
    else mangled++;
  }
  return { acked, mangled };
}

export interface VerifyResult {
  /** Acknowledged numbers checked. */
  checked: number;
  /** Acknowledged numbers missing: the slot holds an older record, none, or a broken block. */
  lost: Array<{ n: number; slot: number; found: string }>;
  /** The highest valid record number on the device (acknowledged or not). */
  maxFound: number;
}

/**
 * Every acknowledged record must be on the device, or superseded by a later record of the same
 * slot (the record area is a ring): slot s must hold a valid record m ≥ the highest acknowledged
 * number of s. `area` is the device from offset 0, at least slots × 4 KiB.
 */
export function verifyRecords(area: Buffer, slots: number, acked: Iterable<number>): VerifyResult {
  const highest = new Map<number, number[]>();
  let checked = 0;
  for (const n of acked) {
    checked++;
    const s = n % slots;
    const list = highest.get(s);
    if (list) list.push(n);
    else highest.set(s, [n]);
  }
  const lost: VerifyResult['lost'] = [];
  let maxFound = 0;
  for (let s = 0; s < slots; s++) {
    const r = decodeRecord(area.subarray(s * RECORD_BYTES, (s + 1) * RECORD_BYTES), s, slots);
    if ('n' in r) maxFound = Math.max(maxFound, r.n);
    const want = highest.get(s);
    if (!want) continue;
    for (const n of want) {
      if ('n' in r && r.n >= n) continue;
      lost.push({ n, slot: s, found: 'n' in r ? `record ${r.n}` : r.bad });
    }
  }
  return { checked, lost, maxFound };
}
