// The file systems the two replicated-file-system types of scsi/netraid make and measure:
// ext2/ext3/ext4 (e2fsprogs) and xfs (xfsprogs). Making one runs mkfs; measuring one reads its
// own superblock through the file system's tool (dumpe2fs -h, xfs_db -r), because statfs
// leaves out the file system's overhead and the whole extent is what must fit in the NetRAID
// device. Both run through the platform's ProgramRunner, with a time limit.
import type { ProgramRunner } from '../../platform/programs.js';

export const SUPPORTED_FS_TYPES = ['ext2', 'ext3', 'ext4', 'xfs'] as const;
export type SupportedFsType = (typeof SUPPORTED_FS_TYPES)[number];

export function isSupportedFsType(t: string | undefined): t is SupportedFsType {
  return (SUPPORTED_FS_TYPES as readonly string[]).includes(t ?? '');
}

function failure(what: string, r: { code: number | null; stderr: string; timedOut: boolean; spawnError?: string }, timeoutMs: number): Error {
  if (r.spawnError) return new Error(`${what}: ${r.spawnError}`);
  if (r.timedOut) return new Error(`${what} did not finish within ${timeoutMs} ms`);
  return new Error(`${what} exited with ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
}

/** Makes a new, empty file system of `fsType` on `device` (everything on it is lost). */
export async function makeFileSystem(programs: ProgramRunner, fsType: SupportedFsType, device: string, timeoutMs: number): Promise<void> {
  // -F / -f: the device is not a partition of a disk label and may hold an old file system; the
  // administrator confirmed the loss before this runs.
  const [file, args] = fsType === 'xfs' ? ['mkfs.xfs', ['-q', '-f', device]] : [`mkfs.${fsType}`, ['-q', '-F', device]];
  const r = await programs.run(file, args, { timeoutMs, ownGroup: true });
  if (r.code !== 0) throw failure(`${file} ${args.join(' ')}`, r, timeoutMs);
}

/** The size in bytes of the file system on `device` (its block count times its block size). */
export async function fileSystemSize(programs: ProgramRunner, fsType: SupportedFsType, device: string, timeoutMs: number): Promise<number> {
  if (fsType === 'xfs') {
    const args = ['-r', '-c', 'sb 0', '-c', 'print dblocks blocksize', device];
    const r = await programs.run('xfs_db', args, { timeoutMs, ownGroup: true });
    if (r.code !== 0) throw failure(`xfs_db ${args.join(' ')}`, r, timeoutMs);
    const blocks = /^dblocks\s*=\s*(\d+)/m.exec(r.stdout);
    const size = /^blocksize\s*=\s*(\d+)/m.exec(r.stdout);
    if (!blocks || !size) throw new Error(`xfs_db printed no dblocks/blocksize for ${device}`);
    return Number(blocks[1]) * Number(size[1]);
  }
  const r = await programs.run('dumpe2fs', ['-h', device], { timeoutMs, ownGroup: true });
  if (r.code !== 0) throw failure(`dumpe2fs -h ${device}`, r, timeoutMs);
  const blocks = /^Block count:\s*(\d+)/m.exec(r.stdout);
  const size = /^Block size:\s*(\d+)/m.exec(r.stdout);
  if (!blocks || !size) throw new Error(`dumpe2fs printed no block count/size for ${device}`);
  return Number(blocks[1]) * Number(size[1]);
}
