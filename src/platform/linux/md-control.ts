// md arrays on Linux: ioctls and sysfs through the addon (native/md.cc, on probe threads with a
// time limit) and md's change notifications from its watcher thread. Creating and assembling an
// array, and adding a blank device, run mdadm: those write md's on-disk superblock and bitmap
// format, which is mdadm's contract with the kernel (the kernel only reads and updates it), so
// writing it ourselves would be a second, unreviewed implementation of a disk format. Each
// mdadm run is time-limited and fails with a typed ProgramError.
import { readlink, stat } from 'node:fs/promises';
import { posix } from 'node:path';

import { runProgram } from '../../common/run-program.js';
import { mapNativeError, SysError } from '../errors.js';
import type {
  DevNumber,
  MdArrayInfo,
  MdBitmapInfo,
  MdControl,
  MdCreateSpec,
  MdEvent,
  MdMember,
  MdSyncAction,
  MdSyncStatus,
  MdWatcher,
} from '../platform.js';
import { ProgramError } from '../program-error.js';
import { loadNativeAddon } from './addon-loader.js';
import type { NativeAddon } from './native-addon.js';

// Bits of mdu_disk_info_t.state (linux/raid/md_p.h).
const MD_DISK_FAULTY = 1 << 0;
const MD_DISK_ACTIVE = 1 << 1;
const MD_DISK_SYNC = 1 << 2;
const MD_DISK_WRITEMOSTLY = 1 << 9;
// mdu_array_info_t.state bit 0: the superblock's clean flag.
const MD_SB_CLEAN = 1 << 0;

const SYNC_ACTIONS: readonly MdSyncAction[] = ['idle', 'resync', 'recover', 'check', 'repair', 'reshape', 'frozen'];

/** 'md0' for '/dev/md0'; only /dev/mdN names are accepted. */
export function mdKernelName(md: string): string {
  const m = /^\/dev\/(md\d+)$/.exec(md);
  if (!m) throw new TypeError(`not an md device path (expected /dev/mdN): ${md}`);
  return m[1]!;
}

/** Splits a Linux dev_t (as fs.stat reports it) into major and minor (glibc's gnu_dev_major/minor). */
export function decodeDevNumber(rdev: number): DevNumber {
  const big = BigInt(rdev);
  const major = Number(((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn));
  const minor = Number((big & 0xffn) | ((big >> 12n) & ~0xffn));
  return { major, minor };
}

/** "123 / 456" -> progress; "none", "delayed" and anything else -> undefined. */
export function parseSyncCompleted(text: string): MdSyncStatus['completed'] {
  const m = /^(\d+)\s*\/\s*(\d+)$/.exec(text.trim());
  return m ? { doneSectors: Number(m[1]), totalSectors: Number(m[2]) } : undefined;
}

/** sync_speed: "12345" -> 12345 (KiB/s); "none" (no resync runs) and anything else -> undefined. */
export function parseSyncSpeed(text: string): number | undefined {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

/** "200000 (system)" -> 'system'; "50000 (local)" -> 50000. */
export function parseSpeedMax(text: string): number | 'system' {
  const m = /^(\d+)\s*\((system|local)\)/.exec(text.trim());
  if (!m) return Number(text.trim());
  return m[2] === 'system' ? 'system' : Number(m[1]);
}

export interface LinuxMdControlOptions {
  mdadm?: string;
  sysBlock?: string;
}

export class LinuxMdControl implements MdControl {
  private readonly addon: NativeAddon = loadNativeAddon();
  private readonly mdadm: string;

  constructor(options: LinuxMdControlOptions = {}) {
    this.mdadm = options.mdadm ?? 'mdadm';
  }

  private attr(md: string, attribute: string): string {
    return `/sys/block/${mdKernelName(md)}/md/${attribute}`;
  }

  private async read(md: string, attribute: string, timeoutMs: number): Promise<string> {
    try {
      return (await this.addon.mdSysfsRead(this.attr(md, attribute), timeoutMs)).trim();
    } catch (err) {
      throw mapNativeError(err);
    }
  }

  private async write(md: string, attribute: string, value: string, timeoutMs: number): Promise<void> {
    try {
      await this.addon.mdSysfsWrite(this.attr(md, attribute), value, timeoutMs);
    } catch (err) {
      throw mapNativeError(err);
    }
  }

  private async runMdadm(args: string[], timeoutMs: number): Promise<void> {
    const result = await runProgram(this.mdadm, args, { timeoutMs });
    if (result.code !== 0) throw new ProgramError(this.mdadm, args, result, timeoutMs);
  }

  async create(spec: MdCreateSpec, timeoutMs: number): Promise<void> {
    mdKernelName(spec.md);
    // Metadata 1.0 keeps the superblock (and the internal bitmap) at the end of each member, so
    // the data starts at offset 0: a partition that already holds a file system can become a
    // member without moving it, and the backup's partition holds a plain copy of the data.
    const args = ['--create', spec.md, '--run', '--level=1', `--raid-devices=${spec.members.length}`, '--metadata=1.0', `--bitmap=${spec.bitmap}`];
    if (spec.bitmap === 'internal' && spec.bitmapChunkKiB !== undefined) args.push(`--bitmap-chunk=${spec.bitmapChunkKiB}`);
    await this.runMdadm([...args, ...spec.members], timeoutMs);
  }

  async assemble(md: string, members: string[], timeoutMs: number): Promise<void> {
    mdKernelName(md);
    await this.runMdadm(['--assemble', md, '--run', ...members], timeoutMs);
  }

  async exists(md: string, timeoutMs: number): Promise<boolean> {
    try {
      const state = await this.read(md, 'array_state', timeoutMs);
      return state !== 'clear' && state !== 'inactive';
    } catch (err) {
      if (err instanceof SysError && err.code === 'ENOENT') return false;
      throw err;
    }
  }

  async arrayInfo(md: string, timeoutMs: number): Promise<MdArrayInfo> {
    mdKernelName(md);
    try {
      const raw = await this.addon.mdArrayInfo(md, timeoutMs);
      return {
        md,
        level: raw.level,
        raidDisks: raw.raidDisks,
        nrDisks: raw.nrDisks,
        activeDisks: raw.activeDisks,
        workingDisks: raw.workingDisks,
        failedDisks: raw.failedDisks,
        spareDisks: raw.spareDisks,
        sizeKiB: raw.sizeKiB,
        clean: (raw.state & MD_SB_CLEAN) !== 0,
        metadata: `${raw.majorVersion}.${raw.minorVersion}`,
      };
    } catch (err) {
      throw mapNativeError(err);
    }
  }

  async members(md: string, timeoutMs: number): Promise<MdMember[]> {
    mdKernelName(md);
    let raw;
    try {
      raw = await this.addon.mdMembers(md, timeoutMs);
    } catch (err) {
      throw mapNativeError(err);
    }
    return Promise.all(
      raw.map(async (d): Promise<MdMember> => {
        const name = await readlink(`/sys/dev/block/${d.major}:${d.minor}`).then((l) => posix.basename(l), () => undefined);
        // One "sector length" line per recorded range, acknowledged (written to the superblocks) or
        // not yet (a superblock write that keeps failing never acknowledges them).
        const ranges = (attribute: string) =>
          this.read(md, `dev-${name}/${attribute}`, timeoutMs).then((t) => t.split('\n').filter((l) => l.trim() !== '').length, () => 0);
        const badBlocks = name === undefined ? 0 : (await ranges('bad_blocks')) + (await ranges('unacknowledged_bad_blocks'));
        return {
          number: d.number,
          dev: { major: d.major, minor: d.minor },
          name,
          raidDisk: d.raidDisk,
          faulty: (d.state & MD_DISK_FAULTY) !== 0,
          active: (d.state & MD_DISK_ACTIVE) !== 0,
          sync: (d.state & MD_DISK_SYNC) !== 0,
          writeMostly: (d.state & MD_DISK_WRITEMOSTLY) !== 0,
          badBlocks,
        };
      }),
    );
  }

  private async control(md: string, op: 'setFaulty' | 'hotRemove' | 'stop', dev: DevNumber, timeoutMs: number): Promise<void> {
    mdKernelName(md);
    try {
      await this.addon.mdControl(md, op, dev.major, dev.minor, timeoutMs);
    } catch (err) {
      throw mapNativeError(err);
    }
  }

  setFaulty(md: string, dev: DevNumber, timeoutMs: number): Promise<void> {
    return this.control(md, 'setFaulty', dev, timeoutMs);
  }

  hotRemove(md: string, dev: DevNumber, timeoutMs: number): Promise<void> {
    return this.control(md, 'hotRemove', dev, timeoutMs);
  }

  stop(md: string, timeoutMs: number): Promise<void> {
    return this.control(md, 'stop', { major: 0, minor: 0 }, timeoutMs);
  }

  async add(md: string, devicePath: string, timeoutMs: number, reAdd?: { number: number; raidDisk: number }): Promise<'re-added' | 'added'> {
    mdKernelName(md);
    const dev = await this.devNumber(devicePath);
    const addDisk = async (number: number, raidDisk: number, state: number): Promise<boolean> => {
      try {
        await this.addon.mdAddDisk(md, { ...dev, number, raidDisk, state }, timeoutMs);
        return true;
      } catch (err) {
        const mapped = mapNativeError(err);
        // EINVAL: md refused this kind of add (no superblock of ours, or too old for a re-add).
        if (mapped instanceof SysError && mapped.code === 'EINVAL') return false;
        throw mapped;
      }
    };
    // Back in its old role: md checks the member's superblock against the bitmap and copies only
    // what changed while it was away.
    if (reAdd && (await addDisk(reAdd.number, reAdd.raidDisk, MD_DISK_ACTIVE | MD_DISK_SYNC))) return 're-added';
    // A new member, copied in full. Its old superblock goes first: md (and mdadm --add, which
    // tries a re-add on its own) would take a device that still carries this array's superblock
    // back from the bitmap, copying only what this array wrote since — but a system returning
    // after a takeover may hold writes of its own that never reached this array (proven on a
    // real kernel: 8 sectors copied and the member declared current).
    await this.zeroSuperblock(devicePath, timeoutMs);
    await this.runMdadm(['--manage', md, '--add', devicePath], timeoutMs);
    return 'added';
  }

  /** Erases any md superblock on a device that is not a member (mdadm exits 2 when there is none). */
  async zeroSuperblock(devicePath: string, timeoutMs: number): Promise<void> {
    const args = ['--zero-superblock', devicePath];
    const result = await runProgram(this.mdadm, args, { timeoutMs });
    if (result.code === 0) return;
    if (result.code === 2 && /Unrecognised md component device/i.test(result.stderr)) return;
    throw new ProgramError(this.mdadm, args, result, timeoutMs);
  }

  async syncStatus(md: string, timeoutMs: number): Promise<MdSyncStatus> {
    const [action, arrayState, degraded, completed, speed, rate] = await Promise.all(
      ['sync_action', 'array_state', 'degraded', 'sync_completed', 'sync_speed_max', 'sync_speed'].map((a) => this.read(md, a, timeoutMs)),
    );
    const speedKiB = parseSyncSpeed(rate!);
    return {
      action: (SYNC_ACTIONS as readonly string[]).includes(action!) ? (action as MdSyncAction) : 'idle',
      arrayState: arrayState!,
      degraded: Number(degraded),
      completed: parseSyncCompleted(completed!),
      speedMaxKiB: parseSpeedMax(speed!),
      ...(speedKiB === undefined ? {} : { speedKiB }),
    };
  }

  setSyncAction(md: string, action: Exclude<MdSyncAction, 'reshape'>, timeoutMs: number): Promise<void> {
    return this.write(md, 'sync_action', action, timeoutMs);
  }

  setSyncSpeedMax(md: string, kib: number | 'system', timeoutMs: number): Promise<void> {
    if (kib !== 'system' && (!Number.isInteger(kib) || kib < 1)) throw new RangeError('sync speed must be a positive whole number of KiB/s or "system"');
    return this.write(md, 'sync_speed_max', String(kib), timeoutMs);
  }

  async bitmap(md: string, timeoutMs: number): Promise<MdBitmapInfo> {
    const location = await this.read(md, 'bitmap/location', timeoutMs).catch((err: unknown) => {
      if (err instanceof SysError && err.code === 'ENOENT') return 'none';
      throw err;
    });
    if (location === 'none') return { location };
    const chunk = Number(await this.read(md, 'bitmap/chunksize', timeoutMs));
    return { location, chunkBytes: chunk };
  }

  setMemberFlag(md: string, memberName: string, flag: 'failfast' | '-failfast' | 'writemostly' | '-writemostly', timeoutMs: number): Promise<void> {
    if (!/^[A-Za-z0-9!._-]+$/.test(memberName)) throw new TypeError(`not a block device name: ${memberName}`);
    return this.write(md, `dev-${memberName}/state`, flag, timeoutMs);
  }

  async memberState(md: string, memberName: string, timeoutMs: number): Promise<string[]> {
    if (!/^[A-Za-z0-9!._-]+$/.test(memberName)) throw new TypeError(`not a block device name: ${memberName}`);
    return (await this.read(md, `dev-${memberName}/state`, timeoutMs)).split(',').filter((s) => s !== '');
  }

  async devNumber(devicePath: string): Promise<DevNumber> {
    let st;
    try {
      st = await stat(devicePath);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw SysError.fromCode(e.code ?? 'EIO', 'stat', devicePath);
    }
    if (!st.isBlockDevice()) throw SysError.fromCode('ENOTBLK', 'stat', devicePath);
    return decodeDevNumber(st.rdev);
  }

  watch(md: string, memberNames: string[], onEvent: (event: MdEvent) => void): MdWatcher {
    const base = `/sys/block/${mdKernelName(md)}/md/`;
    const attributes = ['array_state', 'degraded', 'sync_action', 'sync_completed', ...memberNames.map((n) => `dev-${n}/state`)];
    let close: () => void;
    try {
      close = this.addon.mdWatch(
        attributes.map((a) => base + a),
        (raw) => onEvent({ md, attribute: raw.path.slice(base.length), value: raw.value?.trim(), code: raw.code }),
      );
    } catch (err) {
      throw mapNativeError(err);
    }
    return { close };
  }
}
