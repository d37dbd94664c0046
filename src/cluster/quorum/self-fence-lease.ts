// Self-fencing with a kernel watchdog (issue #15; sbd's watchdog model), as an I/O-free state
// machine driven by step() and tick(): the lease that lets the watchdog keeper
// (platform/watchdog.ts, native/watchdog.cc) go on petting, and the timing that goes with it.
//
// Why: a system cut off from the others must stop serving before a survivor takes its
// hierarchies over (gate.ts, the survivor hold). Its loss action runs on the event loop, and a
// loop starved of CPU notices the loss, and acts, late. The keeper pets the watchdog on its own
// real-time thread, but only while the lease deadline lies ahead; the event loop renews the lease
// only from fresh evidence that this system may serve. A starved loop renews nothing, the keeper
// stops petting, and the kernel resets the machine.
//
// The lease. While nothing is in service here (no resource ISP/ISU, no operation running or
// queued) there is nothing to fence: the lease is unbounded. While something is, the lease ends
// `leaseMs` after the evidence it was last renewed on was gathered: deadline = evidenceAt +
// leaseMs, where evidenceAt is the time of the oldest fact the current quorum "yes" rests on
// (gate.evidenceAtMs: a witness probe round's start, the send time of a heartbeat a peer echoed,
// the issue of this system's last storage record write; "now" where nothing outside can take
// quorum away: QUORUM_MODE=none, two systems without witness hosts). Evidence older than
// leaseMs renews nothing; a deadline only moves forward; and once it has passed while serving the
// lease is lapsed for good (as the keeper, which never pets again): a renewal after the lapse
// would come after a survivor may already have counted this system gone. Something coming in
// service with no quorum verdict at all (the clean-up of an agent that starts with resources
// recorded in service) gets one lease from that moment.
//
// The arithmetic (selfFenceTiming, the one place it is computed):
//   evidence age  the age fresh evidence normally reaches before the next renews it, which is
//                 also how long a loser that still runs takes to decide it lost quorum:
//                 witness hosts: probe period + QUORUM_TIMEOUT_SECS (a round's answers may take
//                   the whole time limit); majority (peers' echoes): LCMNUMHBEATS x LCMHBEATTIME
//                   (past it the peer is declared dead anyway); storage: (N-1) x T (past it the
//                   storage verdict says no); none: 0.
//   leaseMs     = evidence age + loss action allowance + grace. The allowance (QUORUM_TIMEOUT_SECS
//                 with osu, 0 with fastkill/fastboot: loss-action.ts) lets a loser whose event
//                 loop runs finish its loss action before the lease lapses: only one that does
//                 not act in time is reset. grace = max(2 s, 2 x LCMHBEATTIME): room for the event
//                 loop's own hiccups (a GC, a burst of work) before a renewal counts as missed.
//   reset by      evidenceAt + leaseMs + WATCHDOG_TIMEOUT_SECS: the keeper's last pet comes
//                 before the deadline and the kernel fires one timeout after the last pet.
//   hold        = leaseMs + WATCHDOG_TIMEOUT_SECS + 2 x LCMHBEATTIME: how long a survivor waits
//                 after losing sight of a system (gate.ts survivorHoldMs takes the larger of this
//                 and its own hold). The lost system's last evidence is no later than the last
//                 contact the survivor had with it (its witness probes, echoes and storage writes
//                 stop succeeding at the cut), and the survivor notices the loss no earlier than
//                 that contact; two heartbeat intervals are the same margin the quorum hold keeps
//                 for the sides' detection times.
// Every system must use the same values: a survivor reasons about the lost system's watchdog
// with its own settings.
// A lease that lapses while the loss action (osu) is still taking hierarchies out of service
// (remove scripts slower than their allowance) resets the machine: with a watchdog, leaseMs +
// WATCHDOG_TIMEOUT_SECS bounds how long a system without quorum may keep anything in service.
import type { StorageTiming } from './storage-watch.js';
import type { QuorumMode } from './votes.js';

export interface SelfFenceTimingInput {
  mode: QuorumMode;
  /** Whether witness hosts take part (QUORUM_HOSTS with majority or tcp_remote). */
  usesHosts: boolean;
  probePeriodMs: number;
  /** QUORUM_TIMEOUT_SECS in ms. */
  probeTimeoutMs: number;
  /** LCMHBEATTIME in ms and LCMNUMHBEATS. */
  heartbeatMs: number;
  missedHeartbeats: number;
  /** QUORUM_MODE=storage: QWK_STORAGE_HBEATTIME and QWK_STORAGE_NUMHBEATS. */
  storage?: StorageTiming;
  /** Time a loser's loss action is allowed (loss-action.ts lossActionAllowanceMs). */
  lossActionMs: number;
  /** The watchdog's timeout as the driver uses it (WATCHDOG_TIMEOUT_SECS, read back), in ms. */
  watchdogTimeoutMs: number;
}

export interface SelfFenceTiming {
  evidenceAgeMs: number;
  graceMs: number;
  leaseMs: number;
  /** The survivor hold the watchdog needs (gate.ts QuorumGateConfig.selfFenceHoldMs). */
  holdMs: number;
}

/** What the age of the quorum evidence depends on (the self-fence inputs without the loss action and the watchdog). */
export type EvidenceTimingInput = Omit<SelfFenceTimingInput, 'lossActionMs' | 'watchdogTimeoutMs'>;

/**
 * The age fresh quorum evidence normally reaches before the next renews it, and the grace for
 * the event loop's own hiccups: a "yes" resting on evidence older than their sum is stale. The
 * lease is renewed only from evidence younger than that (plus the loss action allowance), and the
 * quorum gate brings nothing in service on evidence older than it (gate.ts evidenceStaleMs).
 */
export function evidenceTiming(i: EvidenceTimingInput): { evidenceAgeMs: number; graceMs: number } {
  let evidenceAgeMs = 0;
  if (i.mode === 'storage') evidenceAgeMs = (i.storage!.numHbeats - 1) * i.storage!.intervalMs;
  else if (i.mode !== 'none') {
    if (i.usesHosts) evidenceAgeMs = i.probePeriodMs + i.probeTimeoutMs;
    if (i.mode === 'majority') evidenceAgeMs = Math.max(evidenceAgeMs, i.missedHeartbeats * i.heartbeatMs);
  }
  return { evidenceAgeMs, graceMs: Math.max(2000, 2 * i.heartbeatMs) };
}

export function selfFenceTiming(i: SelfFenceTimingInput): SelfFenceTiming {
  const { evidenceAgeMs, graceMs } = evidenceTiming(i);
  const leaseMs = evidenceAgeMs + i.lossActionMs + graceMs;
  return { evidenceAgeMs, graceMs, leaseMs, holdMs: leaseMs + i.watchdogTimeoutMs + 2 * i.heartbeatMs };
}

export type SelfFenceEvent =
  /** Whether anything is in service here, or an operation runs or waits on a hierarchy here. */
  | { type: 'serving'; serving: boolean; nowMs: number }
  /** The time of the oldest fact the quorum "yes" rests on; undefined: no "yes" now. */
  | { type: 'evidence'; atMs: number | undefined; nowMs: number };

export type SelfFenceOutput =
  /** Give the keeper this deadline (Infinity: unbounded). */
  | { type: 'lease'; deadlineMs: number; reason: string }
  /** The lease passed while serving: the watchdog resets this machine within its timeout. */
  | { type: 'lapsed'; deadlineMs: number; reason: string };

export interface SelfFenceStatus {
  serving: boolean;
  /** Infinity: unbounded. */
  deadlineMs: number;
  /** deadline - now (Infinity: unbounded; 0 once lapsed). */
  remainingMs: number;
  evidenceAtMs: number | undefined;
  lapsed: boolean;
  leaseMs: number;
}

export class SelfFenceLease {
  private serving = false;
  private evidenceAtMs: number | undefined;
  /** The lease deadline now (Infinity: unbounded). */
  private deadlineMs = Infinity;
  private lapsed = false;
  /** The deadline last handed out ('lease' output); the keeper starts with its own. */
  private sentMs: number | undefined;
  private why = 'nothing in service here';

  constructor(private readonly timing: Pick<SelfFenceTiming, 'leaseMs'>) {
    if (!(timing.leaseMs > 0)) throw new RangeError('the self-fence lease must be longer than 0 ms');
  }

  step(ev: SelfFenceEvent): SelfFenceOutput[] {
    if (ev.type === 'serving') {
      const was = this.serving;
      this.serving = ev.serving;
      if (this.lapsed) return [];
      if (!ev.serving) {
        this.deadlineMs = Infinity;
        this.why = 'nothing in service here';
      } else if (!was) {
        // Starting to serve: the lease becomes bounded, from the evidence there is (none: from
        // now). Stale evidence gives a deadline already past: no grace for serving on old facts.
        this.deadlineMs = (this.evidenceAtMs ?? ev.nowMs) + this.timing.leaseMs;
        this.why = this.evidenceAtMs !== undefined ? 'in service here: renewed from quorum evidence' : 'in service here without a quorum verdict yet: one lease from now';
      }
    } else {
      // Evidence never goes back in time: an older fact does not undo a newer one.
      this.evidenceAtMs = ev.atMs === undefined ? undefined : Math.max(ev.atMs, this.evidenceAtMs ?? -Infinity);
    }
    return this.tick(ev.nowMs);
  }

  tick(nowMs: number): SelfFenceOutput[] {
    if (this.lapsed) return [];
    if (this.serving) {
      if (this.evidenceAtMs !== undefined && this.evidenceAtMs + this.timing.leaseMs > this.deadlineMs) {
        this.deadlineMs = this.evidenceAtMs + this.timing.leaseMs;
        this.why = 'in service here: renewed from quorum evidence';
      }
      if (nowMs >= this.deadlineMs) {
        this.lapsed = true;
        const reason = this.evidenceAtMs === undefined ? 'no quorum verdict says this system may serve' : `the newest quorum evidence is ${Math.round(nowMs - this.evidenceAtMs)} ms old (the lease is ${this.timing.leaseMs} ms)`;
        this.why = `lapsed: ${reason}`;
        return [{ type: 'lapsed', deadlineMs: this.deadlineMs, reason }];
      }
    }
    if (this.deadlineMs === this.sentMs) return [];
    this.sentMs = this.deadlineMs;
    return [{ type: 'lease', deadlineMs: this.deadlineMs, reason: this.why }];
  }

  status(nowMs: number): SelfFenceStatus {
    return {
      serving: this.serving,
      deadlineMs: this.deadlineMs,
      remainingMs: this.lapsed ? 0 : Math.max(0, this.deadlineMs - nowMs),
      evidenceAtMs: this.evidenceAtMs,
      lapsed: this.lapsed,
      leaseMs: this.timing.leaseMs,
    };
  }

  /** Why the lease is what it is, in words (status, logs). */
  reason(): string {
    return this.why;
  }
}

/** The self-fencing watchdog as vigild runs it (daemon/wire-watchdog.ts): lcdstatus and metrics. */
export interface WatchdogStatus {
  armed: boolean;
  device: string | undefined;
  timeoutSecs: number;
  identity: string | undefined;
  /** Whether anything is in service here (the lease is bounded only then). */
  serving: boolean;
  /** The lease's remaining time, ms (Infinity: unbounded; 0 once lapsed). */
  leaseRemainingMs: number;
  leaseMs: number;
  lapsed: boolean;
  /** Why the lease is what it is. */
  reason: string;
  /** The keeper's pets since arming, and whether its thread runs real-time. */
  pets: number;
  realtime: boolean;
}
