// The SCSI reservation fence as gen/filesys uses it (see src/fencing/scsi-fence.ts and
// docs/fencing.md). An instance is fenced when its info says `fence=scsi`, or when the kit's
// default is on (VIGIL_SCSI_FENCE=on) and its info does not say `fence=none`. The LUN is
// `fenceDevice` from the info, else the whole disk under `device`.
//   restore:    takeOver (register, preempt-and-abort every other key, reserve) BEFORE mounting
//   recover:    keep (never preempt): a system whose key is gone or whose reservation another
//               system holds was fenced — fatal, as in quickCheck; local recovery must not undo a
//               fence (a thawed owner whose writes failed would otherwise preempt the survivor)
//   quickCheck: a fenced verdict is a 'fatal' failure: the engine takes the hierarchy out of
//               service here and does not retry or move it (the system that fenced us runs it)
//   remove:     keeps the reservation and the registration: with no reservation on the LUN any
//               system could write, including one that was fenced off and still has the file
//               system mounted with stale state; the next owner preempts us instead
//   create/extend: register this system's key (a LUN without reservations is refused here)
import { failed, ok, type ActionContext, type ActionResult, type ResourceInstance } from '../kit.js';
import { FenceError, type ScsiFence } from '../../fencing/scsi-fence.js';
import { lunOf } from '../../fencing/lun-of.js';

export interface FilesysFence {
  service: ScsiFence;
  /** VIGIL_SCSI_FENCE=on: fence every instance whose info does not say fence=none. */
  defaultOn: boolean;
  /** Maps a device to its LUN (default: lunOf, through sysfs). */
  lunOf?: (device: string) => Promise<string>;
}

export const FENCE_VALUES = ['scsi', 'none'] as const;

export function validateFenceInfo(inst: ResourceInstance): string | undefined {
  const f = inst.info['fence'];
  if (f !== undefined && f !== '' && !(FENCE_VALUES as readonly string[]).includes(f)) return `fence must be scsi or none, not "${f}"`;
  const d = inst.info['fenceDevice'];
  if (d !== undefined && d !== '' && !d.startsWith('/')) return `fenceDevice must be an absolute path, not "${d}"`;
  return undefined;
}

export class FilesysFenceHooks {
  constructor(private readonly fence: FilesysFence | undefined) {}

  /** Whether the instance is fenced; a 'fence=scsi' instance on a kit without a fence service is an error. */
  wanted(inst: ResourceInstance): boolean {
    const f = inst.info['fence'];
    if (f === 'none') return false;
    return f === 'scsi' || (this.fence?.defaultOn ?? false);
  }

  private async lun(inst: ResourceInstance): Promise<string> {
    const explicit = inst.info['fenceDevice'];
    if (explicit) return explicit;
    return (this.fence?.lunOf ?? lunOf)(inst.info['device']!);
  }

  private missing(inst: ResourceInstance): ActionResult {
    return failed('fatal', `${inst.tag} asks for fence=scsi but this vigild has no SCSI fence (set VIGIL_SCSI_FENCE=on or remove the fence setting)`);
  }

  private classify(err: unknown, what: string): ActionResult {
    const msg = `${what}: ${(err as Error).message}`;
    if (err instanceof FenceError && (err.code === 'EFENCEUNSUPPORTED' || err.code === 'EFENCELATCHED' || err.code === 'EFENCEOBSTACLE' || err.code === 'EFENCED')) return failed('fatal', msg);
    return failed('move-elsewhere', msg);
  }

  /**
   * The fence step of an action: nothing when the instance is not fenced, a clear refusal when
   * no fence service exists, else `step` on its LUN, with a failure classified as fatal or not.
   */
  private async onLun(inst: ResourceInstance, failure: string, step: (service: ScsiFence, lun: string) => Promise<void>): Promise<ActionResult> {
    if (!this.wanted(inst)) return ok();
    if (!this.fence) return this.missing(inst);
    try {
      await step(this.fence.service, await this.lun(inst));
      return ok();
    } catch (err) {
      return this.classify(err, failure);
    }
  }

  /** create / extend: register this system's key on the LUN. */
  register(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    return this.onLun(inst, `cannot register the fence key for ${inst.tag}`, async (service, lun) => {
      const added = await service.register(lun);
      ctx.log('info', added ? `fence: registered on ${lun}` : `fence: already registered on ${lun}`, { tag: inst.tag, lun });
    });
  }

  /** restore, before the mount. */
  beforeMount(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    return this.onLun(inst, `fence of ${inst.tag} failed; not mounting`, async (service, lun) => {
      const report = await service.takeOver(lun);
      ctx.log('info', `fence: ${lun} reserved for ${ctx.system}${report.preempted.length ? `; preempted ${report.preempted.join(', ')}` : ''}`, { tag: inst.tag, lun, ...report });
    });
  }

  /** recover (local recovery of a resource in service here), before the remount or mount. */
  beforeRecover(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    return this.onLun(inst, `fence of ${inst.tag}: not recovering here`, async (service, lun) => {
      const r = await service.keep(lun);
      if (r.reserved) ctx.log('info', `fence: ${lun} reserved again for ${ctx.system}`, { tag: inst.tag, lun });
    });
  }

  /** quickCheck, before the file-system checks. */
  async monitor(inst: ResourceInstance, ctx: ActionContext | undefined): Promise<ActionResult> {
    if (!this.wanted(inst)) return ok();
    if (!this.fence) return this.missing(inst);
    let lun: string;
    try {
      lun = await this.lun(inst);
    } catch (err) {
      return failed('retry-here', `cannot find the LUN of ${inst.info['device']}: ${(err as Error).message}`);
    }
    try {
      const v = await this.fence.service.check(lun);
      if (v.state === 'fenced') {
        ctx?.log('error', `fence: ${inst.tag} is fenced off ${lun}; taking it out of service here`, { tag: inst.tag, lun });
        return failed('fatal', `fenced off ${lun} by another system (${v.reason}); out of service here, not retried`);
      }
      if (v.state === 'registered' && v.holder !== undefined) {
        this.fence.service.noteConflict(lun, `the reservation is held by 0x${v.holder.toString(16)}`);
        return failed('fatal', `another system holds the reservation of ${lun} (0x${v.holder.toString(16)}); out of service here`);
      }
      if (v.state === 'registered') return failed('retry-here', `no reservation is held on ${lun}; recover takes it again`);
      return ok();
    } catch (err) {
      if (this.fence.service.fencedOff(lun)) return failed('fatal', `fenced off ${lun}: ${(err as Error).message}`);
      return failed('retry-here', `cannot check the fence on ${lun}: ${(err as Error).message}`);
    }
  }

}
