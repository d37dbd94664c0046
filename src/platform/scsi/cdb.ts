// Command descriptor blocks and parameter data of the commands Vigil sends (SBC-3, SPC-4),
// built and parsed by pure functions so both the Linux transport (SG_IO) and the memory LUN
// speak exactly the same bytes.

export const Opcode = {
  TEST_UNIT_READY: 0x00,
  INQUIRY: 0x12,
  PERSISTENT_RESERVE_IN: 0x5e,
  PERSISTENT_RESERVE_OUT: 0x5f,
  READ_16: 0x88,
  WRITE_16: 0x8a,
  SERVICE_ACTION_IN_16: 0x9e,
} as const;

/** SERVICE ACTION IN(16) service action of READ CAPACITY(16). */
export const READ_CAPACITY_16_SA = 0x10;

export const PrInAction = { READ_KEYS: 0, READ_RESERVATION: 1 } as const;
export const PrOutAction = {
  REGISTER: 0,
  RESERVE: 1,
  RELEASE: 2,
  CLEAR: 3,
  PREEMPT: 4,
  PREEMPT_AND_ABORT: 5,
  REGISTER_AND_IGNORE_EXISTING_KEY: 6,
} as const;

/** Persistent reservation types (SPC-4 table 193), by the names operators know. */
export const PR_TYPES = {
  'write-exclusive': 1,
  'exclusive-access': 3,
  'write-exclusive-registrants-only': 5,
  'exclusive-access-registrants-only': 6,
  'write-exclusive-all-registrants': 7,
  'exclusive-access-all-registrants': 8,
} as const;
export type PrType = keyof typeof PR_TYPES;

export function prTypeName(code: number): PrType | undefined {
  return (Object.keys(PR_TYPES) as PrType[]).find((t) => PR_TYPES[t] === code);
}

export const PR_PARAMETER_LIST_LENGTH = 24;
const MAX_KEY = (1n << 64n) - 1n;

export function checkKey(key: bigint, what = 'reservation key'): bigint {
  if (typeof key !== 'bigint' || key < 0n || key > MAX_KEY) throw new RangeError(`${what} must be a 64-bit unsigned bigint`);
  return key;
}

export function testUnitReadyCdb(): Buffer {
  return Buffer.alloc(6);
}

export function inquiryCdb(allocationLength: number, vpdPage?: number): Buffer {
  const cdb = Buffer.alloc(6);
  cdb[0] = Opcode.INQUIRY;
  if (vpdPage !== undefined) {
    cdb[1] = 0x01; // EVPD
    cdb[2] = vpdPage;
  }
  cdb.writeUInt16BE(allocationLength, 3);
  return cdb;
}

export function readCapacity16Cdb(): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = Opcode.SERVICE_ACTION_IN_16;
  cdb[1] = READ_CAPACITY_16_SA;
  cdb.writeUInt32BE(32, 10);
  return cdb;
}

/** READ(16) / WRITE(16); `fua` sets the Force Unit Access bit (byte 1, bit 3). */
export function rw16Cdb(write: boolean, lba: number, blocks: number, fua: boolean): Buffer {
  if (!Number.isSafeInteger(lba) || lba < 0) throw new RangeError('lba must be a non-negative integer');
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > 0xffff) throw new RangeError('blocks must be an integer from 1 to 65535');
  const cdb = Buffer.alloc(16);
  cdb[0] = write ? Opcode.WRITE_16 : Opcode.READ_16;
  if (fua) cdb[1] = 0x08;
  cdb.writeBigUInt64BE(BigInt(lba), 2);
  cdb.writeUInt32BE(blocks, 10);
  return cdb;
}

export function prInCdb(action: number, allocationLength: number): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = Opcode.PERSISTENT_RESERVE_IN;
  cdb[1] = action & 0x1f;
  cdb.writeUInt16BE(allocationLength, 7);
  return cdb;
}

/** PERSISTENT RESERVE OUT with LU scope; `type` only matters to RESERVE, RELEASE and PREEMPT*. */
export function prOutCdb(action: number, type = 0): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = Opcode.PERSISTENT_RESERVE_OUT;
  cdb[1] = action & 0x1f;
  cdb[2] = type & 0x0f; // scope 0: logical unit
  cdb.writeUInt32BE(PR_PARAMETER_LIST_LENGTH, 5);
  return cdb;
}

/** The 24-byte PR OUT parameter list: reservation key, service action reservation key, APTPL. */
export function prOutParameters(key: bigint, serviceActionKey: bigint, aptpl = false): Buffer {
  const p = Buffer.alloc(PR_PARAMETER_LIST_LENGTH);
  p.writeBigUInt64BE(checkKey(key), 0);
  p.writeBigUInt64BE(checkKey(serviceActionKey, 'service action reservation key'), 8);
  if (aptpl) p[20] = 0x01;
  return p;
}

export interface StandardInquiry {
  peripheralQualifier: number;
  peripheralDeviceType: number;
  vendor: string;
  product: string;
  revision: string;
}

export function parseStandardInquiry(data: Uint8Array): StandardInquiry {
  if (data.length < 36) throw new RangeError(`INQUIRY returned ${data.length} bytes, fewer than the 36 of standard data`);
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  const text = (from: number, to: number) => b.toString('latin1', from, to).replace(/\0/g, ' ').trim();
  return {
    peripheralQualifier: b[0]! >> 5,
    peripheralDeviceType: b[0]! & 0x1f,
    vendor: text(8, 16),
    product: text(16, 32),
    revision: text(32, 36),
  };
}

/** Unit Serial Number VPD page (0x80). */
export function parseUnitSerial(data: Uint8Array): string {
  if (data.length < 4 || data[1] !== 0x80) throw new RangeError('not a Unit Serial Number VPD page');
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  const len = b.readUInt16BE(2);
  return b.toString('latin1', 4, Math.min(4 + len, b.length)).replace(/\0/g, '').trim();
}

export interface Capacity {
  /** Number of logical blocks (last LBA + 1). */
  blocks: number;
  blockSize: number;
}

export function parseReadCapacity16(data: Uint8Array): Capacity {
  if (data.length < 12) throw new RangeError(`READ CAPACITY(16) returned ${data.length} bytes`);
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  return { blocks: Number(b.readBigUInt64BE(0) + 1n), blockSize: b.readUInt32BE(8) };
}

export interface PrKeys {
  generation: number;
  keys: bigint[];
}

export function parseReadKeys(data: Uint8Array): PrKeys {
  if (data.length < 8) throw new RangeError(`PR IN READ KEYS returned ${data.length} bytes`);
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  const len = b.readUInt32BE(4);
  const keys: bigint[] = [];
  for (let off = 8; off + 8 <= Math.min(8 + len, b.length); off += 8) keys.push(b.readBigUInt64BE(off));
  return { generation: b.readUInt32BE(0), keys };
}

export interface PrReservation {
  generation: number;
  /** Absent when the LUN holds no persistent reservation. */
  reservation?: { key: bigint; type: PrType | `type-${number}`; scope: number };
}

export function parseReadReservation(data: Uint8Array): PrReservation {
  if (data.length < 8) throw new RangeError(`PR IN READ RESERVATION returned ${data.length} bytes`);
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  const generation = b.readUInt32BE(0);
  const len = b.readUInt32BE(4);
  if (len < 16 || b.length < 24) return { generation };
  const typeCode = b[21]! & 0x0f;
  return { generation, reservation: { key: b.readBigUInt64BE(8), type: prTypeName(typeCode) ?? `type-${typeCode}`, scope: b[21]! >> 4 } };
}

export function formatKey(key: bigint): string {
  return `0x${key.toString(16)}`;
}
