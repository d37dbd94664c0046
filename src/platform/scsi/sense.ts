// SCSI status and sense data decoding (SPC-4 §4.5), pure. Both sense formats are decoded:
// fixed (response code 0x70/0x71) and descriptor (0x72/0x73). The ASC/ASCQ texts cover the
// conditions the fence and the disk heartbeat act on; any other pair is shown as hex.

export const ScsiStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  ACA_ACTIVE: 0x30,
  TASK_ABORTED: 0x40,
} as const;

export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  ABORTED_COMMAND: 0xb,
} as const;

const SENSE_KEY_NAMES = [
  'NO SENSE', 'RECOVERED ERROR', 'NOT READY', 'MEDIUM ERROR', 'HARDWARE ERROR', 'ILLEGAL REQUEST', 'UNIT ATTENTION',
  'DATA PROTECT', 'BLANK CHECK', 'VENDOR SPECIFIC', 'COPY ABORTED', 'ABORTED COMMAND', 'RESERVED', 'VOLUME OVERFLOW',
  'MISCOMPARE', 'COMPLETED',
];

const ASC_TEXT: Record<string, string> = {
  '0400': 'logical unit not ready, cause not reportable',
  '0401': 'logical unit is in process of becoming ready',
  '0402': 'logical unit not ready, initializing command required',
  '0403': 'logical unit not ready, manual intervention required',
  '2000': 'invalid command operation code',
  '2100': 'logical block address out of range',
  '2400': 'invalid field in CDB',
  '2500': 'logical unit not supported',
  '2600': 'invalid field in parameter list',
  '2604': 'invalid release of persistent reservation',
  '2700': 'write protected',
  '2900': 'power on, reset, or bus device reset occurred',
  '2a01': 'mode parameters changed',
  '2a03': 'reservations preempted',
  '2a04': 'reservations released',
  '2a05': 'registrations preempted',
  '2a09': 'capacity data has changed',
  '2c00': 'command sequence error',
  '3a00': 'medium not present',
  '3f0e': 'reported luns data has changed',
  '5500': 'system resource failure',
};

export interface DecodedSense {
  /** 0x70/0x71 fixed, 0x72/0x73 descriptor. */
  responseCode: number;
  format: 'fixed' | 'descriptor';
  key: number;
  asc: number;
  ascq: number;
  /** 'UNIT ATTENTION: reservations preempted (asc 0x2a ascq 0x03)'. */
  text: string;
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

export function senseKeyName(key: number): string {
  return SENSE_KEY_NAMES[key & 0xf] ?? `sense key 0x${hex2(key)}`;
}

export function ascText(asc: number, ascq: number): string {
  return ASC_TEXT[hex2(asc) + hex2(ascq)] ?? (asc === 0x04 ? 'logical unit not ready' : `asc 0x${hex2(asc)} ascq 0x${hex2(ascq)}`);
}

/** Decodes sense bytes; undefined when there are none or the response code is not 0x70-0x73. */
export function decodeSense(sense: Uint8Array): DecodedSense | undefined {
  if (sense.length < 2) return undefined;
  const responseCode = sense[0]! & 0x7f;
  let key: number;
  let asc = 0;
  let ascq = 0;
  let format: DecodedSense['format'];
  if (responseCode === 0x70 || responseCode === 0x71) {
    if (sense.length < 3) return undefined;
    format = 'fixed';
    key = sense[2]! & 0xf;
    // The additional sense length (byte 7) says whether ASC/ASCQ (bytes 12, 13) were sent.
    if (sense.length >= 14) {
      asc = sense[12]!;
      ascq = sense[13]!;
    }
  } else if (responseCode === 0x72 || responseCode === 0x73) {
    if (sense.length < 4) return undefined;
    format = 'descriptor';
    key = sense[1]! & 0xf;
    asc = sense[2]!;
    ascq = sense[3]!;
  } else {
    return undefined;
  }
  const text = `${senseKeyName(key)}: ${ascText(asc, ascq)} (asc 0x${hex2(asc)} ascq 0x${hex2(ascq)})`;
  return { responseCode, format, key, asc, ascq, text };
}

/** Fixed-format sense bytes (18 bytes), as a device returns them; used by the memory LUN. */
export function fixedSense(key: number, asc: number, ascq: number): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = key & 0xf;
  b[7] = 10;
  b[12] = asc;
  b[13] = ascq;
  return b;
}

/** Descriptor-format sense bytes (8 bytes, no descriptors). */
export function descriptorSense(key: number, asc: number, ascq: number): Buffer {
  return Buffer.from([0x72, key & 0xf, asc, ascq, 0, 0, 0, 0]);
}

export function statusName(status: number): string {
  const entry = Object.entries(ScsiStatus).find(([, v]) => v === status);
  return entry ? entry[0].replace(/_/g, ' ') : `status 0x${hex2(status)}`;
}
