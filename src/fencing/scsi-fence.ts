// The SCSI-3 persistent-reservation fence, as a small service over ScsiGeneric: register this
// system's key on a LUN, take a LUN over before mounting anything from it (preempt-and-abort every
// other key, hold a WRITE EXCLUSIVE – REGISTRANTS ONLY reservation), check it while in service,
// and release it when going out of service. Decisions come from fence-plan.ts; this file only
// sends the commands and reads the answers. Every command has a time limit (the platform runs it
// on a thread of its own).
import type { ScsiGeneric } from '../platform/platform.js';
import { formatKey } from '../platform/scsi/cdb.js';
import { ScsiCheckConditionError, ScsiReservationConflictError, ScsiUnitAttentionError } from '../platform/scsi/errors.js';
import { fenceKeyFor } from './fence-key.js';
import { FENCE_TYPE, FenceLatch, type FenceVerdict, judge, type LunView, planEviction, planTakeover, takeoverObstacle } from './fence-plan.js';

export interface ScsiFenceOptions {
  /** This system's name; its key is fenceKeyFor(system). */
  system: string;
  /** Time limit of one SCSI command. */
  commandTimeoutMs?: number;
  /** When this system last (re)joined the cluster (ms since the epoch); undefined: not a member. */
  memberSince?: () => number | undefined;
  now?: () => number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** Refusals of the fence that are not SCSI errors: a LUN without reservations, a latched node. */
export class FenceError extends Error {
  constructor(
    readonly code: 'EFENCEUNSUPPORTED' | 'EFENCELATCHED' | 'EFENCELOST' | 'EFENCEOBSTACLE' | 'EFENCED',
    message: string,
  ) {
    super(message);
    this.name = 'FenceError';
  }
}

export interface TakeoverReport {
  key: string;
  preempted: string[];
  registered: boolean;
  reserved: boolean;
}

export class ScsiFence {
  readonly key: bigint;
  private readonly timeoutMs: number;
  private readonly latch = new FenceLatch();
  private readonly now: () => number;

  constructor(
    private readonly scsi: ScsiGeneric,
    private readonly opts: ScsiFenceOptions,
  ) {
    this.key = fenceKeyFor(opts.system);
    this.timeoutMs = opts.commandTimeoutMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  private get o() {
    return { timeoutMs: this.timeoutMs };
  }

  /** Runs `cmd`, absorbing the unit attentions the LUN reports once each; returns the last one seen. */
  private async withUnitAttention<T>(cmd: () => Promise<T>): Promise<{ value: T; ua?: { asc: number; ascq: number } }> {
    let ua: { asc: number; ascq: number } | undefined;
    for (let i = 0; ; i++) {
      try {
        return { value: await cmd(), ua };
      } catch (err) {
        if (!(err instanceof ScsiUnitAttentionError) || i >= 8) throw err;
        // A preemption notice must not be lost behind a later reset notice: keep the first 2Axx.
        if (!ua || ua.asc !== 0x2a) ua = err.sense ? { asc: err.sense.asc, ascq: err.sense.ascq } : ua;
      }
    }
  }

  private unsupported(err: unknown, device: string): never {
    if (err instanceof ScsiCheckConditionError && err.unsupportedCommand) {
      throw new FenceError('EFENCEUNSUPPORTED', `${device} does not implement SCSI-3 persistent reservations (PERSISTENT RESERVE IN refused: ${err.sense?.text ?? 'ILLEGAL REQUEST'}); it cannot be fenced`);
    }
    throw err;
  }

  /** READ KEYS and READ RESERVATION, with any unit attention met on the way. */
  async view(device: string): Promise<{ view: LunView; ua?: { asc: number; ascq: number } }> {
    try {
      const keys = await this.withUnitAttention(() => this.scsi.readKeys(device, this.o));
      const res = await this.withUnitAttention(() => this.scsi.readReservation(device, this.o));
      return { view: { keys: keys.value.keys, reservation: res.value.reservation }, ua: keys.ua ?? res.ua };
    } catch (err) {
      this.unsupported(err, device);
    }
  }

  /** Register this system's key (REGISTER AND IGNORE EXISTING KEY), unless it was fenced and has not rejoined. */
  async register(device: string): Promise<boolean> {
    const { view } = await this.view(device);
    if (view.keys.includes(this.key)) return false;
    if (!this.latch.mayRegister(device, this.opts.memberSince?.())) {
      const f = this.latch.isFenced(device)!;
      throw new FenceError('EFENCELATCHED', `${this.opts.system} was fenced off ${device} (${f.reason}) and has not rejoined the cluster since; it will not register its key again until it has`);
    }
    await this.withUnitAttention(() => this.scsi.registerAndIgnoreExistingKey(device, this.key, this.o));
    this.opts.log?.('info', `registered fence key ${formatKey(this.key)} on ${device}`, { device });
    return true;
  }

  /**
   * Make this system the only registrant and the reservation holder of `device`, preempting (and
   * aborting the commands of) every other key. Resolves only when READ RESERVATION confirms it.
   */
  async takeOver(device: string): Promise<TakeoverReport> {
    const { view } = await this.view(device);
    const obstacle = takeoverObstacle(this.key, view);
    if (obstacle) throw new FenceError('EFENCEOBSTACLE', `cannot take ${device} over: ${obstacle}`);
    const report: TakeoverReport = { key: formatKey(this.key), preempted: [], registered: false, reserved: false };
    for (const step of planTakeover(this.key, view)) {
      switch (step.op) {
        case 'register':
          report.registered = await this.register(device);
          break;
        case 'preempt':
          await this.withUnitAttention(() => this.scsi.preempt(device, this.key, step.victim, FENCE_TYPE, { ...this.o, abort: true }));
          report.preempted.push(formatKey(step.victim));
          break;
        case 'reserve':
          await this.withUnitAttention(() => this.scsi.reserve(device, this.key, FENCE_TYPE, this.o));
          report.reserved = true;
          break;
      }
    }
    const after = await this.view(device);
    const verdict = judge(this.key, after.view);
    if (verdict.state !== 'holding') {
      throw new FenceError('EFENCELOST', `took ${device} over but READ RESERVATION shows ${after.view.reservation ? `${formatKey(after.view.reservation.key)} (${after.view.reservation.type})` : 'no reservation'}`);
    }
    this.opts.log?.('info', `fence: holding ${FENCE_TYPE} on ${device}${report.preempted.length ? `, preempted ${report.preempted.join(', ')}` : ''}`, { device, ...report });
    return report;
  }

  /**
   * Local recovery of something this system already runs: keep the LUN, never take it from
   * anyone. Holding: nothing to send. Still registered and nobody holds the reservation (it was
   * released or lost): RESERVE again. This system's key gone, or another system holding the
   * reservation: it was fenced while it was not looking (frozen, cut off) — latched, and an
   * EFENCED error. Only a takeover the cluster decided (restore) may preempt: a thawed system
   * whose write failed must not preempt the survivor that fenced it.
   */
  async keep(device: string): Promise<{ reserved: boolean }> {
    const fenced = (reason: string): never => {
      this.latch.noteFenced(device, this.now(), reason);
      this.opts.log?.('error', `fence: ${this.opts.system} is fenced off ${device}: ${reason}`, { device });
      throw new FenceError('EFENCED', `${this.opts.system} is fenced off ${device} (${reason}); the system that fenced it runs the hierarchy`);
    };
    const { view, ua } = await this.view(device);
    const verdict = judge(this.key, view, ua);
    // No key and no reservation at all: the LUN lost its reservation state (a target restarted
    // without persisted reservations, or a CLEAR). Nobody fenced this system — a fence leaves the
    // fencer's key and reservation — so it registers again (the latch still applies) and reserves.
    const wiped = verdict.state === 'fenced' && view.keys.length === 0 && !view.reservation;
    if (verdict.state === 'fenced' && !wiped) return fenced(verdict.reason);
    if (verdict.state === 'holding') return { reserved: false };
    if (wiped) await this.register(device);
    else if (verdict.state === 'registered' && verdict.holder !== undefined) return fenced(`the reservation is held by ${formatKey(verdict.holder)}`);
    try {
      await this.withUnitAttention(() => this.scsi.reserve(device, this.key, FENCE_TYPE, this.o));
    } catch (err) {
      if (err instanceof ScsiReservationConflictError) return fenced(`RESERVATION CONFLICT on ${err.command}: another system reserved it first`);
      throw err;
    }
    const after = await this.view(device);
    const again = judge(this.key, after.view, after.ua);
    if (again.state === 'fenced') return fenced(again.reason);
    if (again.state !== 'holding') return fenced(`the reservation is held by ${again.holder !== undefined ? formatKey(again.holder) : 'nobody'} after RESERVE`);
    this.opts.log?.('info', `fence: reserved ${device} again (${FENCE_TYPE})`, { device });
    return { reserved: true };
  }

  /**
   * Register on a LUN shared by every system (the storage quorum LUN) and make sure a FENCE_TYPE
   * reservation is held by someone, so that a key preempted later can no longer write. RESERVE
   * by a registrant while another registrant's reservation exists is a conflict: then the other
   * one got there first, which is as good.
   */
  async join(device: string): Promise<void> {
    await this.register(device);
    const { view } = await this.view(device);
    if (view.reservation) return;
    try {
      await this.withUnitAttention(() => this.scsi.reserve(device, this.key, FENCE_TYPE, this.o));
    } catch (err) {
      if (!(err instanceof ScsiReservationConflictError)) throw err;
    }
  }

  /**
   * Remove `victim`'s key alone (PREEMPT AND ABORT), keeping every other registration. 'won':
   * the victim's key is gone and this system's is still there; 'lost': this system's key was
   * preempted first (it is latched as fenced).
   */
  async evict(device: string, victim: string): Promise<{ outcome: 'won'; preempted: boolean } | { outcome: 'lost'; reason: string }> {
    const victimKey = fenceKeyFor(victim);
    const lost = (reason: string) => {
      this.latch.noteFenced(device, this.now(), reason);
      return { outcome: 'lost' as const, reason };
    };
    const { view } = await this.view(device);
    const plan = planEviction(this.key, victimKey, view);
    if (plan.outcome === 'lost') return lost(plan.reason);
    try {
      for (const step of plan.steps) {
        if (step.op === 'preempt') await this.withUnitAttention(() => this.scsi.preempt(device, this.key, step.victim, FENCE_TYPE, { ...this.o, abort: true }));
        else if (step.op === 'reserve') await this.withUnitAttention(() => this.scsi.reserve(device, this.key, FENCE_TYPE, this.o));
      }
    } catch (err) {
      // Our own key was removed between READ KEYS and PREEMPT: the other side won the race.
      if (err instanceof ScsiReservationConflictError) return lost(`RESERVATION CONFLICT on ${err.command}: preempted by another system first`);
      throw err;
    }
    const after = await this.view(device);
    if (!after.view.keys.includes(this.key)) return lost('this system\'s key was preempted while it evicted ' + victim);
    if (after.view.keys.includes(victimKey)) throw new FenceError('EFENCELOST', `preempted ${formatKey(victimKey)} (${victim}) on ${device} but READ KEYS still lists it`);
    if (plan.outcome === 'preempt') this.opts.log?.('info', `fence: evicted ${victim} (${formatKey(victimKey)}) from ${device}`, { device, victim });
    return { outcome: 'won', preempted: plan.outcome === 'preempt' };
  }

  /**
   * Is this system still registered (and holding)? A fenced verdict closes the latch for the
   * device, as of `fencedSince` when given (the last time the key was seen registered: a fence
   * noticed late, after a link came back, happened before the rejoin that followed it).
   */
  async check(device: string, fencedSince?: number): Promise<FenceVerdict> {
    let verdict: FenceVerdict;
    try {
      const { view, ua } = await this.view(device);
      verdict = judge(this.key, view, ua);
    } catch (err) {
      // A reservation conflict on a PR IN means someone else's exclusive-access reservation bars us.
      if (!(err instanceof ScsiReservationConflictError)) throw err;
      verdict = { state: 'fenced', reason: `RESERVATION CONFLICT on ${err.command}` };
    }
    if (verdict.state === 'fenced') {
      this.latch.noteFenced(device, fencedSince ?? this.now(), verdict.reason);
      this.opts.log?.('error', `fence: ${this.opts.system} is fenced off ${device}: ${verdict.reason}`, { device });
    }
    return verdict;
  }

  /** Note a RESERVATION CONFLICT met by a write elsewhere (the kit's write probe): latch it. */
  noteConflict(device: string, reason: string): void {
    this.latch.noteFenced(device, this.now(), reason);
  }

  fencedOff(device: string): { at: number; reason: string } | undefined {
    return this.latch.isFenced(device);
  }

  /** Release the reservation if this system holds it; the registration stays (the node is still a member). */
  async release(device: string): Promise<boolean> {
    const { view } = await this.view(device);
    if (view.reservation?.key !== this.key) return false;
    await this.withUnitAttention(() => this.scsi.release(device, this.key, FENCE_TYPE, this.o));
    this.opts.log?.('info', `fence: released the reservation on ${device}`, { device });
    return true;
  }
}
