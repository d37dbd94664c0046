// What net_create -T DISK checks before it accepts a device: it exists and is a block or SCSI
// generic device, it can be read and written through SG_IO or O_DIRECT within a time limit, it is
// large enough, and nothing else lives in the reserved area (disk-record.ts): no file system
// superblock, LVM label or swap signature in the first megabyte, no partition over the area, no
// Vigil area of another layout version. Refusals are VigilErrors saying which device and why.
import { VigilError } from '../common/errors.js';
import type { TimedStat } from '../platform/platform.js';
import { AREA_BYTES, AREA_OFFSET, decodeHeader, HEADER_BYTES, headerProblem } from './disk-record.js';
import { type DiskPlatform, openDiskIo } from './disk-path.js';

const AREA_END = AREA_OFFSET + AREA_BYTES;
const S_IFMT = 0o170000;
const S_IFBLK = 0o060000;
const S_IFCHR = 0o020000;

/** What occupies bytes [0, AREA_END) besides a Vigil area, or undefined when they are free. */
export function foreignContent(head: Buffer): string | undefined {
  const at = (off: number, text: string) => head.length >= off + text.length && head.toString('latin1', off, off + text.length) === text;
  if (head.length >= 1082 && head.readUInt16LE(1080) === 0xef53) return 'an ext2/3/4 file system';
  if (at(0, 'XFSB')) return 'an XFS file system';
  if (at(65536 + 64, '_BHRfS_M')) return 'a btrfs file system';
  if (at(4086, 'SWAPSPACE2') || at(4086, 'SWAP-SPACE')) return 'a swap area';
  if (at(512 + 24, 'LVM2 001') || at(512, 'LABELONE')) return 'an LVM physical volume';
  if (at(0x8001, 'CD001')) return 'an ISO 9660 image';
  if (head.length >= 512 && head.readUInt16LE(510) === 0xaa55) {
    if (at(512, 'EFI PART')) {
      const firstUsable = Number(head.readBigUInt64LE(512 + 40));
      if (firstUsable * 512 < AREA_END) return `a GPT whose partitions may start at sector ${firstUsable}, inside the area`;
      return undefined;
    }
    for (let i = 0; i < 4; i++) {
      const e = 446 + 16 * i;
      const type = head[e + 4]!;
      const start = head.readUInt32LE(e + 8);
      const sectors = head.readUInt32LE(e + 12);
      if (type === 0 || sectors === 0) continue;
      if (start * 512 < AREA_END && (start + sectors) * 512 > AREA_OFFSET) return `MBR partition ${i + 1} (sectors ${start}-${start + sectors - 1})`;
    }
  }
  return undefined;
}

export async function checkDiskPathDevice(device: string, p: DiskPlatform & { timedStat: TimedStat }, timeoutMs = 10_000): Promise<string> {
  const refuse = (why: string) => new VigilError(0, `${device} cannot carry disk heartbeats: ${why}`, { device });
  let mode: number;
  try {
    mode = (await p.timedStat.stat(device, timeoutMs, { key: device })).mode & S_IFMT;
  } catch (err) {
    throw refuse((err as Error).message);
  }
  if (mode !== S_IFBLK && mode !== S_IFCHR) throw refuse('not a block device or SCSI generic (/dev/sgN) device');
  let io;
  try {
    io = await openDiskIo(device, p, timeoutMs);
  } catch (err) {
    throw refuse((err as Error).message);
  }
  let head: Buffer;
  try {
    head = await io.read(0, AREA_END);
  } catch (err) {
    throw refuse(`cannot read its first ${AREA_END} bytes: ${(err as Error).message}`);
  }
  const header = decodeHeader(head.subarray(AREA_OFFSET, AREA_OFFSET + HEADER_BYTES));
  if (header) {
    const problem = headerProblem(header);
    if (problem) throw refuse(problem);
  } else {
    const foreign = foreignContent(head);
    if (foreign) throw refuse(`${foreign} covers the reserved area (bytes ${AREA_OFFSET}-${AREA_END - 1}); use a LUN (or a partition-free region) kept for Vigil`);
  }
  return io.note;
}
