// Runs operations: at most one per hierarchy at a time (others wait in that hierarchy's queue),
// one wave of independent resources at a time (members of a wave run in parallel), each
// action with its time limit (an action with no result by its deadline fails with "timed out"
// and is cancelled). An operation ends in one way: its hierarchy is freed, its continuation is
// handed to `ended` (which may start a follow-up at once, ahead of the queue), and then the
// next queued operation starts if the hierarchy is still free.

import type { ActionResult, CheckDepth, KitAction } from '../../kits/kit.js';
import { actionTimeLimitMs } from '../../kits/action-time-limit.js';
import type { EngineContext } from '../engine-context.js';
import type { EngineCommand, KitFacts, ResourceConfig } from '../engine-types.js';
import { inServiceState, isInService } from '../states.js';
import { failedTagOf, type Operation } from './operation.js';
import { earliest } from '../../common/earliest.js';

interface RunningAction {
  opKey: string;
  tag: string;
  action: KitAction;
  deadline: number;
  timeLimitMs: number;
}

export class OperationRunner {
  private readonly running = new Map<string, Operation>();
  /** Operations waiting for their hierarchy's current one to finish. */
  private readonly queued = new Map<string, Operation[]>();
  private readonly actions = new Map<number, RunningAction>();
  private nextActionId = 1;

  constructor(
    private readonly ctx: EngineContext,
    private readonly ended: (op: Operation) => void,
    /** Told of every operation started (or queued) on a hierarchy, before it runs. */
    private readonly starting: (op: Operation) => void = () => {},
  ) {}

  /** Whether an operation runs on the hierarchy now. */
  isRunning(key: string): boolean {
    return this.running.has(key);
  }

  /** Whether an operation runs or waits on the hierarchy. */
  busy(key: string): boolean {
    return this.running.has(key) || (this.queued.get(key)?.length ?? 0) > 0;
  }

  /** The hierarchies with an operation running or waiting (told to peers in a state sync). */
  busyKeys(): string[] {
    return [...new Set([...this.running.keys(), ...this.queued.keys()])];
  }

  /** Starts the operation, or queues it behind the one running on its hierarchy. */
  start(op: Operation): void {
    const { ctx } = this;
    this.starting(op);
    if (this.running.has(op.key)) {
      const q = this.queued.get(op.key) ?? [];
      q.push(op);
      this.queued.set(op.key, q);
      return;
    }
    const comp = ctx.graph.component(op.key);
    if (comp.length === 0) {
      ctx.adminDone(op.request, false, `hierarchy ${op.key} no longer exists`);
      return;
    }
    this.running.set(op.key, op);
    if (op.kind === 'restore') {
      ctx.log('info', `restoring hierarchy ${op.key} (${op.origin})`, { key: op.key, origin: op.origin, at: ctx.now });
      op.waves = ctx.graph.restoreWaves(comp);
    } else if (op.kind === 'remove') {
      // A rollback is part of the failed restore it undoes; the restore's failure was logged.
      if (op.then.kind !== 'after-rollback') ctx.log('info', `removing hierarchy ${op.key} (${op.origin})`, { key: op.key, origin: op.origin, at: ctx.now });
      op.waves = ctx.graph.removeWaves(comp);
    }
    // check, recover and single operations carry their own waves.
    op.wave = 0;
    this.runWave(op);
  }

  /** Fails every action whose deadline has passed and cancels it. */
  /** The earliest action deadline (tick). */
  nextDeadline(): number | undefined {
    return earliest([...this.actions.values()].map((a) => a.deadline));
  }

  expireActions(): void {
    for (const [id, a] of [...this.actions]) {
      if (a.deadline > this.ctx.now) continue;
      const reason = `${a.action} of ${a.tag} timed out after ${a.timeLimitMs} ms`;
      this.ctx.emit({ type: 'cancelAction', actionId: id, reason });
      this.onActionResult(id, { ok: false, recoveryClass: 'move-elsewhere', reason });
    }
  }

  onActionResult(actionId: number, result: ActionResult): void {
    const { ctx } = this;
    const a = this.actions.get(actionId);
    if (!a) return; // late result of a cancelled action
    this.actions.delete(actionId);
    const op = this.running.get(a.opKey);
    if (!op || !op.pending.has(actionId)) return;
    op.pending.delete(actionId);
    // A passed check is routine (debug); failures and every other action are events (info, warn).
    const level = !result.ok ? 'warn' : op.kind === 'check' ? 'debug' : 'info';
    ctx.log(level, `${a.action} ${a.tag} ${result.ok ? 'succeeded' : 'failed'}${result.reason ? ': ' + result.reason : ''}`, {
      tag: a.tag,
      action: a.action,
      ok: result.ok,
      recoveryClass: result.recoveryClass,
      at: ctx.now,
    });
    if (result.haltNode) ctx.emit({ type: 'haltNode', reason: `${a.tag}: ${result.reason}` });
    const r = ctx.resources.get(a.tag);
    if (result.ok && !r) {
      op.done.push(a.tag); // the resource was removed from the configuration meanwhile
    } else if (result.ok) {
      op.done.push(a.tag);
      if (op.kind === 'restore') ctx.setState(a.tag, inServiceState(r!.cfg.equivalents.length > 0), 'restored', 'restored');
      // A failed resource stays OSF with its failure reason after being cleaned up.
      if (op.kind === 'remove' && failedTagOf(op) !== a.tag && (r!.state !== 'OSF' || op.origin === 'agent-start')) ctx.setState(a.tag, 'OSU', 'removed', op.origin);
      if (op.kind === 'check') r!.nextCheck = ctx.nextCheckAfterPass(a.tag);
    } else {
      op.failures.push({ tag: a.tag, result });
    }
    if (op.pending.size > 0) return;
    // A wave is complete. A failed restore or remove stops; checks and recovers report at the end.
    if (op.failures.length > 0 && op.kind !== 'check' && op.kind !== 'recover') return this.end(op);
    op.wave++;
    this.runWave(op);
  }

  private runWave(op: Operation): void {
    while (op.wave < op.waves.length) {
      const action = actionOf(op);
      const wave = op.waves[op.wave]!.filter((tag) => {
        const st = this.ctx.resources.get(tag)?.state;
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
      if (op.pending.size > 0) return;
      // Every member failed at once (no kit for it): the wave is over already.
      if (op.failures.length > 0 && op.kind !== 'check' && op.kind !== 'recover') break;
      op.wave++;
    }
    this.end(op);
  }

  private issueAction(op: Operation, tag: string, action: KitAction): void {
    const { ctx } = this;
    const r = ctx.resources.get(tag)!;
    const facts = ctx.opts.kitFacts(r.cfg.app);
    if (!facts) {
      op.failures.push({ tag, result: { ok: false, recoveryClass: 'fatal', reason: `no kit for app ${r.cfg.app}` } });
      return;
    }
    const id = this.nextActionId++;
    const timeLimitMs = actionTimeLimitMs(r.cfg.info, action, facts.timeLimits[action]);
    op.pending.set(id, tag);
    this.actions.set(id, { opKey: op.key, tag, action, deadline: ctx.now + timeLimitMs, timeLimitMs });
    const cmd: EngineCommand = { type: 'runAction', actionId: id, tag, action, timeLimitMs };
    if (action === 'quickCheck') cmd.depth = checkDepthFor(r.cfg, facts);
    ctx.emit(cmd);
    ctx.log(op.kind === 'check' ? 'debug' : 'info', `${action} ${tag} begins`, { tag, action, actionId: id, at: ctx.now });
  }

  /** The one way an operation ends. */
  private end(op: Operation): void {
    this.running.delete(op.key);
    this.ended(op);
    if (this.running.has(op.key)) return; // a follow-up took the hierarchy
    const q = this.queued.get(op.key);
    const next = q?.shift();
    if (q && q.length === 0) this.queued.delete(op.key);
    if (next) this.start(next);
  }
}

function actionOf(op: Operation): KitAction {
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
      return op.then.action;
  }
}

function checkDepthFor(cfg: ResourceConfig, facts: KitFacts): CheckDepth {
  const want = Number(cfg.info['checkDepth'] ?? facts.maxCheckDepth);
  const d = want >= 20 ? 20 : want >= 10 ? 10 : 0;
  return Math.min(d, facts.maxCheckDepth) as CheckDepth;
}
