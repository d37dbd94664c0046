// gen/nas: the NAS resource of an NFS-backed hierarchy — one per export, the child of the
// gen/filesys resource that mounts it (the create task makes both, see NfsFilesys). Its id is
// the export (SERVER:/path); its info names the mount point, the file-system type and options.
//
// Actions:
//   create     (primary) the export: format (107004/107006), mounted at most once, listed at most
//              once in fstab (keyed by the export, 107001), open to this system in the server's
//              export list (107012), and a mount-authorization check with a time limit (107013
//              when it hangs, 107011 when its temporary directory cannot be made); 107008 when
//              the mount table cannot be read
//   canExtend  (target) the export list and mount-authorization checks again, from the target
//   restore    the server's name resolves (a name-based export; 107002), nothing else to start
//   quickCheck the export answers: a probe of the mount bounded by LKNFSSYSCALLTO, repeated until
//              LKNFSTIMEOUT has passed (export-probe.ts; also when the mount table cannot be
//              read, 107008, which is only logged); failure moves the hierarchy
//              (LKNASERROR=switch) or halts this system at once (LKNASERROR=halt)
//   recover    none: the seeds' kit has no local recovery for a failed export
//   remove, extend, unextend, delete: nothing of the NAS resource's own lives on the system
//              (the mount is the file-system resource's)
import { tmpdir } from 'node:os';
import { isAbsolute } from 'node:path';
import { randomBytes } from 'node:crypto';

import type { MountTable, TimedStat } from '../../platform/platform.js';
import type { MountControl } from '../../platform/mounts.js';
import { DEFAULT_TIME_LIMITS, failed, ok, type ActionContext, type ActionResult, type CheckDepth, type Kit, type ResourceInstance } from '../kit.js';
import { allFstabEntries } from '../filesys/fstab.js';
import { accessFor, parseShowmount } from './export-list.js';
import { probeExport } from './export-probe.js';
import { exportSource, parseExport, sameExportText, type NfsExport } from './export-spec.js';
import { mountAuthorizationCheck } from './mount-check.js';
import { NAS_ERR, nasMessages } from './nas-errors.js';
import { nasAction, readMounts } from './nas-failure.js';
import { NO_NAS_METRICS, type NasMetricsEvents } from './nas-metrics-events.js';
import { mountCheckMs, type NasSettings } from './nas-settings.js';
import type { NasTools } from '../../platform/nas-tools.js';
import { NAS_KIT } from './nfs-filesys.js';

export { NAS_KIT };

export interface NasPlatform {
  mountTable: MountTable;
  mountControl: MountControl;
  timedStat: TimedStat;
}

export interface NasKitOptions {
  settings: NasSettings;
  tools: NasTools;
  fstabPath?: string;
  /** Where the mount-authorization check makes its temporary mount point (default the system's tmp). */
  tmpDir?: string;
  metrics?: NasMetricsEvents;
  /** Pause after a probe that failed at once, ms (default 1000). */
  retryPauseMs?: number;
  /** Limit of the mount-authorization check, ms (default 3 x LKNFSSYSCALLTO + 5 s). */
  mountCheckMs?: number;
}

export class NasKit implements Kit {
  readonly app = NAS_KIT;
  readonly supportsRecover = false;
  readonly maxCheckDepth: CheckDepth = 10;
  readonly tagConflictError = NAS_ERR.TAG_CONFLICT;
  readonly timeLimits;
  private readonly fstabPath: string;
  private readonly tmpDir: string;
  private readonly metrics: NasMetricsEvents;
  private readonly checkMs: number;

  constructor(
    private readonly p: NasPlatform,
    private readonly o: NasKitOptions,
  ) {
    this.fstabPath = o.fstabPath ?? '/etc/fstab';
    this.tmpDir = o.tmpDir ?? tmpdir();
    this.metrics = o.metrics ?? NO_NAS_METRICS;
    const s = o.settings;
    this.checkMs = o.mountCheckMs ?? mountCheckMs(s);
    const checks = this.checkMs + 2 * s.syscallMs + 30_000;
    // The monitor's own bound (LKNFSTIMEOUT) must end before the engine's limit does.
    this.timeLimits = { ...DEFAULT_TIME_LIMITS, create: checks, canExtend: checks, extend: checks, quickCheck: s.overallMs + s.syscallMs + 10_000, restore: 60_000 };
  }

  validate(inst: ResourceInstance): ActionResult {
    const e = parseExport(inst.id);
    if (!e.ok) return failed('fatal', e.reason);
    const mp = inst.info['mountPoint'] ?? '';
    if (!isAbsolute(mp)) return failed('fatal', nasMessages.mountPointNotAbsolute(mp));
    return ok();
  }

  private exportOf(inst: ResourceInstance): NfsExport {
    const e = parseExport(inst.id);
    if (!e.ok) throw new Error(e.reason);
    return e.value;
  }

  private options(inst: ResourceInstance): string[] {
    return (inst.info['options'] ?? '').split(',').filter((o) => o && o !== 'defaults');
  }

  /** The export list and mount-authorization checks, from the system this runs on. */
  private async accessChecks(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const e = this.exportOf(inst);
    const source = exportSource(e);
    const notes: string[] = [];
    const list = await this.o.tools.exportList(e.server, Math.max(this.o.settings.syscallMs * 2, 5_000));
    if (list.ok) {
      const entries = parseShowmount(list.text);
      const v4 = (inst.info['fsType'] ?? 'nfs') === 'nfs4' || this.options(inst).some((o) => /^(vers|nfsvers)=4/.test(o));
      const access = accessFor(entries, e.path, this.o.tools.identity());
      if (access.verdict === 'denied' && !(v4 && !entries.some((x) => e.path === x.path || e.path.startsWith(`${x.path}/`)))) {
        return failed('fatal', nasMessages.exportNotAccessible(source, ctx.system, access.why));
      }
      notes.push(access.verdict === 'allowed' ? `export list: ${access.by}` : `export list: ${access.verdict === 'unknown' ? access.why : 'NFSv4 pseudo path, not listed by path'}; the test mount decides`);
    } else {
      // An NFSv4-only server runs no MOUNT service for showmount; the test mount decides then.
      ctx.log('warn', `${inst.tag}: the export list of ${e.server} is not available (${list.reason}); relying on the test mount`);
      notes.push(`export list not available: ${list.reason}`);
    }
    const check = await mountAuthorizationCheck(this.p.mountControl, {
      source,
      fsType: inst.info['fsType'] ?? 'nfs',
      options: this.options(inst),
      system: ctx.system,
      tmpDir: this.tmpDir,
      timeoutMs: this.checkMs,
    });
    if (!check.ok) return failed('fatal', check.reason);
    notes.push(`mount authorization check passed in ${Math.round(check.ms)} ms`);
    return ok(notes.join('; '));
  }

  async create(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const v = this.validate(inst);
    if (!v.ok) return v;
    return nasAction(() => this.createChecked(inst, ctx));
  }

  private async createChecked(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const e = this.exportOf(inst);
    const source = exportSource(e);
    const mounts = (await readMounts(this.p.mountTable, ctx.system)).filter((m) => sameExportText(m.source, source));
    if (new Set(mounts.map((m) => m.mountPoint)).size > 1) {
      return failed('fatal', nasMessages.createFailed(inst.tag, ctx.system, `${source} is mounted more than once (${mounts.map((m) => m.mountPoint).join(', ')}); the NAS kit protects one mount per export`));
    }
    let fstab;
    try {
      fstab = (await allFstabEntries(this.fstabPath)).filter((l) => sameExportText(l.source, source));
    } catch (err) {
      return failed('fatal', nasMessages.createFailed(inst.tag, ctx.system, `cannot read ${this.fstabPath}: ${(err as Error).message}`));
    }
    if (fstab.length > 1) {
      return failed('fatal', nasMessages.createFailed(inst.tag, ctx.system, `${this.fstabPath} lists ${source} ${fstab.length} times (${fstab.map((l) => l.mountPoint).join(', ')}); keep one line per export`));
    }
    const info: Record<string, string> = {};
    if (!inst.info['options'] && fstab[0]) info['options'] = fstab[0].options;
    const checks = await this.accessChecks({ ...inst, info: { ...inst.info, ...info } }, ctx);
    if (!checks.ok) return checks;
    return { ...ok(checks.reason), ...(Object.keys(info).length ? { info } : {}) };
  }

  async canExtend(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const v = this.validate(inst);
    if (!v.ok) return v;
    return this.accessChecks(inst, ctx);
  }

  async extend(inst: ResourceInstance): Promise<ActionResult> {
    return this.validate(inst);
  }

  async unextend(): Promise<ActionResult> {
    return ok();
  }

  async delete(): Promise<ActionResult> {
    return ok();
  }

  async restore(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    const e = this.exportOf(inst);
    if (e.byAddress) return ok();
    try {
      const addrs = await this.o.tools.resolve(e.server, Math.max(this.o.settings.syscallMs * 2, 5_000));
      if (addrs.length === 0) return failed('move-elsewhere', nasMessages.cannotRestore(inst.tag, ctx.system, nasMessages.noAddresses(e.server, ctx.system, 'the name has no address')));
      return ok(`${e.server} is ${addrs.join(', ')}`);
    } catch (err) {
      return failed('move-elsewhere', nasMessages.cannotRestore(inst.tag, ctx.system, nasMessages.noAddresses(e.server, ctx.system, (err as Error).message)));
    }
  }

  async remove(): Promise<ActionResult> {
    return ok();
  }

  async quickCheck(inst: ResourceInstance, _depth: CheckDepth, ctx: ActionContext): Promise<ActionResult> {
    const mp = inst.info['mountPoint']!;
    let mounted = true;
    try {
      mounted = (await readMounts(this.p.mountTable, ctx.system)).some((m) => m.mountPoint === mp);
    } catch (e) {
      // 107008: whether it is mounted is unknown here, but the probe below still tells whether
      // the export answers, which is this resource's question; the table is not worth a move.
      ctx.log('warn', `${inst.tag}: ${(e as Error).message}; probing the export anyway`);
    }
    // Not mounted: the file-system resource above reports (and mounts again); nothing to probe.
    if (!mounted) return ok(`${mp} is not mounted`);
    // A fresh name each time: its lookup cannot be answered from the client's caches, so every
    // probe is a round trip to the server (ENOENT is the healthy answer).
    const probePath = `${mp}/.vigil-nas-probe-${randomBytes(6).toString('hex')}`;
    const verdict = await probeExport(this.p.timedStat, probePath, { syscallMs: this.o.settings.syscallMs, overallMs: this.o.settings.overallMs, retryPauseMs: this.o.retryPauseMs }, {
      signal: ctx.signal,
      key: mp,
      events: { attempt: (outcome, ms) => this.metrics.probeAttempt(inst.tag, outcome, ms / 1000) },
      healthy: (err) => (err as { code?: string }).code === 'ENOENT',
    });
    this.metrics.exportReachable(inst.tag, verdict.ok);
    if (verdict.ok) return ok(verdict.attempts > 1 ? `answered after ${verdict.attempts} attempts (${verdict.hung} abandoned)` : '');
    if (ctx.signal.aborted) return failed('move-elsewhere', `the probe of ${inst.id} was cancelled`);
    const cause = verdict.cause ?? 'error';
    this.metrics.exportFailed(inst.tag, cause);
    const halt = this.o.settings.onError === 'halt';
    const reason =
      `NFS export ${inst.id} on ${mp} did not answer for ${Math.round(verdict.elapsedMs / 1000)} s (LKNFSTIMEOUT ${this.o.settings.overallMs / 1000} s; ` +
      `${verdict.attempts} attempts of at most ${this.o.settings.syscallMs / 1000} s, ${verdict.hung} abandoned in the kernel; last: ${verdict.lastError}); ` +
      (halt ? 'LKNASERROR=halt: halting this system' : 'LKNASERROR=switch: moving the hierarchy');
    ctx.log('error', `${inst.tag}: ${reason}`, { cause, attempts: verdict.attempts, hung: verdict.hung });
    return failed('move-elsewhere', reason, halt);
  }

  async recover(inst: ResourceInstance): Promise<ActionResult> {
    return failed('move-elsewhere', `no local recovery for a failed NFS export (${inst.id}); the hierarchy moves`);
  }

  canFailoverNow(): { ok: boolean; reason: string } {
    return { ok: true, reason: '' };
  }
}
