// gen/filesys: protects a file system on a block device (shared storage, or a loop device in
// tests). The instance id is the mount point.
//
// Instance settings (ResourceInstance.info):
//   device   block device path, e.g. /dev/sdb1 (required)
//   fsType   e.g. ext4 (required)
//   options  mount options, comma separated (optional; "defaults" when empty)
//   fence    scsi | none: SCSI-3 reservation fence of the LUN (optional; default from
//            VIGIL_SCSI_FENCE; see fence-hooks.ts and docs/fencing.md)
//   fenceDevice  the LUN to fence (optional; default: the whole disk under `device`)
//   deviceMadeBy the tag of the resource beneath that makes the device (scsi/netraid sets it on
//            the file system of a replicated file system): the device is not required to exist
//            where that resource is out of service (extend to the backup)
//
// Actions:
//   create     the file system is mounted here, or its device is usable here (the create task
//              mounts it next); its /etc/fstab line is removed, the old file kept as
//              fstab.vigil-backup (undoCreate, when the task fails later, puts the line back)
//   canExtend  the device exists on the target and the mount point is not used by something else
//   extend     creates the mount point and removes a stray fstab line there too
//   restore    mounts (idempotent: an identical mount is success; a different file system on the
//              mount point is fatal)
//   remove     ends the processes holding the mount (found via /proc, TERM then KILL) and unmounts
//   quickCheck depth 0: mounted (mount table from procfs); 10: the mount point can be stat'ed and
//              listed within the time limit; 20: a probe file can be written and fsync'ed
//   recover    mounts again when unmounted, remounts with the configured options otherwise
//
// Everything that can block in the kernel (mount, stat, readdir, write) runs through the
// platform with a time limit.
//
// NFS (fsType nfs or nfs4, device SERVER:/path): every action goes to NfsFilesys (the NAS kit's
// side of this kit, src/kits/nas/nfs-filesys.ts), and create makes a gen/nas resource for the
// export beneath the file system (childrenForCreate).

import { realpath } from 'node:fs/promises';
import { isAbsolute } from 'node:path';

import type { MountEntry, MountTable, TimedStat } from '../../platform/platform.js';
import type { FsProbe, MountControl, MountHolders } from '../../platform/mounts.js';
import { DEFAULT_TIME_LIMITS, failed, ok, type ActionContext, type ActionResult, type CheckDepth, type Kit, type ResourceInstance } from '../kit.js';
import { type FilesysFence, FilesysFenceHooks, validateFenceInfo } from './fence-hooks.js';
import { fstabEntries, removeFstabEntries, restoreFstabLines } from './fstab.js';
import { isNfsType } from '../nas/export-spec.js';
import type { NfsFilesys } from '../nas/nfs-filesys.js';

export const FILESYS_KIT = 'gen/filesys';

export interface FilesysPlatform {
  mountTable: MountTable;
  mountControl: MountControl;
  holders: MountHolders;
  probe: FsProbe;
  timedStat: TimedStat;
}

export interface FilesysKitOptions {
  fstabPath?: string;
  /** Time limit for one mount/umount/probe call. */
  callTimeoutMs?: number;
  /** Time holders get between TERM and KILL. */
  holderGraceMs?: number;
  /** NFS support (the NAS kit); without it NFS file systems are refused. */
  nfs?: NfsFilesys;
  /** The SCSI reservation fence (fence-hooks.ts); without it, instances asking for fence=scsi are refused. */
  fence?: FilesysFence;
}

export class FilesysKit implements Kit {
  readonly app = FILESYS_KIT;
  readonly timeLimits = { ...DEFAULT_TIME_LIMITS, restore: 120_000, remove: 120_000, quickCheck: 30_000, recover: 60_000 };
  readonly supportsRecover = true;
  readonly maxCheckDepth: CheckDepth = 20;
  private readonly fstabPath: string;
  private readonly callMs: number;
  private readonly graceMs: number;
  private readonly nfs: NfsFilesys | undefined;
  private readonly fence: FilesysFenceHooks;
  /** fstab lines create removed, by tag, until the create task is over (undoCreate puts them back). */
  private readonly removedAtCreate = new Map<string, string[]>();

  constructor(private readonly p: FilesysPlatform, opts: FilesysKitOptions = {}) {
    this.fstabPath = opts.fstabPath ?? '/etc/fstab';
    this.callMs = opts.callTimeoutMs ?? 20_000;
    this.graceMs = opts.holderGraceMs ?? 5_000;
    this.nfs = opts.nfs;
    this.fence = new FilesysFenceHooks(opts.fence);
  }

  /** NfsFilesys for an NFS instance, a refusal when NFS support is not configured, undefined otherwise. */
  private nfsFor(inst: ResourceInstance): NfsFilesys | ActionResult | undefined {
    if (!isNfsType(inst.info['fsType'])) return undefined;
    return this.nfs ?? failed('fatal', `${inst.info['fsType']} file systems need the NAS kit, which is not configured on this system`);
  }

  childrenForCreate(inst: ResourceInstance): ResourceInstance[] {
    return isNfsType(inst.info['fsType']) && this.nfs ? this.nfs.childrenForCreate(inst) : [];
  }

  validate(inst: ResourceInstance): ActionResult {
    const n = this.nfsFor(inst);
    if (n) return 'ok' in n ? n : n.validate(inst);
    if (!isAbsolute(inst.id) || inst.id === '/') return failed('fatal', `mount point must be an absolute path other than /, not "${inst.id}"`);
    const dev = inst.info['device'];
    if (!dev || !isAbsolute(dev)) return failed('fatal', `device must be an absolute path, not "${dev ?? ''}"`);
    const fsType = inst.info['fsType'];
    if (!fsType || !/^[a-z0-9.]+$/.test(fsType)) return failed('fatal', `fsType must name a file system type, not "${fsType ?? ''}"`);
    const opts = inst.info['options'] ?? '';
    if (/\s/.test(opts)) return failed('fatal', `mount options must not contain spaces: "${opts}"`);
    const fenceProblem = validateFenceInfo(inst);
    if (fenceProblem) return failed('fatal', fenceProblem);
    return ok();
  }

  private options(inst: ResourceInstance): string[] {
    return (inst.info['options'] ?? '').split(',').filter((o) => o && o !== 'defaults');
  }

  private async sameDevice(a: string, b: string): Promise<boolean> {
    if (a === b) return true;
    try {
      return (await realpath(a)) === (await realpath(b));
    } catch {
      return false;
    }
  }

  /** The top-most mount on the mount point, if any. */
  private async mountAt(mountPoint: string): Promise<MountEntry | undefined> {
    const all = await this.p.mountTable.list();
    return all.filter((m) => m.mountPoint === mountPoint).at(-1);
  }

  private async mountedHere(inst: ResourceInstance): Promise<'ours' | 'other' | 'none'> {
    const m = await this.mountAt(inst.id);
    if (!m) return 'none';
    return (await this.sameDevice(m.source, inst.info['device']!)) ? 'ours' : 'other';
  }

  async create(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const n = this.nfsFor(inst);
    if (n) return 'ok' in n ? n : n.create(inst, ctx);
    const v = this.validate(inst);
    if (!v.ok) return v;
    const here = await this.mountedHere(inst);
    if (here === 'other') return failed('fatal', `another file system is mounted on ${inst.id}`);
    if (here === 'none') {
      // Not mounted yet: acceptable when the device is usable here (the create task's restore
      // mounts it right after).
      const c = await this.canExtend(inst);
      if (!c.ok) return c;
    }
    const fenced = await this.fence.register(inst, ctx);
    if (!fenced.ok) return fenced;
    this.removedAtCreate.delete(inst.tag);
    return this.dropFstab(inst, ctx, true);
  }

  /**
   * The create task failed after create: the resource is out of service; what delete checks,
   * and the fstab lines create removed are put back (the file system is the administrator's
   * again, as before create).
   */
  async undoCreate(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const d = await this.delete(inst);
    const removed = this.removedAtCreate.get(inst.tag);
    this.removedAtCreate.delete(inst.tag);
    if (!d.ok || !removed?.length) return d;
    try {
      const added = await restoreFstabLines(this.fstabPath, removed);
      if (added.length) ctx.log('info', `put back the /etc/fstab entry for ${inst.id}`, { added });
      return ok(added.length ? `put back fstab entry: ${added.join(' | ')}` : '');
    } catch (e) {
      return failed('fatal', `could not put back the fstab entry of ${inst.id} in ${this.fstabPath} (${removed.join(' | ')}): ${(e as Error).message}`);
    }
  }

  private async dropFstab(inst: ResourceInstance, ctx: ActionContext, atCreate = false): Promise<ActionResult> {
    try {
      const removed = await removeFstabEntries(this.fstabPath, inst.id);
      if (atCreate && removed.length) this.removedAtCreate.set(inst.tag, removed);
      if (removed.length) {
        ctx.log('info', `removed /etc/fstab entry for ${inst.id} (old file kept as ${this.fstabPath}.vigil-backup)`, { removed });
        return ok(`removed fstab entry: ${removed.join(' | ')}`);
      }
      return ok('no fstab entry');
    } catch (e) {
      return failed('fatal', `could not update ${this.fstabPath}: ${(e as Error).message}`);
    }
  }

  async canExtend(inst: ResourceInstance): Promise<ActionResult> {
    const n = this.nfsFor(inst);
    if (n) return 'ok' in n ? n : n.canExtend(inst);
    const v = this.validate(inst);
    if (!v.ok) return v;
    // A device that a resource beneath makes (scsi/netraid's /dev/mdN) exists only where that
    // resource is in service: its own kit checks what it is made of.
    if (!inst.info['deviceMadeBy']) {
      try {
        const st = await this.p.timedStat.stat(inst.info['device']!, this.callMs);
        if ((st.mode & 0o170000) !== 0o060000) return failed('fatal', `${inst.info['device']} is not a block device`);
      } catch (e) {
        return failed('fatal', `device ${inst.info['device']} is not usable here: ${(e as Error).message}`);
      }
    }
    if ((await this.mountedHere(inst)) === 'other') return failed('fatal', `something else is mounted on ${inst.id}`);
    const dup = await fstabEntries(this.fstabPath, inst.id);
    if (dup.length > 1) return failed('fatal', `${this.fstabPath} lists ${inst.id} ${dup.length} times`);
    return ok();
  }

  async extend(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const n = this.nfsFor(inst);
    if (n) return 'ok' in n ? n : n.extend(inst, ctx);
    const c = await this.canExtend(inst);
    if (!c.ok) return c;
    await this.p.mountControl.ensureMountPoint(inst.id);
    const fenced = await this.fence.register(inst, ctx);
    if (!fenced.ok) return fenced;
    return this.dropFstab(inst, ctx);
  }

  async unextend(inst: ResourceInstance): Promise<ActionResult> {
    const n = this.nfsFor(inst);
    if (n) return 'ok' in n ? n : n.unextend(inst);
    if ((await this.mountedHere(inst)) === 'ours') return failed('fatal', `${inst.id} is still mounted; take it out of service first`);
    return ok();
  }

  async delete(inst: ResourceInstance): Promise<ActionResult> {
    return this.unextend(inst);
  }

  async restore(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const n = this.nfsFor(inst);
    if (n) return 'ok' in n ? n : n.restore(inst, ctx);
    const here = await this.mountedHere(inst);
    if (here === 'ours') return ok('already mounted');
    if (here === 'other') return failed('fatal', `another file system is mounted on ${inst.id}`);
    // The fence comes first: nothing is mounted until every other system's key is preempted.
    const fenced = await this.fence.beforeMount(inst, ctx);
    if (!fenced.ok) return fenced;
    return this.mountHere(inst, ctx);
  }

  /** Mounts the file system (the fence already done by the caller). */
  private async mountHere(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    try {
      await this.p.mountControl.ensureMountPoint(inst.id);
      await this.p.mountControl.mount(
        { source: inst.info['device']!, mountPoint: inst.id, fsType: inst.info['fsType']!, options: this.options(inst) },
        this.callMs,
      );
    } catch (e) {
      return failed('move-elsewhere', (e as Error).message);
    }
    if ((await this.mountedHere(inst)) !== 'ours') return failed('move-elsewhere', `mount reported success but ${inst.id} is not mounted`);
    ctx.log('info', `mounted ${inst.info['device']} on ${inst.id}`);
    return ok();
  }

  async remove(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const n = this.nfsFor(inst);
    if (n) return 'ok' in n ? n : n.remove(inst, ctx);
    for (let attempt = 1; attempt <= 3; attempt++) {
      const here = await this.mountedHere(inst);
      if (here === 'none') return ok(attempt === 1 ? 'not mounted' : '');
      if (here === 'other') return failed('fatal', `another file system is mounted on ${inst.id}; not unmounting it`);
      const holders = await this.p.holders.find(inst.id);
      if (holders.length) {
        ctx.log('warn', `ending processes that hold ${inst.id}`, { holders });
        await this.p.holders.end(holders, this.graceMs);
      }
      try {
        await this.p.mountControl.umount(inst.id, this.callMs);
      } catch (e) {
        ctx.log('warn', `unmount of ${inst.id} failed (attempt ${attempt})`, { error: (e as Error).message });
        if (attempt === 3) return failed('fatal', `could not unmount ${inst.id}: ${(e as Error).message}`);
      }
    }
    return (await this.mountedHere(inst)) === 'none' ? ok() : failed('fatal', `${inst.id} is still mounted`);
  }

  async quickCheck(inst: ResourceInstance, depth: CheckDepth, ctx?: ActionContext): Promise<ActionResult> {
    const n = this.nfsFor(inst);
    if (n) return 'ok' in n ? n : n.quickCheck(inst);
    const here = await this.mountedHere(inst);
    if (here === 'none') return failed('retry-here', `${inst.id} is not mounted`);
    if (here === 'other') return failed('fatal', `another file system is mounted on ${inst.id}`);
    // Fenced off the LUN: the file system's writes fail with RESERVATION CONFLICT; the system that
    // preempted us runs the hierarchy now, so this is no failure to recover from here.
    const fenced = await this.fence.monitor(inst, ctx);
    if (!fenced.ok) return fenced;
    if (depth >= 10) {
      try {
        await this.p.timedStat.stat(inst.id, this.callMs);
        await this.p.probe.readDir(inst.id, this.callMs);
      } catch (e) {
        return failed('retry-here', `cannot read ${inst.id}: ${(e as Error).message}`);
      }
    }
    if (depth >= 20) {
      const m = await this.mountAt(inst.id);
      if (m && !m.options.includes('ro')) {
        try {
          await this.p.probe.writeProbe(inst.id, this.callMs);
        } catch (e) {
          return failed('retry-here', `cannot write ${inst.id}: ${(e as Error).message}`);
        }
      }
    }
    return ok();
  }

  async recover(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const n = this.nfsFor(inst);
    if (n) return 'ok' in n ? n : n.recover(inst, ctx);
    const here = await this.mountedHere(inst);
    if (here === 'other') return failed('fatal', `another file system is mounted on ${inst.id}`);
    // Local recovery keeps the LUN but never takes it from another system: a reservation that
    // went missing (registered, nobody holds it) is taken again; a key preempted meanwhile means
    // this system was fenced (frozen or cut off while a survivor took over) and stops here.
    const fenced = await this.fence.beforeRecover(inst, ctx);
    if (!fenced.ok) return fenced;
    if (here === 'none') {
      const r = await this.mountHere(inst, ctx);
      return r.ok ? ok('mounted again') : r;
    }
    try {
      // remount keeps flags not named, so a file system the kernel turned read-only (after an
      // I/O error) stays read-only unless 'rw' is asked for explicitly.
      const opts = this.options(inst);
      await this.p.mountControl.remount(inst.id, opts.includes('ro') ? opts : ['rw', ...opts.filter((o) => o !== 'rw')], this.callMs);
    } catch (e) {
      return failed('move-elsewhere', (e as Error).message);
    }
    const check = await this.quickCheck(inst, 10);
    return check.ok ? ok('remounted') : failed('move-elsewhere', `still failing after remount: ${check.reason}`);
  }

  canFailoverNow(): { ok: boolean; reason: string } {
    return { ok: true, reason: '' };
  }
}
