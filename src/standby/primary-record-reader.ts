// Reads the disk heartbeat area (layout in cluster/disk-record.ts) and picks out the primary's
// record, for the standby's listener, status and return guard. The I/O is the DISK comm path's
// own (openDiskIo): SG_IO READ(16) with FUA on a SCSI LUN, and where SG_IO does not apply (a loop
// device, virtio-blk) O_DIRECT block I/O — `note` says which, plainly. Each read runs on a
// thread of its own with a time limit. The standby only reads: it never writes a slot.
import { AREA_OFFSET, decodeHeader, decodeRecord, type DiskRecord, HEADER_BYTES, headerProblem, type RecordReject, SLOT_BYTES, SLOT_COUNT } from '../cluster/disk-record.js';
import { type DiskIo, type DiskPlatform, openDiskIo } from '../cluster/disk-path.js';

export interface PrimaryRead {
  /** The primary's authentic record, when one is in the area. */
  record?: DiskRecord;
  /** Why slots that were not empty were refused (forged, misplaced, foreign versions). */
  rejected: RecordReject[];
}

export class PrimaryRecordReader {
  private constructor(
    private readonly io: DiskIo,
    private readonly primary: string,
    private readonly recordKey: Buffer,
  ) {}

  static async open(device: string, primary: string, recordKey: Buffer, platform: DiskPlatform, timeoutMs: number): Promise<PrimaryRecordReader> {
    const io = await openDiskIo(device, platform, timeoutMs);
    return new PrimaryRecordReader(io, primary, recordKey);
  }

  /** 'SG_IO: ...' or 'O_DIRECT: ...' with the reason. */
  get how(): string {
    return `${this.io.mode}: ${this.io.note}`;
  }

  get mode(): DiskIo['mode'] {
    return this.io.mode;
  }

  async read(): Promise<PrimaryRead> {
    const raw = await this.io.read(AREA_OFFSET, HEADER_BYTES + SLOT_COUNT * SLOT_BYTES);
    const header = decodeHeader(raw.subarray(0, HEADER_BYTES));
    // No header yet: the primary has not written the area since it was cleared; no record.
    if (!header) return { rejected: [] };
    const problem = headerProblem(header);
    if (problem) throw new Error(problem);
    const rejected: RecordReject[] = [];
    let record: DiskRecord | undefined;
    for (let s = 0; s < SLOT_COUNT; s++) {
      const at = HEADER_BYTES + s * SLOT_BYTES;
      const d = decodeRecord(this.recordKey, raw.subarray(at, at + SLOT_BYTES), s);
      if (!d.ok) {
        if (d.reason !== 'empty') rejected.push(d.reason);
        continue;
      }
      // Two slots of the primary (it moved after a collision): the newer record counts.
      if (d.record.system === this.primary && (!record || newer(d.record, record))) record = d.record;
    }
    return { record, rejected };
  }
}

function newer(a: DiskRecord, b: DiskRecord): boolean {
  return a.bootId === b.bootId ? a.seq > b.seq : a.timeMs > b.timeMs;
}
