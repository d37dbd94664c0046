// The hierarchy engine of one system: an I/O-free state machine. It is fed events with
// `step(event, now)` and time with `tick(now)`, and answers with commands (run a kit action,
// send a message to a peer, persist a state, reply to an administrator, halt the node). The
// executor (executor.ts) carries the commands out; tests feed results back by hand with a fake
// clock, so every failover path is deterministic.
//
// This class only routes: each event, peer message and ended operation goes to the part that
// owns it.
// - operations/  running operations (waves, action deadlines, per-hierarchy queue) and what
//                a restore or a remove leads to (rollback, retry, hand-over);
// - resource-table.ts  the configured resources and their states at start;
// - placement.ts where each hierarchy is in service, state sync, double-in-service resolution;
// - failover/    failover decisions (decide.ts), hand-over retries, automatic switchback, vetoes,
//                restoring after this agent's unclean stop (restart-restore.ts);
// - monitoring.ts checks and local recovery;
// - switchover.ts, admin-requests.ts, admin-locks.ts  what administrators ask for.

import { AdminLocks } from './admin-locks.js';
import { AdminRequests } from './admin-requests.js';
import { EngineContext } from './engine-context.js';
import type { EngineCommand, EngineEvent, EngineOptions, HierarchyConfig, PeerMessage, ResourceConfig } from './engine-types.js';
import { FailoverDecisions } from './failover/decide.js';
import { Handoffs } from './failover/handoff.js';
import { RestartRestores } from './failover/restart-restore.js';
import { considerSwitchback } from './failover/switchback.js';
import { Monitoring } from './monitoring.js';
import type { Operation } from './operations/operation.js';
import { RemoveOutcomes } from './operations/remove-outcome.js';
import { RestoreOutcomes } from './operations/restore-outcome.js';
import { OperationRunner } from './operations/runner.js';
import { Placement } from './placement.js';
import { DEFAULT_RECOVERY_POLICY } from './recovery-policy.js';
import { applyConfig, loadRecordedStates } from './resource-table.js';
import type { ResourceState } from './states.js';
import { Switchovers } from './switchover.js';
import { earliest } from '../common/earliest.js';

export type {
  EngineCommand,
  EngineEvent,
  EngineOptions,
  HierarchyConfig,
  KitFacts,
  OpOrigin,
  PeerMessage,
  ResourceConfig,
  SwitchbackType,
} from './engine-types.js';

export class HierarchyEngine {
  private readonly ctx: EngineContext;
  private readonly runner: OperationRunner;
  private readonly placement: Placement;
  private readonly failover: FailoverDecisions;
  private readonly handoffs: Handoffs;
  private readonly monitoring: Monitoring;
  private readonly switchovers: Switchovers;
  private readonly locks: AdminLocks;
  private readonly admin: AdminRequests;
  private readonly restores: RestoreOutcomes;
  private readonly removes: RemoveOutcomes;
  private readonly restarts: RestartRestores;

  constructor(opts: EngineOptions) {
    const ctx = (this.ctx = new EngineContext(opts));
    const policy = opts.recovery ?? DEFAULT_RECOVERY_POLICY;
    // An operation started on a hierarchy gives it a home: it is no longer stranded (decide.ts),
    // and it decides instead of a restore after an unclean stop (restart-restore.ts).
    const starting = (op: Operation): void => {
      this.failover.operationStarted(op.key);
      this.placement.operationStarted(op.key);
      this.restarts.operationStarted(op);
    };
    const runner = (this.runner = new OperationRunner(ctx, (op) => this.ended(op), starting));
    const start = (op: Operation): void => runner.start(op);
    // Busy: an operation under way on a hierarchy not told in service here (a restore that has
    // brought up part of it included); one told in service is named as such already.
    const busyUntold = (key: string) => runner.busy(key) && this.placement.get(key) !== ctx.local;
    const unsettled = () => ({ busy: runner.busyKeys().filter(busyUntold), restarting: this.restarts.restarting() });
    const isUnsettled = (key: string) => busyUntold(key) || this.restarts.isRestarting(key);
    this.placement = new Placement(ctx, { isRunning: (key) => runner.isRunning(key), start, unsettled, isUnsettled });
    const handOver = (to: string, msg: Extract<PeerMessage, { kind: 'takeover' }>): void => this.handoffs.send(to, msg);
    const failoverOps = { start, busy: (key: string) => runner.busy(key), handOver };
    this.failover = new FailoverDecisions(ctx, failoverOps, (key) => this.placement.get(key));
    const passOn = this.failover.passOn.bind(this.failover);
    this.handoffs = new Handoffs(ctx, (key) => runner.isRunning(key), (key) => this.placement.has(key), passOn);
    this.monitoring = new Monitoring(ctx, runner, policy, this.failover.leaveAfterFailure.bind(this.failover));
    this.switchovers = new Switchovers(ctx, this.placement, start);
    this.locks = new AdminLocks(ctx);
    this.admin = new AdminRequests(ctx, this.placement, this.switchovers, start);
    this.restores = new RestoreOutcomes(ctx, this.placement, start, policy.maxAttempts);
    this.removes = new RemoveOutcomes(ctx, this.placement, start, passOn, handOver, this.failover.gaveUpAfterFailure.bind(this.failover));
    const settled = (key: string): void => this.placement.settled(key);
    this.restarts = new RestartRestores(ctx, { start, busy: (key) => runner.busy(key), settled }, (key) => this.placement.get(key));
  }

  // ---- queries (for status output and tests) ----

  state(tag: string): ResourceState | undefined {
    return this.ctx.resources.get(tag)?.state;
  }

  /** The configuration the engine holds for a local resource (what its actions act on). */
  resourceConfig(tag: string): Readonly<ResourceConfig> | undefined {
    return this.ctx.resources.get(tag)?.cfg;
  }

    stateReason(tag: string): string {
    return this.ctx.resources.get(tag)?.reason ?? '';
  }

  /** The system this engine believes runs the hierarchy containing `tag`. */
  runningOn(tag: string): string | undefined {
    const key = this.ctx.keyOf(tag);
    return key === undefined ? undefined : this.placement.get(key);
  }

  hierarchyKey(tag: string): string | undefined {
    return this.ctx.keyOf(tag);
  }

  busy(tag: string): boolean {
    const key = this.ctx.keyOf(tag);
    return key !== undefined && this.runner.busy(key);
  }

  aliveSystems(): string[] {
    return [...this.ctx.alive].sort();
  }

  // ---- inputs ----

  tick(now: number): EngineCommand[] {
    this.ctx.advanceTo(now);
    this.runner.expireActions();
    this.locks.expire();
    this.switchovers.expire();
    this.handoffs.resend();
    this.failover.reviewDeferred();
    this.monitoring.scheduleChecks();
    return this.ctx.flush();
  }

  /**
   * When tick() next has something to do, for the executor's timer: the earliest action or
   * request deadline, hand-over resend or due check; `now` while takeover requests wait for the
   * quorum gate, which tick() asks each time. Undefined: nothing waits on time. Events (step())
   * can bring it forward, so it is asked again after each.
   */
  nextDueMs(): number | undefined {
    if (this.failover.hasDeferred()) return this.ctx.now;
    return earliest([this.runner.nextDeadline(), this.locks.nextDeadline(), this.switchovers.nextDeadline(), this.handoffs.nextResend(), this.monitoring.nextCheckDue()]);
  }

  step(ev: EngineEvent, now: number): EngineCommand[] {
    this.ctx.advanceTo(now);
    switch (ev.type) {
      case 'config':
        this.applyConfig(ev.config);
        break;
      case 'peerReachable':
        if (ev.system !== this.ctx.local && this.ctx.alive.has(ev.system)) this.placement.syncTo(ev.system);
        break;
      case 'systemUp':
        this.systemUp(ev.system);
        break;
      case 'systemDown':
        this.systemDown(ev.system);
        break;
      case 'quorumChanged':
        this.failover.retryAwaitingQuorum();
        this.failover.reviewDeferred();
        this.restarts.quorumChanged();
        break;
      case 'stalled':
        this.failover.yieldAfterStall(ev.gapMs, this.placement.localKeys());
        break;
      case 'actionResult':
        this.runner.onActionResult(ev.actionId, ev.result);
        break;
      case 'message':
        this.onMessage(ev.from, ev.msg);
        break;
      case 'sendFailed':
        this.onSendFailed(ev.to, ev.msg);
        break;
      case 'adminInService':
        this.admin.inService(ev.request, ev.tag);
        break;
      case 'adminOutOfService':
        this.admin.outOfService(ev.request, ev.tag, ev.yieldReason);
        break;
      case 'adminAction':
        this.admin.action(ev.request, ev.tag, ev.action);
        break;
      case 'lockRequest':
        this.locks.request(ev.request, ev.tag, ev.purpose);
        break;
      case 'lockRelease':
        this.locks.release(ev.request);
        break;
    }
    return this.ctx.flush();
  }

  /**
   * Sets the states recorded in the LCD when the agent starts. Nothing runs yet, but a resource
   * recorded in service means the agent stopped uncleanly: a mount or a process may have
   * survived it, and a peer may have taken the hierarchy over meanwhile. Such hierarchies are
   * cleaned up with remove (parents first; remove is idempotent) and end OSU, or OSF with the
   * reason when the cleanup fails. Once cleaned up, each is brought in service here again when
   * every other system of it has been heard and runs none of it (failover/restart-restore.ts).
   * Returns the commands to carry out.
   */
  loadStates(states: Record<string, ResourceState>, now: number): EngineCommand[] {
    const { ctx } = this;
    ctx.advanceTo(now);
    const unclean = loadRecordedStates(ctx, states);
    for (const key of unclean) {
      ctx.log('warn', `hierarchy ${key} was in service when the agent stopped uncleanly; cleaning up`, { key, at: ctx.now });
      this.runner.start(this.restarts.uncleanAtStart(key));
    }
    // Peers already heard from learn what is under way here (normally none are yet).
    if (unclean.size > 0 && ctx.alive.size > 1) this.placement.syncAll();
    return ctx.flush();
  }

  // ---- routing ----

  private applyConfig(cfg: HierarchyConfig): void {
    this.placement.rekey(applyConfig(this.ctx, cfg));
    this.failover.configChanged();
    this.restarts.configChanged();
  }

  private systemUp(system: string): void {
    const { ctx } = this;
    if (system === ctx.local || ctx.alive.has(system)) return;
    ctx.alive.add(system);
    this.failover.systemReturned(system);
    this.placement.syncTo(system);
    considerSwitchback(ctx, (key) => this.placement.get(key) === ctx.local, (op) => this.runner.start(op), system);
  }

  private systemDown(system: string): void {
    const { ctx } = this;
    if (system === ctx.local || !ctx.alive.delete(system)) return;
    this.locks.systemDied(system);
    this.switchovers.systemDied(system);
    this.handoffs.systemDied(system);
    this.restarts.systemDown(system);
    this.failover.systemDied(system, this.placement.forgetSystem(system));
  }

  private onMessage(from: string, msg: PeerMessage): void {
    switch (msg.kind) {
      case 'hier-state':
      case 'hier-state-sync':
        this.placement.onMessage(from, msg);
        if (msg.kind === 'hier-state-sync') {
          this.restarts.synced(from, msg);
          // What the sender gave up and nobody placed since: as if its give-up had arrived now.
          for (const k of msg.gaveUp ?? []) {
            const key = this.ctx.keyOf(k) ?? k;
            if (this.ctx.graph.has(key) && this.placement.get(key) === undefined) this.failover.gaveUp(from, key);
          }
        }
        else this.restarts.peerState(from, this.ctx.keyOf(msg.key) ?? msg.key, msg.inService);
        if (msg.kind === 'hier-state' && !msg.inService && msg.takeOver) return this.failover.gaveUp(from, this.ctx.keyOf(msg.key) ?? msg.key);
        return this.failover.heardFrom(from, msg.kind === 'hier-state' ? [this.ctx.keyOf(msg.key) ?? msg.key] : undefined);
      case 'takeover':
        return this.failover.takeoverRequested(from, msg);
      case 'takeover-result':
        return this.handoffs.result(from, msg);
      case 'release':
        return this.switchovers.releaseRequested(from, msg);
      case 'release-result':
        return this.switchovers.released(from, msg);
      case 'lock':
      case 'lock-result':
      case 'unlock':
        return this.locks.onMessage(from, msg);
    }
  }

  private onSendFailed(to: string, msg: PeerMessage): void {
    if (msg.kind === 'takeover') this.handoffs.sendFailed(to, msg);
    else if (msg.kind === 'lock') this.locks.sendFailed(to, msg);
    else if (msg.kind === 'release') this.switchovers.sendFailed(to, msg);
  }

  /**
   * An operation ended: its continuation is carried out by the part that owns it, then a peer's
   * report held while it ran is looked at.
   */
  private ended(op: Operation): void {
    this.continueAfter(op);
    if (op.kind === 'remove') this.restarts.removeEnded(op);
    this.placement.operationEnded(op.key);
    this.placement.settled(op.key);
  }

  private continueAfter(op: Operation): void {
    switch (op.kind) {
      case 'restore':
        return this.restores.ended(op);
      case 'remove':
        return this.removes.ended(op);
      case 'check':
        return this.monitoring.checkEnded(op);
      case 'recover':
        return this.monitoring.recoverEnded(op);
      case 'single':
        return this.admin.singleEnded(op);
    }
  }
}
