// The two file-system types of scsi/netraid (the seeds' "New Replicated File System" and
// "Replicate Existing File System"): the steps around the creation of /dev/mdN that the kit's
// create runs for them, the gen/filesys resource the create task makes above the device, and
// the undo of those steps when the task fails later.
//
//   new-fs       checks (the partition and the mount point are free) -> [mdadm --create] ->
//                mkfs on /dev/mdN (only with formatConfirmed=yes, the CLI's --yes-destroy-data)
//   existing-fs  checks (the mount point is mounted from the partition, the file system fits in
//                the NetRAID device that will be made, nothing holds it) -> unmount ->
//                [mdadm --create over the partition: metadata 1.0 keeps the data at offset 0] ->
//                the array's real size is checked again
// The gen/filesys resource (device /dev/mdN, the mount point as its id) then mounts it when the
// task brings the hierarchy in service. Every check comes before the first change, so bad input
// changes nothing.
import { realpath } from 'node:fs/promises';
import { isAbsolute } from 'node:path';

import type { MountTable, MdControl, BlockDevices } from '../../platform/platform.js';
import type { MountControl, MountHolders } from '../../platform/mounts.js';
import type { ProgramRunner } from '../../platform/programs.js';
import { formatReplicationError, replicationErrorLine as err } from '../../replication/errors.js';
import { mdDataSizeBytes } from '../../platform/md-layout.js';
import type { ResourceInstance } from '../kit.js';
import { fileSystemSize, isSupportedFsType, makeFileSystem, SUPPORTED_FS_TYPES, type SupportedFsType } from './file-systems.js';

export type NetraidType = 'resource' | 'new-fs' | 'existing-fs';
export const FILESYS_APP = 'gen/filesys';

export interface ReplicatedFsPlatform {
  mounts: MountTable;
  mountControl: MountControl;
  mountHolders: MountHolders;
  programs: ProgramRunner;
  md: MdControl;
  blockDevices: BlockDevices;
}

export interface FsSettings {
  type: 'new-fs' | 'existing-fs';
  mountPoint: string;
  fsType: SupportedFsType;
  fsTag: string;
  options?: string;
}

/** What to put back when the create task fails after the partition changed hands. */
export type FsUndo = { type: 'new-fs' } | { type: 'existing-fs'; partition: string; mountPoint: string; fsType: string; options: string[] };


/** A step failed; `message` starts with the seeds' error number. */
export class FsStepError extends Error {}

export function netraidType(inst: ResourceInstance): string {
  return inst.info.type ?? 'resource';
}

/** Why the file-system settings of an instance are not usable, or undefined. Pure. */
export function fsSettingsProblem(inst: ResourceInstance, localSystem: string): string | undefined {
  const type = netraidType(inst);
  if (type !== 'new-fs' && type !== 'existing-fs') return undefined;
  const mp = inst.info.mountPoint;
  if (!mp) return err(104040, [type], "set mountPoint=<the file system's mount point>");
  if (!isAbsolute(mp)) return err(104902, [mp]);
  if (mp === '/' || /\s/.test(mp)) return `mountPoint must be an absolute path other than / without spaces, not "${mp}"`;
  const fsType = inst.info.fsType;
  if (!fsType) return err(104040, [type], `set the file system type (--fstype, one of ${SUPPORTED_FS_TYPES.join(', ')})`);
  if (!isSupportedFsType(fsType)) return err(104053, [fsType], `supported: ${SUPPORTED_FS_TYPES.join(', ')}`);
  if (/\s/.test(inst.info.options ?? '')) return `mount options must not contain spaces: "${inst.info.options}"`;
  if (type === 'new-fs' && inst.info.formatConfirmed !== 'yes') {
    const partition = inst.info[`partition@${localSystem}`] ?? `partition@${localSystem} (not set)`;
    return `${formatWarning(inst, partition)}\nRefused: nothing was changed. Repeat the command with --yes-destroy-data to format it.`;
  }
  return undefined;
}

/** The seeds' loud warning before a new file system is made on the local partition. */
export function formatWarning(inst: ResourceInstance, partition: string): string {
  return [
    'WARNING: You are about to create a new filesystem with the following attributes.',
    `  Disk Partition: ${partition}`,
    `  Mount Point: ${inst.info.mountPoint}`,
    `  Filesystem Type: ${inst.info.fsType}`,
    `Creating a new filesystem requires formatting ${partition}.`,
    `ALL DATA ON ${partition} WILL BE LOST.`,
  ].join('\n');
}

/** The settings of a file-system type (validated), or undefined for the data replication resource. */
export function fsSettings(inst: ResourceInstance): FsSettings | undefined {
  const type = netraidType(inst);
  if (type !== 'new-fs' && type !== 'existing-fs') return undefined;
  const options = inst.info.options;
  return {
    type,
    mountPoint: inst.info.mountPoint!,
    fsType: inst.info.fsType as SupportedFsType,
    fsTag: inst.info.fsTag ?? inst.info.mountPoint!,
    ...(options ? { options } : {}),
  };
}

/** The gen/filesys resource above the NetRAID device (the create task makes it and the dependency). */
export function filesysParent(inst: ResourceInstance): ResourceInstance[] {
  const fs = fsSettings(inst);
  if (!fs) return [];
  // No SCSI reservation: the device is a mirror of local partitions, not a shared LUN.
  const info: Record<string, string> = { device: `/dev/md${inst.info.number}`, fsType: fs.fsType, deviceMadeBy: inst.tag, fence: 'none' };
  if (fs.options) info.options = fs.options;
  return [{ tag: fs.fsTag, id: fs.mountPoint, app: FILESYS_APP, info }];
}

async function sameDevice(a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  const ra = await realpath(a).catch(() => a);
  const rb = await realpath(b).catch(() => b);
  return ra === rb;
}

export class ReplicatedFs {
  constructor(
    private readonly p: ReplicatedFsPlatform,
    private readonly callTimeoutMs: number,
    /** mkfs of a large device takes long; the kit's create limit is above this. */
    private readonly mkfsTimeoutMs: number,
  ) {}

  /**
   * Everything before mdadm writes to the partition: checks, and for existing-fs the unmount.
   * Throws FsStepError with nothing changed, or returns what the undo must put back.
   */
  async prepare(fs: FsSettings, partition: string, lines: string[]): Promise<FsUndo> {
    const mounts = await this.p.mounts.list();
    const at = mounts.filter((m) => m.mountPoint === fs.mountPoint).at(-1);
    if (fs.type === 'new-fs') {
      for (const m of mounts) {
        if (await sameDevice(m.source, partition)) throw new FsStepError(err(104009, [], `${partition} is mounted on ${m.mountPoint}`));
      }
      if (at) throw new FsStepError(err(104901, [fs.mountPoint]));
      return { type: 'new-fs' };
    }
    if (!at) throw new FsStepError(err(104042, [fs.mountPoint]));
    if (!(await sameDevice(at.source, partition))) {
      throw new FsStepError(err(104009, [], `${fs.mountPoint} is mounted from ${at.source}, not from the partition given, ${partition}`));
    }
    if (at.fsType !== fs.fsType) throw new FsStepError(`${fs.mountPoint} holds a ${at.fsType} file system, not ${fs.fsType}: set fsType=${at.fsType}`);
    let fsBytes: number;
    let partBytes: number;
    try {
      fsBytes = await fileSystemSize(this.p.programs, fs.fsType, partition, this.callTimeoutMs);
      partBytes = (await this.p.blockDevices.info(partition, this.callTimeoutMs)).sizeBytes;
    } catch (e) {
      throw new FsStepError(err(104043, [partition], (e as Error).message));
    }
    const mdBytes = mdDataSizeBytes(partBytes);
    if (fsBytes > mdBytes) throw new FsStepError(err(104044, [Math.ceil(fsBytes / 1024), Math.floor(mdBytes / 1024)]));
    lines.push(`The ${fs.fsType} file system on ${partition} (${Math.ceil(fsBytes / 1024)} KiB) fits in the NetRAID device (${Math.floor(mdBytes / 1024)} KiB of the partition's ${Math.floor(partBytes / 1024)} KiB)`);
    const holders = await this.p.mountHolders.find(fs.mountPoint);
    if (holders.length) {
      throw new FsStepError(err(104045, [fs.mountPoint], `held by ${holders.map((h) => `${h.command}[${h.pid}] ${h.how}`).join(', ')}; stop them first`));
    }
    try {
      await this.p.mountControl.umount(fs.mountPoint, this.callTimeoutMs);
    } catch (e) {
      throw new FsStepError(err(104046, [fs.mountPoint], (e as Error).message));
    }
    lines.push(`Unmounted ${fs.mountPoint} from ${partition}`);
    return { type: 'existing-fs', partition, mountPoint: fs.mountPoint, fsType: at.fsType, options: at.options };
  }

  /** After mdadm made /dev/mdN (running): format it (new-fs), or check that it really holds the file system (existing-fs). */
  async finish(fs: FsSettings, md: string, partition: string, lines: string[]): Promise<void> {
    if (fs.type === 'new-fs') {
      lines.push(`WARNING: ${formatReplicationError(104047, [fs.fsType, md, partition])}`);
      try {
        await makeFileSystem(this.p.programs, fs.fsType, md, this.mkfsTimeoutMs);
      } catch (e) {
        throw new FsStepError(err(104048, [fs.fsType, md], (e as Error).message));
      }
      return;
    }
    // The arithmetic of md-layout.ts decided before; the kernel's own figure is the last word.
    const [fsBytes, info] = await Promise.all([fileSystemSize(this.p.programs, fs.fsType, md, this.callTimeoutMs), this.p.md.arrayInfo(md, this.callTimeoutMs)]);
    if (fsBytes > info.sizeKiB * 1024) throw new FsStepError(err(104044, [Math.ceil(fsBytes / 1024), info.sizeKiB]));
  }

  /** Puts back what prepare changed; the array is stopped and its superblock erased before. */
  async undo(u: FsUndo, lines: string[]): Promise<void> {
    if (u.type === 'new-fs') return;
    await this.p.mountControl.ensureMountPoint(u.mountPoint);
    await this.p.mountControl.mount({ source: u.partition, mountPoint: u.mountPoint, fsType: u.fsType, options: u.options.filter((o) => o !== 'rw') }, this.callTimeoutMs);
    lines.push(`Mounted ${u.partition} on ${u.mountPoint} again`);
  }
}
