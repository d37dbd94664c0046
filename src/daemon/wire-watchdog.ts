// Attaches self-fencing to vigild (docs/quorum.md, "Self-fencing with a watchdog"): with
// WATCHDOG_DEVICE set it arms the platform's Watchdog at start (vigild refuses to start when the
// device cannot be armed: an accepted option must work), and every tick feeds the lease state
// machine (cluster/quorum/self-fence-lease.ts) what it decides from — whether anything is in
// service here (the hierarchy engine) and how old the facts of the quorum "yes" are (the quorum
// gate) — and hands its deadline to the watchdog's keeper. It also gives the quorum gate the
// survivor hold the watchdog needs (selfFenceHoldMs). Stopping with nothing in service disarms
// the watchdog (magic close); with something still in service it is left running, and resets
// the machine when the lease lapses, as it would for a vigild that died.
import { performance } from 'node:perf_hooks';

import { lossActionAllowanceMs } from '../cluster/quorum/loss-action.js';
import { SelfFenceLease, selfFenceTiming, type SelfFenceOutput, type SelfFenceTiming, type WatchdogStatus } from '../cluster/quorum/self-fence-lease.js';

export type { WatchdogStatus };
import { VigilError } from '../common/errors.js';
import { WatchdogOpenError, type WatchdogArming } from '../platform/watchdog.js';
import type { Agent, Subsystem } from './agent.js';
import { evidenceTimingInput } from './evidence-timing-input.js';
import type { SelfFenceHold } from './wire-quorum.js';

const TICK_MS = 100;


export interface WatchdogSubsystem extends Subsystem, SelfFenceHold {
  /** What the lease is decided from; call before the agent starts. */
  bind(inputs: { evidenceAtMs(): number | undefined; serving(): boolean }): void;
  status(): WatchdogStatus;
}

class WiredWatchdog implements WatchdogSubsystem {
  readonly name = 'watchdog';
  private arming: WatchdogArming | undefined;
  private timing: SelfFenceTiming | undefined;
  private lease: SelfFenceLease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inputs: { evidenceAtMs(): number | undefined; serving(): boolean } = { evidenceAtMs: () => undefined, serving: () => false };
  private refused = false;

  constructor(private readonly agent: Agent) {}

  bind(inputs: { evidenceAtMs(): number | undefined; serving(): boolean }): void {
    this.inputs = inputs;
  }

  start(): void {
    const c = this.agent.config;
    const device = c.WATCHDOG_DEVICE;
    if (!device) return;
    try {
      this.arming = this.agent.platform.watchdog.arm(device, c.WATCHDOG_TIMEOUT_SECS);
    } catch (err) {
      if (err instanceof WatchdogOpenError) throw new VigilError(0, `cannot arm the watchdog: ${err.message}`, { key: 'WATCHDOG_DEVICE', device, code: err.code }, { cause: err });
      throw err;
    }
    this.timing = selfFenceTiming({
      ...evidenceTimingInput(c),
      lossActionMs: lossActionAllowanceMs(c.QUORUM_LOSS_ACTION, c.QUORUM_TIMEOUT_SECS * 1000),
      // What the driver uses, or what was asked if it rounded down: survivors must not wait less.
      watchdogTimeoutMs: Math.max(this.arming.timeoutSecs, c.WATCHDOG_TIMEOUT_SECS) * 1000,
    });
    this.lease = new SelfFenceLease(this.timing);
    this.agent.log.info(
      { device, identity: this.arming.identity, timeoutSecs: this.arming.timeoutSecs, askedSecs: c.WATCHDOG_TIMEOUT_SECS, magicClose: this.arming.magicClose, ...this.timing },
      `watchdog: ${device} (${this.arming.identity}) armed with a ${this.arming.timeoutSecs} s timeout; while anything is in service here the lease runs ${this.timing.leaseMs} ms from the newest quorum evidence, and survivors hold ${this.timing.holdMs} ms`,
    );
    if (this.arming.timeoutSecs !== c.WATCHDOG_TIMEOUT_SECS) {
      this.agent.log.warn({ device, asked: c.WATCHDOG_TIMEOUT_SECS, got: this.arming.timeoutSecs }, `watchdog: the driver set a ${this.arming.timeoutSecs} s timeout instead of WATCHDOG_TIMEOUT_SECS=${c.WATCHDOG_TIMEOUT_SECS}`);
    }
    if (!this.arming.magicClose) {
      this.agent.log.warn({ device }, 'watchdog: the driver ignores the magic close: stopping vigild will reset this machine one timeout later');
    }
    this.onTick();
    this.timer = setInterval(() => this.onTick(), TICK_MS);
    this.agent.context.watchdog = this;
  }

  stop(): void {
    if (this.agent.context.watchdog === this) delete this.agent.context.watchdog;
    clearInterval(this.timer);
    this.timer = undefined;
    if (!this.arming) return;
    const log = this.agent.log;
    const serving = this.servingNow();
    if (serving) {
      // Something would not leave service: nothing protects it once vigild is gone, so the
      // watchdog stays armed and resets the machine when the lease lapses (or a timeout after exit).
      log.fatal({ device: this.arming.device }, 'watchdog: stopping with something still in service here: the watchdog is left armed and resets this machine once the lease lapses');
      return;
    }
    const { magicClosed } = this.agent.platform.watchdog.disarm();
    if (magicClosed) log.info({ device: this.arming.device }, 'watchdog: disarmed (nothing in service here)');
    else log.fatal({ device: this.arming.device }, 'watchdog: the lease had lapsed: the watchdog was not stopped and resets this machine');
    this.arming = undefined;
  }

  selfFenceHoldMs(): number {
    return this.timing?.holdMs ?? 0;
  }

  status(): WatchdogStatus {
    const now = performance.now();
    const s = this.lease?.status(now);
    const w = this.arming ? this.agent.platform.watchdog.state() : undefined;
    return {
      armed: this.arming !== undefined,
      device: this.arming?.device,
      timeoutSecs: this.arming?.timeoutSecs ?? 0,
      identity: this.arming?.identity,
      serving: s?.serving ?? false,
      // The keeper's own view wins once it has stopped petting.
      leaseRemainingMs: w?.expired ? 0 : (s?.remainingMs ?? Infinity),
      leaseMs: this.timing?.leaseMs ?? 0,
      lapsed: (s?.lapsed ?? false) || (w?.expired ?? false),
      reason: this.arming ? (w?.expired && !s?.lapsed ? 'lapsed (the keeper saw the deadline pass)' : this.lease!.reason()) : 'no watchdog (WATCHDOG_DEVICE empty)',
      pets: w?.pets ?? 0,
      realtime: w?.realtime ?? false,
    };
  }

  private servingNow(): boolean {
    try {
      return this.inputs.serving();
    } catch {
      // Not knowing counts as serving: the safe side for a fence.
      return true;
    }
  }

  private onTick(): void {
    const lease = this.lease;
    if (!lease) return;
    const now = performance.now();
    this.apply(lease.step({ type: 'evidence', atMs: this.inputs.evidenceAtMs(), nowMs: now }));
    this.apply(lease.step({ type: 'serving', serving: this.servingNow(), nowMs: now }));
  }

  private apply(outs: SelfFenceOutput[]): void {
    const log = this.agent.log;
    for (const o of outs) {
      if (o.type === 'lapsed') {
        log.fatal({ reason: o.reason }, `watchdog: the self-fence lease lapsed while in service here (${o.reason}): the watchdog resets this machine within ${this.arming?.timeoutSecs} s`);
        continue;
      }
      const accepted = this.agent.platform.watchdog.setLeaseDeadline(o.deadlineMs);
      if (!accepted && !this.refused) {
        // The keeper found the lease past before this loop could renew it (the loop was starved).
        this.refused = true;
        log.fatal({ reason: o.reason }, `watchdog: the keeper found the lease lapsed before it was renewed: the watchdog resets this machine within ${this.arming?.timeoutSecs} s`);
      }
    }
  }
}

/** Adds self-fencing (call from compose.ts before attachQuorum, whose gate asks it for the hold). */
export function attachWatchdog(agent: Agent): WatchdogSubsystem {
  const w = new WiredWatchdog(agent);
  agent.addSubsystem(w);
  return w;
}
