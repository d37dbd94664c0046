// The decisions of the SCSI reservation fence, without I/O: given what READ KEYS and READ
// RESERVATION returned, which PERSISTENT RESERVE OUT steps bring this system to "registered and
// holding the reservation, every other key gone" (takeover), and whether what the monitor saw
// means this system has been fenced. The latch keeps a fenced system from registering again
// until it has rejoined the cluster. scsi-fence.ts executes the steps.
import type { PrType } from '../platform/platform.js';

/** The reservation type of the fence: the holder and registrants write, others only read. */
export const FENCE_TYPE: PrType = 'write-exclusive-registrants-only';

export interface LunView {
  keys: bigint[];
  reservation?: { key: bigint; type: string };
}

export type FenceStep =
  | { op: 'register' }
  /** PREEMPT AND ABORT of `victim`; takes the reservation when the victim holds it. */
  | { op: 'preempt'; victim: bigint; takesReservation: boolean }
  | { op: 'reserve' };

/**
 * Steps that make `myKey` the only registration and the holder of a FENCE_TYPE reservation.
 * The holder is preempted first (that moves the reservation to us in one command, so there is no
 * moment without one), then every other key; RESERVE only when no reservation was taken over.
 */
export function planTakeover(myKey: bigint, view: LunView): FenceStep[] {
  const steps: FenceStep[] = [];
  if (!view.keys.includes(myKey)) steps.push({ op: 'register' });
  const others = [...new Set(view.keys.filter((k) => k !== myKey && k !== 0n))];
  const res = view.reservation;
  let holding = res !== undefined && res.key === myKey && res.type === FENCE_TYPE;
  if (res && res.key !== myKey && res.key !== 0n) {
    steps.push({ op: 'preempt', victim: res.key, takesReservation: true });
    holding = true;
  }
  for (const k of others) if (k !== res?.key) steps.push({ op: 'preempt', victim: k, takesReservation: false });
  if (!holding) steps.push({ op: 'reserve' });
  return steps;
}

export type EvictionPlan =
  /** This system's key is gone: another system evicted it first (it lost the race). */
  | { outcome: 'lost'; reason: string }
  /** The victim holds no registration (already evicted, or never registered): nothing to send. */
  | { outcome: 'gone'; steps: FenceStep[] }
  | { outcome: 'preempt'; steps: FenceStep[] };

/**
 * Steps that remove only `victimKey` (storage quorum: a peer lost from the membership), leaving
 * every other registration alone, and make sure a FENCE_TYPE reservation exists afterwards so
 * the victim's writes are refused. The LUN executes PREEMPTs one at a time and a PREEMPT from a
 * key that is no longer registered fails, so of two systems evicting each other at once exactly
 * one wins.
 */
export function planEviction(myKey: bigint, victimKey: bigint, view: LunView): EvictionPlan {
  if (!view.keys.includes(myKey)) {
    return { outcome: 'lost', reason: `this system's key is no longer registered${view.reservation ? `; the reservation is held by 0x${view.reservation.key.toString(16)}` : ''}` };
  }
  const res = view.reservation;
  const reserve: FenceStep[] = [];
  if (!view.keys.includes(victimKey)) {
    if (!res) reserve.push({ op: 'reserve' });
    return { outcome: 'gone', steps: reserve };
  }
  const takesReservation = res?.key === victimKey;
  const steps: FenceStep[] = [{ op: 'preempt', victim: victimKey, takesReservation }];
  if (!res) steps.push({ op: 'reserve' });
  return { outcome: 'preempt', steps };
}

/** Why the plan cannot work on this view (a reservation of a type the fence does not use, held by us). */
export function takeoverObstacle(myKey: bigint, view: LunView): string | undefined {
  const res = view.reservation;
  if (res && res.key === myKey && res.type !== FENCE_TYPE) return `this system already holds a ${res.type} reservation, not ${FENCE_TYPE}`;
  if (res && res.key === 0n) return `an all-registrants reservation (${res.type}) is on the LUN; the fence uses ${FENCE_TYPE}`;
  return undefined;
}

export type FenceVerdict =
  | { state: 'holding' }
  /** Registered, but another system holds the reservation (or none is held): not fenced, not owner. */
  | { state: 'registered'; holder?: bigint }
  | { state: 'fenced'; reason: string };

/** What the monitor's READ KEYS / READ RESERVATION (and any unit attention on the way) mean. */
export function judge(myKey: bigint, view: LunView, unitAttention?: { asc: number; ascq: number }): FenceVerdict {
  const preempted = unitAttention && unitAttention.asc === 0x2a && (unitAttention.ascq === 0x03 || unitAttention.ascq === 0x05);
  if (!view.keys.includes(myKey)) {
    return { state: 'fenced', reason: `this system's key is no longer registered${preempted ? ' (the LUN reported the preemption)' : ''}${view.reservation ? `; the reservation is held by 0x${view.reservation.key.toString(16)}` : ''}` };
  }
  if (view.reservation?.key === myKey) return { state: 'holding' };
  return { state: 'registered', holder: view.reservation?.key };
}

/**
 * Per-LUN memory of having been fenced. A fenced system must not register again (it would undo
 * the fence) until it has rejoined the cluster: the latch opens only when the caller says the
 * system is a member again after the fence was noticed.
 */
export class FenceLatch {
  private readonly fencedAt = new Map<string, { at: number; reason: string }>();

  noteFenced(device: string, at: number, reason: string): void {
    if (!this.fencedAt.has(device)) this.fencedAt.set(device, { at, reason });
  }

  isFenced(device: string): { at: number; reason: string } | undefined {
    return this.fencedAt.get(device);
  }

  /**
   * May this system register on `device`? `memberSince` is when it last (re)joined the cluster
   * (undefined: not a member). Registering is allowed when never fenced, or when it rejoined after
   * the fence was noticed — and then the latch is cleared.
   */
  mayRegister(device: string, memberSince: number | undefined): boolean {
    const f = this.fencedAt.get(device);
    if (!f) return true;
    if (memberSince === undefined || memberSince <= f.at) return false;
    this.fencedAt.delete(device);
    return true;
  }
}
