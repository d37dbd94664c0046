// The NFS side of gen/filesys: what the file-system kit does differently when its device is an
// NFS export (fsType nfs or nfs4). The instance's device is SERVER:/path as the administrator
// mounted it; when SERVER is a host name the mount is a "bad mount": restore and recovery mount
// by the server's address instead, and a mount found by name is unmounted and remounted by
// address (local recovery). Monitoring of the export itself is the NAS resource's job (the
// child the create task makes, see nas-kit.ts), so quickCheck here only looks at the mount
// table (procfs: cannot hang). Taking the mount out of service is bounded (nfs-release.ts).
// A record that names no device answers 107007 and an unreadable mount table 107008, the seeds'
// numbers, from whichever action meets them (nas-failure.ts).
import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';

import type { MountEntry, MountTable, TimedStat } from '../../platform/platform.js';
import type { FsProbe, MountControl, MountHolders } from '../../platform/mounts.js';
import { failed, ok, type ActionContext, type ActionResult, type ResourceInstance } from '../kit.js';
import { allFstabEntries, removeFstabWhere } from '../filesys/fstab.js';
import { exportSource, parseExport, sameExportText, type NfsExport } from './export-spec.js';
import { nasMessages } from './nas-errors.js';
import { NasFailure, nasAction, readMounts } from './nas-failure.js';
import type { NasMetricsEvents } from './nas-metrics-events.js';
import type { NasSettings } from './nas-settings.js';
import type { NasTools } from '../../platform/nas-tools.js';
import { carriedOptions, optionWarnings } from './nfs-options.js';
import { releaseNfsMount } from './nfs-release.js';

export const NAS_KIT = 'gen/nas';

export interface NfsFilesysPlatform {
  mountTable: MountTable;
  mountControl: MountControl;
  holders: MountHolders;
  probe: FsProbe;
  timedStat: TimedStat;
}

export interface NfsFilesysOptions {
  fstabPath: string;
  settings: NasSettings;
  tools: NasTools;
  metrics: NasMetricsEvents;
  /** Time holders get between TERM and KILL when the mount is released. */
  holderGraceMs?: number;
  /** Limit of each mount, unmount and mount-point call, ms (default 2 x LKNFSSYSCALLTO, at least 10 s). */
  callMs?: number;
}

export type NfsMountState = 'ours' | 'bad-mount' | 'other' | 'none';

/** The NAS resource's tag for an export: device-nas-<server><path>, in tag characters. */
export function nasTagFor(e: NfsExport): string {
  return `device-nas-${e.server}${e.path === '/' ? '' : e.path}`.replace(/[^A-Za-z0-9._/-]/g, '-');
}

export class NfsFilesys {
  /** Addresses each server name resolved to, as last seen (to recognise our own remount by address). */
  private readonly resolved = new Map<string, string[]>();

  constructor(
    private readonly p: NfsFilesysPlatform,
    private readonly o: NfsFilesysOptions,
  ) {}

  private get callMs(): number {
    return this.o.callMs ?? Math.max(this.o.settings.syscallMs * 2, 10_000);
  }

  validate(inst: ResourceInstance): ActionResult {
    if (!isAbsolute(inst.id)) return failed('fatal', nasMessages.mountPointNotAbsolute(inst.id));
    if (inst.id === '/') return failed('fatal', `mount point must be an absolute path other than /, not "${inst.id}"`);
    const e = parseExport(inst.info['device']);
    if (!e.ok) return failed('fatal', e.reason);
    const opts = inst.info['options'] ?? '';
    if (/\s/.test(opts)) return failed('fatal', `mount options must not contain spaces: "${opts}"`);
    return ok();
  }

  childrenForCreate(inst: ResourceInstance): ResourceInstance[] {
    const e = parseExport(inst.info['device']);
    if (!e.ok) return [];
    const info: Record<string, string> = { mountPoint: inst.id, fsType: inst.info['fsType'] ?? 'nfs' };
    if (inst.info['options']) info['options'] = inst.info['options'];
    return [{ tag: nasTagFor(e.value), id: exportSource(e.value), app: NAS_KIT, info }];
  }

  private options(inst: ResourceInstance): string[] {
    return (inst.info['options'] ?? '').split(',').filter((o) => o && o !== 'defaults');
  }

  /** The instance's export; a record with no device is damaged (107007), a malformed one 107004. */
  private exportOf(inst: ResourceInstance, system: string): NfsExport {
    if (!inst.info['device']?.trim()) throw new NasFailure(failed('move-elsewhere', nasMessages.nullDevice(inst.tag, system)));
    const e = parseExport(inst.info['device']);
    if (!e.ok) throw new NasFailure(failed('fatal', e.reason));
    return e.value;
  }

  /** The server's address to mount by: the device's own address, or its name resolved (107002/107003). */
  async addressFor(e: NfsExport, system: string): Promise<{ ok: true; address: string } | { ok: false; reason: string }> {
    if (e.byAddress) return { ok: true, address: e.server };
    let addrs: string[];
    try {
      addrs = await this.o.tools.resolve(e.server, this.callMs);
    } catch (err) {
      return { ok: false, reason: nasMessages.noAddresses(e.server, system, (err as Error).message) };
    }
    if (addrs.length === 0) return { ok: false, reason: nasMessages.noAddresses(e.server, system, 'the name has no address') };
    this.resolved.set(e.server.toLowerCase(), addrs);
    return { ok: true, address: addrs[0]! };
  }

  /** Whether a mount source is this instance's export, by the same spelling or by an address its name had. */
  private isOurs(e: NfsExport, source: string): 'same' | 'by-address' | 'no' {
    if (sameExportText(exportSource(e), source)) return 'same';
    const s = parseExport(source);
    if (!s.ok || s.value.path !== e.path || !s.value.byAddress || e.byAddress) return 'no';
    return (this.resolved.get(e.server.toLowerCase()) ?? []).includes(s.value.server) ? 'by-address' : 'no';
  }

  private async mountAt(mountPoint: string, system: string): Promise<MountEntry | undefined> {
    return (await readMounts(this.p.mountTable, system)).filter((m) => m.mountPoint === mountPoint).at(-1);
  }

  async state(inst: ResourceInstance, system = ''): Promise<NfsMountState> {
    const m = await this.mountAt(inst.id, system);
    if (!m) return 'none';
    const e = this.exportOf(inst, system);
    let mine = this.isOurs(e, m.source);
    if (mine === 'no' && !e.byAddress && !this.resolved.has(e.server.toLowerCase())) {
      // After a restart the name's addresses are not known yet: look them up once (bounded).
      if ((await this.addressFor(e, system)).ok) mine = this.isOurs(e, m.source);
    }
    if (mine === 'no') return 'other';
    const server = parseExport(m.source);
    return server.ok && !server.value.byAddress ? 'bad-mount' : 'ours';
  }

  /** Mount point rules on a system where the export is not mounted yet (104901-104903). */
  private async mountPointRules(mountPoint: string, system: string): Promise<ActionResult> {
    if (!isAbsolute(mountPoint)) return failed('fatal', nasMessages.mountPointNotAbsolute(mountPoint));
    if (await this.mountAt(mountPoint, system)) return failed('fatal', nasMessages.mountPointMounted(mountPoint));
    try {
      const st = await this.p.timedStat.stat(mountPoint, this.callMs);
      if ((st.mode & 0o170000) !== 0o040000) return failed('fatal', nasMessages.mountPointNotEmpty(mountPoint));
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return ok();
      return failed('fatal', `cannot look at the mount point ${mountPoint}: ${(e as Error).message}`);
    }
    try {
      if ((await this.p.probe.readDir(mountPoint, this.callMs)).length > 0) return failed('fatal', nasMessages.mountPointNotEmpty(mountPoint));
    } catch (e) {
      return failed('fatal', `cannot list the mount point ${mountPoint}: ${(e as Error).message}`);
    }
    return ok();
  }

  /** fstab lines for this export (keyed by the export, whatever their mount point). */
  private async fstabLinesFor(e: NfsExport) {
    return (await allFstabEntries(this.o.fstabPath)).filter((l) => this.isOurs(e, l.source) !== 'no');
  }

  async create(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const v = this.validate(inst);
    if (!v.ok) return v;
    return nasAction(() => this.createChecked(inst, ctx));
  }

  private async createChecked(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const e = this.exportOf(inst, ctx.system);
    const here = await this.state(inst, ctx.system);
    if (here === 'other') return failed('fatal', nasMessages.mountPointMounted(inst.id));
    if (here === 'none') {
      const r = await this.mountPointRules(inst.id, ctx.system);
      if (!r.ok) return r;
    }
    const notes: string[] = [];
    const info: Record<string, string> = {};
    let options = this.options(inst);
    if (options.length === 0) {
      // Carry the administrator's options: the fstab line first, else the live mount's.
      const line = (await this.fstabLinesFor(e)).find((l) => l.mountPoint === inst.id);
      const live = here !== 'none' ? await this.mountAt(inst.id, ctx.system) : undefined;
      options = line ? line.options.split(',').filter((o) => o && o !== 'defaults') : live ? carriedOptions(live.options) : [];
      if (options.length) {
        info['options'] = options.join(',');
        notes.push(`mount options carried to the other systems: ${info['options']}`);
      }
    }
    for (const w of optionWarnings(options, this.o.settings)) {
      ctx.log('warn', `${inst.tag}: ${w}`);
      notes.push(`warning: ${w}`);
    }
    if (here === 'bad-mount' || !e.byAddress) {
      const w = `${inst.id} is mounted by host name (${e.server}): a bad mount; it will be unmounted and mounted again by address, which ends the processes using it`;
      ctx.log('warn', `${inst.tag}: ${w}`);
      notes.push(`warning: ${w}`);
    }
    const dropped = await this.dropFstab(inst, e, ctx);
    if (!dropped.ok) return dropped;
    if (dropped.reason) notes.push(dropped.reason);
    return { ...ok(notes.join('\n  ')), ...(Object.keys(info).length ? { info } : {}) };
  }

  private async dropFstab(inst: ResourceInstance, e: NfsExport, ctx: ActionContext): Promise<ActionResult> {
    try {
      const removed = await removeFstabWhere(this.o.fstabPath, (l) => l.mountPoint === inst.id || this.isOurs(e, l.source) !== 'no');
      if (!removed.length) return ok();
      ctx.log('info', `removed the ${this.o.fstabPath} entry for ${inst.id} (old file kept as ${this.o.fstabPath}.vigil-backup)`, { removed });
      return ok(`Removing /etc/fstab entry: ${removed.join(' | ')}`);
    } catch (err) {
      return failed('fatal', `could not update ${this.o.fstabPath}: ${(err as Error).message}`);
    }
  }

  async canExtend(inst: ResourceInstance, system = ''): Promise<ActionResult> {
    const v = this.validate(inst);
    if (!v.ok) return v;
    return nasAction(async () => {
      const r = await this.mountPointRules(inst.id, system);
      if (!r.ok) return r;
      const e = this.exportOf(inst, system);
      const dup = await this.fstabLinesFor(e);
      if (dup.length > 1) return failed('fatal', nasMessages.createFailed(inst.tag, system, `${this.o.fstabPath} lists ${exportSource(e)} ${dup.length} times`));
      return ok();
    });
  }

  async extend(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const c = await this.canExtend(inst, ctx.system);
    if (!c.ok) return c;
    await this.p.mountControl.ensureMountPoint(inst.id);
    return nasAction(() => this.dropFstab(inst, this.exportOf(inst, ctx.system), ctx));
  }

  async unextend(inst: ResourceInstance): Promise<ActionResult> {
    return nasAction(async () => {
      const s = await this.state(inst);
      if (s === 'ours' || s === 'bad-mount') return failed('fatal', `${inst.id} is still mounted; take it out of service first`);
      return ok();
    });
  }

  async restore(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    return nasAction(() => this.restoreChecked(inst, ctx));
  }

  private async restoreChecked(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const here = await this.state(inst, ctx.system);
    if (here === 'ours') return ok('already mounted');
    if (here === 'bad-mount') return ok('mounted by host name (a bad mount; the monitor remounts it by address)');
    if (here === 'other') return failed('fatal', `another file system is mounted on ${inst.id}`);
    return this.mountByAddress(inst, ctx);
  }

  private async mountByAddress(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const e = this.exportOf(inst, ctx.system);
    const a = await this.addressFor(e, ctx.system);
    if (!a.ok) return failed('move-elsewhere', a.reason);
    const source = exportSource({ server: a.address, path: e.path });
    try {
      await this.p.mountControl.ensureMountPoint(inst.id);
      await this.p.mountControl.mount({ source, mountPoint: inst.id, fsType: inst.info['fsType'] ?? 'nfs', options: this.options(inst) }, this.callMs);
    } catch (err) {
      return failed('move-elsewhere', (err as Error).message);
    }
    const now = await this.state(inst, ctx.system);
    if (now !== 'ours') return failed('move-elsewhere', `mount reported success but ${source} is not mounted on ${inst.id}`);
    ctx.log('info', `mounted ${source} on ${inst.id}`);
    return ok(`mounted ${source}`);
  }

  async remove(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    return nasAction(() => this.removeChecked(inst, ctx));
  }

  private async removeChecked(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const here = await this.state(inst, ctx.system);
    if (here === 'none') return ok('not mounted');
    if (here === 'other') return failed('fatal', `another file system is mounted on ${inst.id}; not unmounting it`);
    const out = await releaseNfsMount(
      inst.id,
      this.p,
      { holdersMs: (this.o.holderGraceMs ?? 5_000) + 10_000, graceMs: this.o.holderGraceMs ?? 5_000, umountMs: this.callMs },
      ctx.log,
      this.o.metrics,
    );
    // Released or not, the hierarchy may move: the data is on the server, and nothing here uses
    // the mount any more (its holders were ended).
    return ok(out.free ? `released (${out.by})` : `could not fully release ${inst.id}; its users were ended and it is left to the kernel: ${out.steps.join('; ')}`);
  }

  async quickCheck(inst: ResourceInstance): Promise<ActionResult> {
    return nasAction(async () => {
      const here = await this.state(inst);
      if (here === 'none') return failed('retry-here', `protected file system ${inst.id} is in service but not mounted`);
      if (here === 'other') return failed('fatal', `another file system is mounted on ${inst.id}`);
      if (here === 'bad-mount') return failed('retry-here', `bad mount: ${inst.id} is mounted by host name; it is mounted again by address`);
      return ok();
    });
  }

  /** The only local recovery for NFS: mount again by address (a bad mount, or no mount at all). */
  async recover(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    return nasAction(() => this.recoverChecked(inst, ctx));
  }

  private async recoverChecked(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const here = await this.state(inst, ctx.system);
    if (here === 'other') return failed('fatal', `another file system is mounted on ${inst.id}`);
    if (here === 'ours') return failed('move-elsewhere', 'no local recovery for NFS mounts (the NAS kit moves the hierarchy instead)');
    if (here === 'bad-mount') {
      ctx.log('warn', `attempting local recovery of ${inst.tag}: ${inst.id} is mounted by host name; remounting by address`);
      const rel = await this.removeChecked(inst, ctx);
      if (!rel.ok) {
        this.o.metrics.badMountRemounted(inst.tag, false);
        return failed('move-elsewhere', `bad mount: could not unmount ${inst.id}: ${rel.reason}`);
      }
    }
    const r = await this.mountByAddress(inst, ctx);
    if (here === 'bad-mount') this.o.metrics.badMountRemounted(inst.tag, r.ok);
    return r.ok ? ok(here === 'bad-mount' ? `bad mount repaired: ${r.reason}` : `mounted again: ${r.reason}`) : r;
  }
}
