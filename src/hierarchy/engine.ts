// The hierarchy engine of one system: an I/O-free state machine. It is fed events with
// `step(event, now)` and time with `tick(now)`, and answers with commands (run a kit action,
// send a message to a peer, persist a state, reply to an administrator, halt the node). The
// executor (executor.ts) carries the commands out; tests feed results back by hand with a fake
// clock, so every failover path is deterministic.
//
// What it does:
// - brings a hierarchy in service children first and out of service parents first, one wave
//   of independent resources at a time (members of a wave run in parallel);
// - enforces each action's time limit: an action with no result by its deadline is failed with
//   reason "timed out" and a cancel command is issued;
// - monitors in-service resources every check interval; a failed check is recovered locally
//   (where the kit can) within a budget, else the whole hierarchy fails over;
// - on a system's death, the survivor with the best priority brings each hierarchy that system
//   had in service into service here (after the quorum gate);
// - switchback: `automatic` hierarchies go back when a better-priority system returns;
//   `intelligent` ones wait for an administrator (in-service on the preferred system);
// - cluster-wide admin locks per hierarchy for administrative tasks.

import type { ActionResult, CheckDepth, KitAction } from '../kits/kit.js';
import { DependencyGraph } from './graph.js';
import { chooseSystem, type Candidate } from './failover-choice.js';
import { LockTable, type LockOwner } from './locks.js';
import { RecoveryBudget, DEFAULT_RECOVERY_POLICY, type RecoveryPolicy } from './recovery-policy.js';
import { checkTransition, inServiceState, isInService, type ResourceState, type StateCause } from './states.js';

export type SwitchbackType = 'intelligent' | 'automatic';

/** One local resource instance with its equivalents (as read from the LCD). */
export interface ResourceConfig {
  tag: string;
  id: string;
  app: string;
  switchback: SwitchbackType;
  /** Priority of this system for the resource (1-999, lower preferred). */
  priority: number;
  /** Equivalents on other systems (same tag there). */
  equivalents: Candidate[];
  info: Record<string, string>;
}

export interface HierarchyConfig {
  resources: ResourceConfig[];
  dependencies: Array<{ parent: string; child: string }>;
}

/** What the engine knows of each kit, as plain data. */
export interface KitFacts {
  timeLimits: Record<KitAction, number>;
  supportsRecover: boolean;
  maxCheckDepth: CheckDepth;
}

export interface EngineOptions {
  localSystem: string;
  kitFacts: (app: string) => KitFacts | undefined;
  /** LKCHECKINTERVAL in ms; per-app overrides in checkIntervalByApp. */
  checkIntervalMs: number;
  checkIntervalByApp?: Record<string, number>;
  recovery?: RecoveryPolicy;
  /** Admin lock lease (a holder that never releases loses the lock after this). */
  lockLeaseMs?: number;
  /** How long to wait for peers to answer a lock request or a release. */
  peerReplyTimeoutMs?: number;
  /** Quorum gate: may this system bring anything in service now? Must not do I/O. */
  quorum?: () => boolean;
  /** A kit's veto on moving a hierarchy (replication during resync). Must not do I/O. */
  canFailoverNow?: (tag: string) => { ok: boolean; reason: string };
}

/** Messages between engines on different systems. */
export type PeerMessage =
  | { kind: 'hier-state'; key: string; inService: boolean }
  | { kind: 'hier-state-sync'; inService: string[] }
  | { kind: 'takeover'; key: string; tried: string[]; reason: string; origin: OpOrigin }
  | { kind: 'takeover-result'; key: string; ok: boolean; reason: string; tryNext?: string[] }
  | { kind: 'release'; key: string; request: string }
  | { kind: 'release-result'; key: string; request: string; ok: boolean; reason: string }
  | { kind: 'lock'; key: string; owner: LockOwner }
  | { kind: 'lock-result'; key: string; request: string; granted: boolean; holder?: LockOwner }
  | { kind: 'unlock'; key: string; owner: LockOwner };

export type EngineEvent =
  | { type: 'config'; config: HierarchyConfig }
  | { type: 'systemUp'; system: string }
  | { type: 'systemDown'; system: string }
  | { type: 'quorumChanged' }
  | { type: 'actionResult'; actionId: number; result: ActionResult }
  | { type: 'message'; from: string; msg: PeerMessage }
  | { type: 'sendFailed'; to: string; msg: PeerMessage }
  /** Administrator: bring the hierarchy of `tag` in service here (switchover if elsewhere). */
  | { type: 'adminInService'; request: string; tag: string }
  /** Administrator: take the hierarchy of `tag` out of service here. */
  | { type: 'adminOutOfService'; request: string; tag: string }
  /** Administrator: run one action on one resource only (perform_action). */
  | { type: 'adminAction'; request: string; tag: string; action: 'restore' | 'remove' }
  /** Administrative task wants the cluster-wide lock of a hierarchy. */
  | { type: 'lockRequest'; request: string; tag: string; purpose: string }
  | { type: 'lockRelease'; request: string; tag: string };

export type EngineCommand =
  | { type: 'runAction'; actionId: number; tag: string; action: KitAction; depth?: CheckDepth; timeLimitMs: number }
  | { type: 'cancelAction'; actionId: number; reason: string }
  | { type: 'send'; to: string; msg: PeerMessage }
  | { type: 'persistState'; tag: string; state: ResourceState; reason: string }
  | { type: 'adminDone'; request: string; ok: boolean; message: string }
  | { type: 'haltNode'; reason: string }
  /** A hierarchy moved here: after a failure elsewhere (failover) or by request (switchover). */
  | { type: 'moved'; kind: 'failover' | 'switchover'; key: string; from: string; to: string; durationMs: number; reason: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; msg: string; fields: Record<string, unknown> };

export type OpOrigin = 'failover' | 'switchover' | 'switchback' | 'admin' | 'local-failure' | 'agent-start';

interface LocalResource {
  cfg: ResourceConfig;
  state: ResourceState;
  reason: string;
  nextCheck: number;
}

/** A multi-step operation on one hierarchy; at most one runs per hierarchy at a time. */
interface Operation {
  kind: 'restore' | 'remove' | 'check' | 'recover' | 'single';
  key: string;
  origin: OpOrigin;
  waves: string[][];
  wave: number;
  pending: Map<number, string>; // actionId -> tag
  failures: Array<{ tag: string; result: ActionResult }>;
  done: string[]; // tags whose action succeeded
  /** Where to reply when it finishes. */
  adminRequest?: string;
  /** Systems that already failed to run this hierarchy (for takeover chains). */
  tried: string[];
  /** For a remove that is part of a move: where the hierarchy goes afterwards. */
  thenTakeoverBy?: string;
  /** For a remove answering a peer's release request. */
  releaseFor?: { system: string; request: string };
  /** The resource whose failure caused a local-failure remove (ends OSF). */
  failedTag?: string;
  failedReason?: string;
  single?: { tag: string; action: 'restore' | 'remove' };
  retries: number;
}

interface PendingLock {
  key: string;
  owner: LockOwner;
  waiting: Set<string>;
  granted: Set<string>;
  deadline: number;
  refused?: LockOwner;
}

interface PendingRelease {
  key: string;
  startedAt: number;
  request: string;
  from: string;
  deadline: number;
}

interface RunningAction {
  opKey: string;
  tag: string;
  action: KitAction;
  deadline: number;
  timeLimitMs: number;
}

export class HierarchyEngine {
  private readonly local: string;
  private graph = new DependencyGraph();
  private readonly resources = new Map<string, LocalResource>();
  private readonly alive = new Set<string>();
  /**
   * Which system runs each resource, as far as this system knows. Kept per tag, not per hierarchy
   * key, so it survives dependency changes that merge or split hierarchies; `where` reads and
   * writes it for a whole hierarchy at once.
   */
  private readonly whereTag = new Map<string, string>();
  private readonly where = {
    get: (key: string): string | undefined => this.whereTag.get(key),
    has: (key: string): boolean => this.whereTag.has(key),
    set: (key: string, system: string): void => {
      for (const t of this.graph.has(key) ? this.graph.component(key) : [key]) this.whereTag.set(t, system);
    },
    delete: (key: string): void => {
      for (const t of this.graph.has(key) ? this.graph.component(key) : [key]) this.whereTag.delete(t);
    },
  };
  private readonly ops = new Map<string, Operation>();
  /** Operations waiting for the hierarchy's current one to finish. */
  private readonly queued = new Map<string, Operation[]>();
  private readonly actions = new Map<number, RunningAction>();
  private readonly locks: LockTable;
  private readonly pendingLocks = new Map<string, PendingLock>(); // by request
  private readonly heldLocks = new Map<string, PendingLock>(); // by request
  private readonly pendingReleases = new Map<string, PendingRelease>(); // by request
  private readonly budget: RecoveryBudget;
  /** Hierarchies whose failover waits for quorum. */
  private readonly awaitingQuorum = new Set<string>();
  /** Hand-overs to a live system that could not take the message yet (still starting): resent. */
  private readonly handoffRetries = new Map<string, { to: string; msg: Extract<PeerMessage, { kind: 'takeover' }>; attempts: number; at: number }>();
  private nextActionId = 1;
  private now = 0;
  private out: EngineCommand[] = [];

  constructor(private readonly opts: EngineOptions) {
    this.local = opts.localSystem;
    this.alive.add(this.local);
    this.locks = new LockTable(opts.lockLeaseMs ?? 5 * 60_000);
    this.budget = new RecoveryBudget(opts.recovery ?? DEFAULT_RECOVERY_POLICY);
  }

  // ---- queries (for status output and tests) ----

  state(tag: string): ResourceState | undefined {
    return this.resources.get(tag)?.state;
  }

  stateReason(tag: string): string {
    return this.resources.get(tag)?.reason ?? '';
  }

  /** The system this engine believes runs the hierarchy containing `tag`. */
  runningOn(tag: string): string | undefined {
    if (!this.graph.has(tag)) return undefined;
    return this.where.get(this.graph.hierarchyKey(tag));
  }

  hierarchyKey(tag: string): string | undefined {
    return this.graph.has(tag) ? this.graph.hierarchyKey(tag) : undefined;
  }

  busy(tag: string): boolean {
    const key = this.hierarchyKey(tag);
    return key !== undefined && (this.ops.has(key) || (this.queued.get(key)?.length ?? 0) > 0);
  }

  aliveSystems(): string[] {
    return [...this.alive].sort();
  }

  // ---- inputs ----

  tick(now: number): EngineCommand[] {
    this.now = Math.max(this.now, now);
    this.expireActions();
    this.expirePeerWaits();
    this.resendHandoffs();
    this.scheduleChecks();
    return this.flush();
  }

  step(ev: EngineEvent, now: number): EngineCommand[] {
    this.now = Math.max(this.now, now);
    switch (ev.type) {
      case 'config':
        this.applyConfig(ev.config);
        break;
      case 'systemUp':
        this.onSystemUp(ev.system);
        break;
      case 'systemDown':
        this.onSystemDown(ev.system);
        break;
      case 'quorumChanged':
        this.retryAwaitingQuorum();
        break;
      case 'actionResult':
        this.onActionResult(ev.actionId, ev.result);
        break;
      case 'message':
        this.onMessage(ev.from, ev.msg);
        break;
      case 'sendFailed':
        this.onSendFailed(ev.to, ev.msg);
        break;
      case 'adminInService':
        this.adminInService(ev.request, ev.tag);
        break;
      case 'adminOutOfService':
        this.adminOutOfService(ev.request, ev.tag);
        break;
      case 'adminAction':
        this.adminAction(ev.request, ev.tag, ev.action);
        break;
      case 'lockRequest':
        this.lockRequest(ev.request, ev.tag, ev.purpose);
        break;
      case 'lockRelease':
        this.lockRelease(ev.request);
        break;
    }
    return this.flush();
  }

  private flush(): EngineCommand[] {
    const o = this.out;
    this.out = [];
    return o;
  }

  private log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
    this.out.push({ type: 'log', level, msg, fields });
  }

  private send(to: string, msg: PeerMessage): void {
    this.out.push({ type: 'send', to, msg });
  }

  private broadcast(msg: PeerMessage): void {
    for (const s of this.alive) if (s !== this.local) this.send(s, msg);
  }

  private adminDone(request: string | undefined, ok: boolean, message: string): void {
    if (request !== undefined) this.out.push({ type: 'adminDone', request, ok, message });
  }

  // ---- configuration ----

  private applyConfig(cfg: HierarchyConfig): void {
    const g = new DependencyGraph();
    for (const r of cfg.resources) g.addNode(r.tag);
    for (const d of cfg.dependencies) g.addDependency(d.parent, d.child);
    const seen = new Set<string>();
    for (const r of cfg.resources) {
      seen.add(r.tag);
      const cur = this.resources.get(r.tag);
      if (cur) {
        cur.cfg = r;
        if (isInService(cur.state)) {
          const want = inServiceState(r.equivalents.length > 0);
          if (want !== cur.state) this.setState(r.tag, want, 'protection-changed', want === 'ISP' ? 'extended' : 'no equivalent left');
        }
      } else {
        this.resources.set(r.tag, { cfg: r, state: 'OSU', reason: 'agent start', nextCheck: this.now });
      }
    }
    for (const tag of [...this.resources.keys()]) if (!seen.has(tag)) this.resources.delete(tag);
    this.graph = g;
    // Re-key where-knowledge: a hierarchy's key may change when dependencies change.
    const local = new Set<string>();
    for (const [key, comp] of g.hierarchies()) {
      if (comp.some((t) => isInService(this.resources.get(t)!.state))) local.add(key);
    }
    for (const [tag, sys] of [...this.whereTag]) if (!g.has(tag) && sys === this.local) this.whereTag.delete(tag);
    for (const key of g.hierarchies().keys()) {
      if (local.has(key)) this.where.set(key, this.local);
      else if (this.where.get(key) === this.local) this.where.delete(key);
    }
    // A system that just received an extended hierarchy must learn where it runs.
    this.broadcast({ kind: 'hier-state-sync', inService: [...local] });
  }

  /**
   * Sets the states recorded in the LCD when the agent starts. Nothing runs yet, but a resource
   * recorded in service means the agent stopped uncleanly: a mount or a process may have
   * survived it, and a peer may have taken the hierarchy over meanwhile. Such hierarchies are
   * cleaned up with remove (parents first; remove is idempotent) and end OSU, or OSF with the
   * reason when the cleanup fails. Returns the commands to carry out.
   */
  loadStates(states: Record<string, ResourceState>, now: number): EngineCommand[] {
    this.now = Math.max(this.now, now);
    const unclean = new Set<string>();
    for (const [tag, st] of Object.entries(states)) {
      const r = this.resources.get(tag);
      if (!r) continue;
      if (isInService(st)) {
        // Not in service as far as anyone should rely on; treated as failed until cleaned up.
        r.state = 'OSF';
        r.reason = 'cleaning up after an unclean stop';
        unclean.add(this.graph.hierarchyKey(tag));
      } else {
        r.state = st;
        r.reason = 'agent start';
      }
      this.out.push({ type: 'persistState', tag, state: r.state, reason: r.reason });
    }
    for (const key of unclean) {
      this.log('warn', `hierarchy ${key} was in service when the agent stopped uncleanly; cleaning up`, { key, at: this.now });
      this.startOp(this.newOp('remove', key, 'agent-start'));
    }
    return this.flush();
  }

  private setState(tag: string, to: ResourceState, cause: StateCause, reason: string): void {
    const r = this.resources.get(tag);
    if (!r) return;
    checkTransition(r.state, to, cause);
    const from = r.state;
    r.state = to;
    r.reason = reason;
    if (from !== to || cause === 'restored') {
      this.out.push({ type: 'persistState', tag, state: to, reason });
      this.log('info', `${tag}: ${from} -> ${to}`, { tag, from, to, cause, reason, at: this.now });
    }
  }

  private hierarchyCandidates(key: string): Candidate[] {
    const r = this.resources.get(key);
    if (!r) return [];
    return [{ system: this.local, priority: r.cfg.priority }, ...r.cfg.equivalents];
  }

  private hierarchyInServiceHere(key: string): boolean {
    return this.graph.component(key).some((t) => isInService(this.resources.get(t)!.state));
  }

  // ---- membership ----

  private onSystemUp(system: string): void {
    if (system === this.local || this.alive.has(system)) return;
    this.alive.add(system);
    const mine = [...this.graph.hierarchies().keys()].filter((k) => this.where.get(k) === this.local);
    this.send(system, { kind: 'hier-state-sync', inService: mine });
    this.considerSwitchback(system);
  }

  private onSystemDown(system: string): void {
    if (system === this.local || !this.alive.delete(system)) return;
    this.locks.dropSystem(system);
    // Lock requests and releases waiting on the dead system resolve without it.
    for (const pl of this.pendingLocks.values()) {
      if (pl.waiting.delete(system)) this.maybeFinishLock(pl);
    }
    for (const [req, pr] of [...this.pendingReleases]) {
      if (pr.from === system) {
        this.pendingReleases.delete(req);
        // The holder died: its hierarchy is free; bring it in service here as asked.
        this.where.delete(pr.key);
        this.startOp(this.newOp('restore', pr.key, 'switchover', { adminRequest: req, fromSystem: system, startedAt: pr.startedAt }));
      }
    }
    for (const key of this.graph.hierarchies().keys()) {
      if (this.where.get(key) !== system) continue;
      this.where.delete(key);
      this.log('warn', `system ${system} died with hierarchy ${key} in service`, { key, system, at: this.now });
      this.decideFailover(key, [system]);
    }
  }

  private decideFailover(key: string, tried: string[]): void {
    if (!this.resources.has(key)) return;
    const target = chooseSystem(this.hierarchyCandidates(key), this.alive, new Set(tried));
    if (target !== this.local) {
      if (target) this.log('info', `hierarchy ${key} fails over to ${target}`, { key, target });
      else this.log('error', `hierarchy ${key} has no live system to fail over to`, { key });
      return;
    }
    if (this.opts.quorum && !this.opts.quorum()) {
      this.awaitingQuorum.add(key);
      this.log('warn', `failover of ${key} withheld: no quorum`, { key });
      return;
    }
    this.startOp(this.newOp('restore', key, 'failover', { tried }));
  }

  private retryAwaitingQuorum(): void {
    if (this.opts.quorum && !this.opts.quorum()) return;
    for (const key of [...this.awaitingQuorum]) {
      this.awaitingQuorum.delete(key);
      if (!this.where.has(key)) this.decideFailover(key, []);
    }
  }

  private considerSwitchback(returned: string): void {
    for (const key of this.graph.hierarchies().keys()) {
      if (this.where.get(key) !== this.local) continue;
      const root = this.resources.get(key)!;
      if (root.cfg.switchback !== 'automatic') continue;
      const best = chooseSystem(this.hierarchyCandidates(key), this.alive);
      if (best !== returned) continue;
      const veto = this.veto(key);
      if (veto) {
        this.log('warn', `automatic switchback of ${key} to ${returned} deferred: ${veto}`, { key });
        continue;
      }
      this.log('info', `automatic switchback of ${key} to ${returned}`, { key, target: returned });
      this.startOp(this.newOp('remove', key, 'switchback', { thenTakeoverBy: returned }));
    }
  }

  private veto(key: string): string | undefined {
    if (!this.opts.canFailoverNow) return undefined;
    for (const t of this.graph.component(key)) {
      const v = this.opts.canFailoverNow(t);
      if (!v.ok) return `${t}: ${v.reason}`;
    }
    return undefined;
  }

  // ---- operations ----

  private newOp(kind: Operation['kind'], key: string, origin: OpOrigin, extra: Partial<Operation> = {}): Operation {
    return { kind, key, origin, waves: [], wave: 0, pending: new Map(), failures: [], done: [], tried: [], retries: 0, startedAt: this.now, ...extra };
  }

  private startOp(op: Operation): void {
    if (this.ops.has(op.key)) {
      const q = this.queued.get(op.key) ?? [];
      q.push(op);
      this.queued.set(op.key, q);
      return;
    }
    const comp = this.graph.component(op.key);
    if (comp.length === 0) {
      this.adminDone(op.adminRequest, false, `hierarchy ${op.key} no longer exists`);
      return;
    }
    this.ops.set(op.key, op);
    if (op.kind === 'restore') {
      this.log('info', `restoring hierarchy ${op.key} (${op.origin})`, { key: op.key, origin: op.origin, at: this.now });
      op.waves = this.graph.restoreWaves(comp);
    } else if (op.kind === 'remove') {
      this.log('info', `removing hierarchy ${op.key} (${op.origin})`, { key: op.key, origin: op.origin, at: this.now });
      op.waves = this.graph.removeWaves(comp);
    } else if (op.kind === 'single') {
      op.waves = [[op.single!.tag]];
    }
    // check and recover ops carry their own single wave.
    op.wave = 0;
    this.runWave(op);
  }

  private actionFor(op: Operation): KitAction {
    switch (op.kind) {
      case 'restore':
        return 'restore';
      case 'remove':
        return 'remove';
      case 'check':
        return 'quickCheck';
      case 'recover':
        return 'recover';
      case 'single':
        return op.single!.action;
    }
  }

  private runWave(op: Operation): void {
    while (op.wave < op.waves.length) {
      const action = this.actionFor(op);
      const wave = op.waves[op.wave]!.filter((tag) => {
        const st = this.resources.get(tag)?.state;
        if (st === undefined) return false;
        // Idempotence is the kit's promise, but skipping known no-ops keeps timelines readable.
        if (op.kind === 'restore' && isInService(st)) return false;
        // Failed (OSF) resources are removed too: a half-started resource must be cleaned up.
        if (op.kind === 'remove' && st === 'OSU') return false;
        return true;
      });
      if (wave.length === 0) {
        op.wave++;
        continue;
      }
      for (const tag of wave) this.issueAction(op, tag, action);
      return;
    }
    this.finishOp(op);
  }

  private issueAction(op: Operation, tag: string, action: KitAction): void {
    const r = this.resources.get(tag)!;
    const facts = this.opts.kitFacts(r.cfg.app);
    if (!facts) {
      op.failures.push({ tag, result: { ok: false, recoveryClass: 'fatal', reason: `no kit for app ${r.cfg.app}` } });
      return;
    }
    const id = this.nextActionId++;
    // Per-instance override (e.g. a long restore of one big resource), else the kit's limit.
    const override = Number(r.cfg.info[`${action}TimeoutMs`]);
    const timeLimitMs = Number.isInteger(override) && override > 0 ? override : facts.timeLimits[action];
    op.pending.set(id, tag);
    this.actions.set(id, { opKey: op.key, tag, action, deadline: this.now + timeLimitMs, timeLimitMs });
    const cmd: EngineCommand = { type: 'runAction', actionId: id, tag, action, timeLimitMs };
    if (action === 'quickCheck') cmd.depth = checkDepthFor(r.cfg, facts);
    this.out.push(cmd);
    this.log('info', `${action} ${tag} begins`, { tag, action, actionId: id, at: this.now });
  }

  private expireActions(): void {
    for (const [id, a] of [...this.actions]) {
      if (a.deadline > this.now) continue;
      const reason = `${a.action} of ${a.tag} timed out after ${a.timeLimitMs} ms`;
      this.out.push({ type: 'cancelAction', actionId: id, reason });
      this.onActionResult(id, { ok: false, recoveryClass: 'move-elsewhere', reason });
    }
  }

  private onActionResult(actionId: number, result: ActionResult): void {
    const a = this.actions.get(actionId);
    if (!a) return; // late result of a cancelled action
    this.actions.delete(actionId);
    const op = this.ops.get(a.opKey);
    if (!op || !op.pending.has(actionId)) return;
    op.pending.delete(actionId);
    this.log(result.ok ? 'info' : 'warn', `${a.action} ${a.tag} ${result.ok ? 'succeeded' : 'failed'}${result.reason ? ': ' + result.reason : ''}`, {
      tag: a.tag,
      action: a.action,
      ok: result.ok,
      recoveryClass: result.recoveryClass,
      at: this.now,
    });
    if (result.haltNode) this.out.push({ type: 'haltNode', reason: `${a.tag}: ${result.reason}` });
    if (result.ok && !this.resources.has(a.tag)) {
      op.done.push(a.tag); // the resource was removed from the configuration meanwhile
    } else if (result.ok) {
      op.done.push(a.tag);
      if (op.kind === 'restore') this.setState(a.tag, inServiceState(this.resources.get(a.tag)!.cfg.equivalents.length > 0), 'restored', 'restored');
      // A failed resource stays OSF with its failure reason after being cleaned up.
      if (op.kind === 'remove' && op.failedTag !== a.tag && (this.resources.get(a.tag)!.state !== 'OSF' || op.origin === 'agent-start')) this.setState(a.tag, 'OSU', 'removed', op.origin);
      if (op.kind === 'check') this.resources.get(a.tag)!.nextCheck = this.now + this.checkInterval(a.tag);
    } else {
      op.failures.push({ tag: a.tag, result });
    }
    if (op.pending.size > 0) return;
    // A wave is complete.
    if (op.failures.length > 0 && op.kind !== 'check' && op.kind !== 'recover') {
      this.finishOp(op);
      return;
    }
    op.wave++;
    this.runWave(op);
  }

  private endOp(op: Operation): void {
    this.ops.delete(op.key);
    const q = this.queued.get(op.key);
    const next = q?.shift();
    if (q && q.length === 0) this.queued.delete(op.key);
    if (next) this.startOp(next);
  }

  private finishOp(op: Operation): void {
    switch (op.kind) {
      case 'restore':
        return this.finishRestore(op);
      case 'remove':
        return this.finishRemove(op);
      case 'check':
        return this.finishCheck(op);
      case 'recover':
        return this.finishRecover(op);
      case 'single':
        return this.finishSingle(op);
    }
  }

  private finishRestore(op: Operation): void {
    if (op.failures.length === 0) {
      this.endOp(op);
      this.where.set(op.key, this.local);
      this.broadcast({ kind: 'hier-state', key: op.key, inService: true });
      for (const t of this.graph.component(op.key)) this.resources.get(t)!.nextCheck = this.now + this.checkInterval(t);
      this.log('info', `hierarchy ${op.key} in service on ${this.local} (${op.origin})`, { key: op.key, origin: op.origin, at: this.now });
      this.adminDone(op.adminRequest, true, `hierarchy ${op.key} is in service on ${this.local}`);
      if (op.origin === 'failover' || op.origin === 'switchback' || op.origin === 'local-failure') {
        this.replyTakeover(op, true, 'in service');
      }
      const durationMs = this.now - (op.startedAt ?? this.now);
      if (op.origin === 'failover' || op.origin === 'local-failure') {
        const from = op.tried[0] ?? op.takeoverFrom ?? 'unknown';
        this.out.push({ type: 'moved', kind: 'failover', key: op.key, from, to: this.local, durationMs, reason: op.origin === 'failover' ? 'system-down' : 'local-failure' });
      } else if ((op.origin === 'switchover' || op.origin === 'switchback') && (op.fromSystem ?? op.takeoverFrom)) {
        this.out.push({ type: 'moved', kind: 'switchover', key: op.key, from: (op.fromSystem ?? op.takeoverFrom)!, to: this.local, durationMs, reason: op.origin });
      }
      return;
    }
    const worst = worstFailure(op.failures);
    for (const f of op.failures) this.setState(f.tag, 'OSF', 'restore-failed', f.result.reason);
    const reason = op.failures.map((f) => `${f.tag}: ${f.result.reason}`).join('; ');
    // Undo what came up, parents first, before anything else is attempted.
    const rollback = this.newOp('remove', op.key, op.origin, {
      adminRequest: op.adminRequest,
      tried: [...op.tried, this.local],
      retries: op.retries,
    });
    rollback.failedReason = reason;
    rollback.failedTag = '';
    this.endOpQuietly(op);
    if (worst === 'retry-here' && op.retries + 1 < (this.opts.recovery ?? DEFAULT_RECOVERY_POLICY).maxAttempts) {
      this.log('warn', `restore of ${op.key} failed (${reason}); retrying here`, { key: op.key });
      rollback.tried = op.tried;
      rollback.thenRetryRestore = { origin: op.origin, retries: op.retries + 1 };
    } else if (worst !== 'fatal' && op.origin !== 'admin') {
      rollback.thenMove = true;
    }
    this.runRollback(rollback, worst, reason);
  }

  /** Ends an op without starting queued ones (a follow-up op takes its place at once). */
  private endOpQuietly(op: Operation): void {
    this.ops.delete(op.key);
  }

  private runRollback(rb: Operation & RollbackExtra, worst: string, reason: string): void {
    rb.rollbackOf = { worst, reason };
    this.ops.set(rb.key, rb);
    rb.waves = this.graph.removeWaves(this.graph.component(rb.key));
    rb.wave = 0;
    this.runWave(rb);
  }

  private finishRemove(op: Operation & RollbackExtra): void {
    const removeFailed = op.failures.length > 0;
    for (const f of op.failures) this.setState(f.tag, 'OSF', 'remove-failed', f.result.reason);
    if (op.failedTag) {
      const r = this.resources.get(op.failedTag);
      if (r && r.state !== 'OSF') this.setState(op.failedTag, 'OSF', isInService(r.state) ? 'check-failed' : 'remove-failed', op.failedReason ?? 'failed');
    }
    const stillUp = this.hierarchyInServiceHere(op.key);
    if (!stillUp && this.where.get(op.key) === this.local) {
      this.where.delete(op.key);
      this.broadcast({ kind: 'hier-state', key: op.key, inService: false });
    }
    this.endOpQuietly(op);
    const removeReason = op.failures.map((f) => `${f.tag}: ${f.result.reason}`).join('; ');

    if (op.rollbackOf) {
      // A failed restore was undone.
      if (op.thenRetryRestore) {
        this.startOp(this.newOp('restore', op.key, op.thenRetryRestore.origin, { adminRequest: op.adminRequest, tried: op.tried, retries: op.thenRetryRestore.retries }));
        return this.drainQueue(op.key);
      }
      const msg = `hierarchy ${op.key} could not be brought in service on ${this.local}: ${op.rollbackOf.reason}`;
      this.log('error', msg, { key: op.key });
      this.adminDone(op.adminRequest, false, msg);
      if (op.thenMove && !removeFailed) this.passOn(op.key, op.tried, op.rollbackOf.reason, op.origin);
      else this.replyTakeover(op, false, op.rollbackOf.reason);
      return this.drainQueue(op.key);
    }

    if (removeFailed) {
      const msg = `hierarchy ${op.key} could not be taken out of service on ${this.local}: ${removeReason}`;
      this.log('error', msg, { key: op.key });
      this.adminDone(op.adminRequest, false, msg);
      if (op.releaseFor) this.send(op.releaseFor.system, { kind: 'release-result', key: op.key, request: op.releaseFor.request, ok: false, reason: removeReason });
      // Never start the hierarchy elsewhere while part of it may still run here.
      return this.drainQueue(op.key);
    }
    this.adminDone(op.adminRequest, true, `hierarchy ${op.key} is out of service on ${this.local}`);
    if (op.releaseFor) this.send(op.releaseFor.system, { kind: 'release-result', key: op.key, request: op.releaseFor.request, ok: true, reason: 'released' });
    if (op.thenTakeoverBy) {
      this.send(op.thenTakeoverBy, { kind: 'takeover', key: op.key, tried: op.tried, reason: op.origin, origin: op.origin });
    } else if (op.origin === 'local-failure' && !op.noMove) {
      this.passOn(op.key, [...op.tried, this.local], op.failedReason ?? 'local failure', 'local-failure');
    }
    this.drainQueue(op.key);
  }

  private drainQueue(key: string): void {
    if (this.ops.has(key)) return;
    const q = this.queued.get(key);
    const next = q?.shift();
    if (q && q.length === 0) this.queued.delete(key);
    if (next) this.startOp(next);
  }

  /** Hands the hierarchy to the best remaining live system, if any. */
  private passOn(key: string, tried: string[], reason: string, origin: OpOrigin): void {
    const target = chooseSystem(this.hierarchyCandidates(key), this.alive, new Set(tried));
    if (!target) {
      this.log('error', `hierarchy ${key} cannot be brought in service anywhere: ${reason}`, { key, tried });
      return;
    }
    if (target === this.local) {
      this.startOp(this.newOp('restore', key, origin, { tried }));
      return;
    }
    this.log('info', `hierarchy ${key} handed to ${target}: ${reason}`, { key, target });
    this.send(target, { kind: 'takeover', key, tried, reason, origin });
  }

  private replyTakeover(op: Operation, ok: boolean, reason: string): void {
    if (op.takeoverFrom) this.send(op.takeoverFrom, { kind: 'takeover-result', key: op.key, ok, reason });
  }

  private finishSingle(op: Operation): void {
    this.endOpQuietly(op);
    const s = op.single!;
    if (op.failures.length === 0) {
      if (s.action === 'restore') this.setState(s.tag, inServiceState(this.resources.get(s.tag)!.cfg.equivalents.length > 0), 'restored', 'perform_action');
      else this.setState(s.tag, 'OSU', 'removed', 'perform_action');
      this.adminDone(op.adminRequest, true, `${s.action} of ${s.tag} succeeded`);
    } else {
      const reason = op.failures[0]!.result.reason;
      this.setState(s.tag, 'OSF', s.action === 'restore' ? 'restore-failed' : 'remove-failed', reason);
      this.adminDone(op.adminRequest, false, `${s.action} of ${s.tag} failed: ${reason}`);
    }
    if (this.hierarchyInServiceHere(op.key)) {
      if (this.where.get(op.key) !== this.local) {
        this.where.set(op.key, this.local);
        this.broadcast({ kind: 'hier-state', key: op.key, inService: true });
      }
    } else if (this.where.get(op.key) === this.local) {
      this.where.delete(op.key);
      this.broadcast({ kind: 'hier-state', key: op.key, inService: false });
    }
    this.drainQueue(op.key);
  }

  // ---- monitoring and local recovery ----

  private checkInterval(tag: string): number {
    const app = this.resources.get(tag)?.cfg.app ?? '';
    return this.opts.checkIntervalByApp?.[app] ?? this.opts.checkIntervalMs;
  }

  private scheduleChecks(): void {
    for (const [key, comp] of this.graph.hierarchies()) {
      if (this.ops.has(key) || this.queued.has(key)) continue;
      const due = comp.filter((t) => {
        const r = this.resources.get(t)!;
        return isInService(r.state) && r.nextCheck <= this.now;
      });
      if (due.length === 0) continue;
      const op = this.newOp('check', key, 'local-failure');
      // Check children before parents so the reported failure is the lowest broken resource.
      op.waves = this.graph.restoreWaves(due);
      this.ops.set(key, op);
      this.runWave(op);
    }
  }

  private finishCheck(op: Operation): void {
    this.endOpQuietly(op);
    if (op.failures.length === 0) return this.drainQueue(op.key);
    // The lowest failed resource is the one to recover (parents often fail because of it).
    const order = this.graph.restoreWaves(op.failures.map((f) => f.tag)).flat();
    const first = op.failures.find((f) => f.tag === order[0])!;
    this.onMonitorFailure(op.key, first.tag, first.result);
  }

  private onMonitorFailure(key: string, tag: string, result: ActionResult): void {
    const r = this.resources.get(tag)!;
    const facts = this.opts.kitFacts(r.cfg.app);
    this.log('warn', `quickCheck of ${tag} failed: ${result.reason}`, { tag, recoveryClass: result.recoveryClass, at: this.now });
    if (result.recoveryClass === 'fatal') {
      this.startOp(this.newOp('remove', key, 'local-failure', { failedTag: tag, failedReason: result.reason, tried: [], noMove: true }));
      return;
    }
    if (facts?.supportsRecover) {
      if (this.budget.tryTake(tag, this.now)) {
        const op = this.newOp('recover', key, 'local-failure');
        op.waves = [[tag]];
        op.failedReason = result.reason;
        this.ops.set(key, op);
        this.runWave(op);
        return;
      }
      this.log('warn', `local recovery budget for ${tag} spent; failing over`, { tag });
    }
    this.failOverFromHere(key, tag, result.reason);
  }

  private finishRecover(op: Operation): void {
    this.endOpQuietly(op);
    const tag = op.waves[0]![0]!;
    if (op.failures.length === 0) {
      this.log('info', `local recovery of ${tag} succeeded`, { tag, at: this.now });
      this.resources.get(tag)!.nextCheck = this.now + this.checkInterval(tag);
      return this.drainQueue(op.key);
    }
    const f = op.failures[0]!;
    if (f.result.recoveryClass === 'fatal') return this.onMonitorFailure(op.key, tag, f.result);
    this.failOverFromHere(op.key, tag, `recover failed: ${f.result.reason}`);
  }

  private failOverFromHere(key: string, tag: string, reason: string): void {
    const veto = this.veto(key);
    if (veto) {
      this.log('warn', `failover of ${key} vetoed: ${veto}; staying here`, { key });
      this.resources.get(tag)!.nextCheck = this.now + this.checkInterval(tag);
      return this.drainQueue(key);
    }
    this.startOp(this.newOp('remove', key, 'local-failure', { failedTag: tag, failedReason: reason, tried: [] }));
  }

  // ---- peers ----

  private onMessage(from: string, msg: PeerMessage): void {
    switch (msg.kind) {
      case 'hier-state':
        if (msg.inService) this.peerHasInService(from, msg.key);
        else if (this.where.get(msg.key) === from) {
          this.where.delete(msg.key);
          // Taken out there on purpose (its agent stopping, an administrator): say why this copy could not take over.
          const failed = this.graph.has(msg.key) ? this.graph.component(msg.key).filter((t) => this.resources.get(t)?.state === 'OSF') : [];
          if (failed.length) this.log('warn', `hierarchy ${msg.key} went out of service on ${from}; ${this.local} cannot take it over: ${failed.map((t) => `${t} is OSF (${this.resources.get(t)!.reason})`).join(', ')}`, { key: msg.key, from });
        }
        return;
      case 'hier-state-sync':
        for (const [t, s] of [...this.whereTag]) if (s === from) this.whereTag.delete(t);
        for (const k of msg.inService) this.peerHasInService(from, k);
        return;
      case 'takeover': {
        const key = this.graph.has(msg.key) ? this.graph.hierarchyKey(msg.key) : undefined;
        if (!key) {
          this.send(from, { kind: 'takeover-result', key: msg.key, ok: false, reason: `no hierarchy ${msg.key} on ${this.local}`, tryNext: [...msg.tried, this.local] });
          return;
        }
        if (this.opts.quorum && !this.opts.quorum()) {
          this.send(from, { kind: 'takeover-result', key, ok: false, reason: `no quorum on ${this.local}`, tryNext: [...msg.tried, this.local] });
          return;
        }
        const op = this.newOp('restore', key, msg.origin, { tried: msg.tried });
        op.takeoverFrom = from;
        this.startOp(op);
        return;
      }
      case 'takeover-result':
        this.handoffRetries.delete(this.graph.has(msg.key) ? this.graph.hierarchyKey(msg.key) : msg.key);
        if (!msg.ok) {
          this.log('warn', `takeover of ${msg.key} failed on ${from}: ${msg.reason}`, { key: msg.key, from });
          // The receiver could not even try; the hierarchy is on nobody's hands but ours to pass.
          if (msg.tryNext && this.graph.has(msg.key)) this.passOn(this.graph.hierarchyKey(msg.key), msg.tryNext, msg.reason, 'failover');
        }
        return;
      case 'release': {
        const key = this.graph.has(msg.key) ? this.graph.hierarchyKey(msg.key) : msg.key;
        if (!this.graph.has(key) || !this.hierarchyInServiceHere(key)) {
          this.send(from, { kind: 'release-result', key, request: msg.request, ok: true, reason: 'not in service here' });
          return;
        }
        this.startOp(this.newOp('remove', key, 'switchover', { releaseFor: { system: from, request: msg.request } }));
        return;
      }
      case 'release-result': {
        const pr = this.pendingReleases.get(msg.request);
        if (!pr) return;
        this.pendingReleases.delete(msg.request);
        if (!msg.ok) {
          this.adminDone(msg.request, false, `switchover of ${pr.key} refused: ${from} could not take it out of service: ${msg.reason}`);
          return;
        }
        if (this.where.get(pr.key) === from) this.where.delete(pr.key);
        this.startOp(this.newOp('restore', pr.key, 'switchover', { adminRequest: msg.request, fromSystem: from, startedAt: pr.startedAt }));
        return;
      }
      case 'lock': {
        const res = this.locks.request(msg.key, msg.owner, this.now);
        this.send(from, res.granted
          ? { kind: 'lock-result', key: msg.key, request: msg.owner.request, granted: true }
          : { kind: 'lock-result', key: msg.key, request: msg.owner.request, granted: false, holder: res.holder });
        return;
      }
      case 'lock-result': {
        const pl = this.pendingLocks.get(msg.request);
        if (!pl || !pl.waiting.delete(from)) return;
        if (msg.granted) pl.granted.add(from);
        else pl.refused ??= msg.holder;
        this.maybeFinishLock(pl);
        return;
      }
      case 'unlock':
        this.locks.release(msg.key, msg.owner);
        return;
    }
  }

  /**
   * A peer says it runs a hierarchy. If it runs here too (the two sides were cut off from each
   * other and both brought it in service), the system with the worse priority takes its copy
   * out of service; both sides decide the same way from the same priorities.
   */
  private peerHasInService(from: string, peerKey: string): void {
    const key = this.graph.has(peerKey) ? this.graph.hierarchyKey(peerKey) : peerKey;
    if (this.graph.has(key) && this.hierarchyInServiceHere(key) && !this.ops.has(key)) {
      const cands = this.hierarchyCandidates(key);
      const mine = cands.find((c) => c.system === this.local)?.priority ?? Infinity;
      const theirs = cands.find((c) => c.system === from)?.priority ?? Infinity;
      this.log('error', `hierarchy ${key} is in service on both ${this.local} and ${from}`, { key, from, mine, theirs });
      if (theirs < mine) {
        this.where.set(key, from);
        this.startOp(this.newOp('remove', key, 'switchover'));
      } else {
        // Tell the other side it runs here too, so it resolves the same way.
        this.send(from, { kind: 'hier-state', key, inService: true });
      }
      return;
    }
    this.where.set(key, from);
  }

  private resendHandoffs(): void {
    for (const [key, h] of [...this.handoffRetries]) {
      if (h.at > this.now) continue;
      if (!this.alive.has(h.to) || this.ops.has(key) || this.hierarchyInServiceHere(key)) {
        // Gone meanwhile, or something else brought it back here: decide afresh.
        this.handoffRetries.delete(key);
        if (!this.alive.has(h.to)) this.onSendFailed(h.to, h.msg);
        continue;
      }
      h.at = Number.POSITIVE_INFINITY; // until this attempt's outcome is known
      this.send(h.to, h.msg);
    }
  }

  private onSendFailed(to: string, msg: PeerMessage): void {
    if (msg.kind === 'takeover') {
      // A live system that just came back may not accept messages yet: try it again a few
      // times before handing the hierarchy to the next one.
      const prev = this.handoffRetries.get(msg.key);
      const attempts = prev && prev.to === to ? prev.attempts + 1 : 1;
      if (this.alive.has(to) && attempts <= HANDOFF_ATTEMPTS) {
        this.handoffRetries.set(msg.key, { to, msg, attempts, at: this.now + HANDOFF_RETRY_MS });
        return;
      }
      this.handoffRetries.delete(msg.key);
      this.log('warn', `could not hand ${msg.key} to ${to}; trying the next system`, { key: msg.key, to });
      this.passOn(msg.key, [...msg.tried, to], `${to} unreachable`, msg.origin);
    } else if (msg.kind === 'lock') {
      const pl = [...this.pendingLocks.values()].find((p) => p.owner.request === msg.owner.request);
      if (pl && pl.waiting.delete(to)) this.maybeFinishLock(pl);
    } else if (msg.kind === 'release') {
      const pr = this.pendingReleases.get(msg.request);
      if (pr) {
        this.pendingReleases.delete(msg.request);
        this.adminDone(msg.request, false, `switchover of ${pr.key} failed: ${to} unreachable`);
      }
    }
  }

  private expirePeerWaits(): void {
    for (const pl of [...this.pendingLocks.values()]) {
      if (pl.deadline <= this.now && pl.waiting.size > 0) {
        pl.refused ??= { system: [...pl.waiting][0]!, request: '', purpose: 'no answer' };
        pl.waiting.clear();
        this.maybeFinishLock(pl);
      }
    }
    for (const [req, pr] of [...this.pendingReleases]) {
      if (pr.deadline <= this.now) {
        this.pendingReleases.delete(req);
        this.adminDone(req, false, `switchover of ${pr.key} failed: ${pr.from} did not answer`);
      }
    }
  }

  // ---- administration ----

  private resolve(request: string, tag: string): string | undefined {
    if (!this.graph.has(tag)) {
      this.adminDone(request, false, `resource ${tag} not found on ${this.local}`);
      return undefined;
    }
    return this.graph.hierarchyKey(tag);
  }

  private adminInService(request: string, tag: string): void {
    const key = this.resolve(request, tag);
    if (!key) return;
    if (this.opts.quorum && !this.opts.quorum()) return this.adminDone(request, false, `no quorum on ${this.local}`);
    const at = this.where.get(key);
    if (at === this.local && this.graph.component(key).every((t) => isInService(this.resources.get(t)!.state))) {
      return this.adminDone(request, true, `hierarchy ${key} is already in service on ${this.local}`);
    }
    if (at && at !== this.local && this.alive.has(at)) {
      const veto = this.veto(key);
      if (veto) return this.adminDone(request, false, `switchover of ${key} refused: ${veto}`);
      this.pendingReleases.set(request, { key, request, from: at, startedAt: this.now, deadline: this.now + (this.opts.peerReplyTimeoutMs ?? 300_000) });
      this.send(at, { kind: 'release', key, request });
      return;
    }
    this.startOp(this.newOp('restore', key, 'admin', { adminRequest: request }));
  }

  private adminOutOfService(request: string, tag: string): void {
    const key = this.resolve(request, tag);
    if (!key) return;
    this.startOp(this.newOp('remove', key, 'admin', { adminRequest: request }));
  }

  private adminAction(request: string, tag: string, action: 'restore' | 'remove'): void {
    const key = this.resolve(request, tag);
    if (!key) return;
    this.startOp(this.newOp('single', key, 'admin', { adminRequest: request, single: { tag, action } }));
  }

  private lockRequest(request: string, tag: string, purpose: string): void {
    const key = this.graph.has(tag) ? this.graph.hierarchyKey(tag) : tag;
    const owner: LockOwner = { system: this.local, request, purpose };
    const mine = this.locks.request(key, owner, this.now);
    if (!mine.granted) {
      return this.adminDone(request, false, lockRefusal(key, mine.holder));
    }
    const pl: PendingLock = {
      key,
      owner,
      waiting: new Set([...this.alive].filter((s) => s !== this.local)),
      granted: new Set([this.local]),
      deadline: this.now + (this.opts.peerReplyTimeoutMs ?? 30_000),
    };
    this.pendingLocks.set(request, pl);
    for (const s of pl.waiting) this.send(s, { kind: 'lock', key, owner });
    this.maybeFinishLock(pl);
  }

  private maybeFinishLock(pl: PendingLock): void {
    if (pl.waiting.size > 0) return;
    this.pendingLocks.delete(pl.owner.request);
    if (pl.refused) {
      for (const s of pl.granted) {
        if (s === this.local) this.locks.release(pl.key, pl.owner);
        else this.send(s, { kind: 'unlock', key: pl.key, owner: pl.owner });
      }
      return this.adminDone(pl.owner.request, false, lockRefusal(pl.key, pl.refused));
    }
    this.heldLocks.set(pl.owner.request, pl);
    this.adminDone(pl.owner.request, true, `lock on ${pl.key} held`);
  }

  private lockRelease(request: string): void {
    const pl = this.heldLocks.get(request);
    if (!pl) return this.adminDone(request, true, 'no lock held');
    this.heldLocks.delete(request);
    for (const s of pl.granted) {
      if (s === this.local) this.locks.release(pl.key, pl.owner);
      else if (this.alive.has(s)) this.send(s, { kind: 'unlock', key: pl.key, owner: pl.owner });
    }
    this.adminDone(request, true, `lock on ${pl.key} released`);
  }
}

interface RollbackExtra {
  /** When the operation (or the chain it continues) began, for durations. */
  startedAt?: number;
  /** The system the hierarchy comes from (switchovers, switchbacks). */
  fromSystem?: string;
  rollbackOf?: { worst: string; reason: string };
  thenRetryRestore?: { origin: OpOrigin; retries: number };
  thenMove?: boolean;
  noMove?: boolean;
  takeoverFrom?: string;
}

// Operation carries the optional follow-up fields too (interface merging).
interface Operation extends RollbackExtra {}

/** How often a hand-over to a live but not yet ready system is retried, and how far apart. */
const HANDOFF_ATTEMPTS = 5;
const HANDOFF_RETRY_MS = 1_000;

function worstFailure(fs: Array<{ result: ActionResult }>): 'retry-here' | 'move-elsewhere' | 'fatal' {
  if (fs.some((f) => f.result.recoveryClass === 'fatal')) return 'fatal';
  if (fs.some((f) => f.result.recoveryClass === 'move-elsewhere')) return 'move-elsewhere';
  return 'retry-here';
}

function lockRefusal(key: string, holder: LockOwner): string {
  return `hierarchy ${key} is locked by ${holder.purpose} on ${holder.system}; try again when it finishes`;
}

function checkDepthFor(cfg: ResourceConfig, facts: KitFacts): CheckDepth {
  const want = Number(cfg.info['checkDepth'] ?? facts.maxCheckDepth);
  const d = want >= 20 ? 20 : want >= 10 ? 10 : 0;
  return (Math.min(d, facts.maxCheckDepth) as CheckDepth);
}
