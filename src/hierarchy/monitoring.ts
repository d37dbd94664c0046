// Monitoring and local recovery: every in-service resource is checked (quickCheck) each check
// interval, children before parents, while nothing else runs on its hierarchy. The lowest
// failed resource is recovered here when its kit can, within a budget of attempts per window;
// a fatal failure takes the hierarchy out of service without moving it; anything else (budget
// spent, recover failed, kit cannot recover) fails the hierarchy over.

import type { ActionResult } from '../kits/kit.js';
import type { EngineContext } from './engine-context.js';
import { checkOp, recoverOp, removeOp, type CheckOp, type Operation, type RecoverOp } from './operations/operation.js';
import { RecoveryBudget, type RecoveryPolicy } from './recovery-policy.js';
import { isInService } from './states.js';

export interface MonitoringOps {
  busy(key: string): boolean;
  start(op: Operation): void;
}

export class Monitoring {
  private readonly budget: RecoveryBudget;

  constructor(
    private readonly ctx: EngineContext,
    private readonly ops: MonitoringOps,
    policy: RecoveryPolicy,
    /** Moves the hierarchy away after a failure here; false when it must stay (a veto). */
    private readonly leaveAfterFailure: (key: string, tag: string, reason: string) => boolean,
  ) {
    this.budget = new RecoveryBudget(policy);
  }

  /**
   * When the next check falls due: the earliest of the resources in service here, in hierarchies
   * no operation holds (a busy one is checked after the operation, whose end is an event).
   */
  nextCheckDue(): number | undefined {
    const { ctx } = this;
    let next: number | undefined;
    for (const [key, comp] of ctx.graph.hierarchies()) {
      if (this.ops.busy(key)) continue;
      for (const t of comp) {
        const r = ctx.resources.get(t)!;
        if (isInService(r.state) && (next === undefined || r.nextCheck < next)) next = r.nextCheck;
      }
    }
    return next;
  }

  /** Starts the checks that are due (tick). */
  scheduleChecks(): void {
    const { ctx } = this;
    const isDue = (t: string): boolean => {
      const r = ctx.resources.get(t)!;
      return r.nextCheck <= ctx.now && isInService(r.state);
    };
    // Runs every tick over every hierarchy: nothing is allocated unless something is due.
    for (const [key, comp] of ctx.graph.hierarchies()) {
      if (!comp.some(isDue) || this.ops.busy(key)) continue;
      const due = comp.length === 1 ? comp : comp.filter(isDue);
      // Check children before parents so the reported failure is the lowest broken resource.
      this.ops.start(checkOp(key, ctx.graph.restoreWaves(due)));
    }
  }

  checkEnded(op: CheckOp): void {
    if (op.failures.length === 0) return;
    // The lowest failed resource is the one to recover (parents often fail because of it).
    const order = this.ctx.graph.restoreWaves(op.failures.map((f) => f.tag)).flat();
    const first = op.failures.find((f) => f.tag === order[0])!;
    this.onFailure(op.key, first.tag, first.result);
  }

  recoverEnded(op: RecoverOp): void {
    const { ctx } = this;
    const tag = op.then.tag;
    if (op.failures.length === 0) {
      ctx.log('info', `local recovery of ${tag} succeeded`, { tag, at: ctx.now });
      ctx.resources.get(tag)!.nextCheck = ctx.now + ctx.checkInterval(tag);
      return;
    }
    const f = op.failures[0]!;
    if (f.result.recoveryClass === 'fatal') return this.onFailure(op.key, tag, f.result);
    this.failOver(op.key, tag, `recover failed: ${f.result.reason}`);
  }

  private onFailure(key: string, tag: string, result: ActionResult): void {
    const { ctx } = this;
    const r = ctx.resources.get(tag)!;
    const facts = ctx.opts.kitFacts(r.cfg.app);
    ctx.log('warn', `quickCheck of ${tag} failed: ${result.reason}`, { tag, recoveryClass: result.recoveryClass, at: ctx.now });
    if (result.recoveryClass === 'fatal') {
      this.ops.start(removeOp(key, 'local-failure', { kind: 'stay-failed', failedTag: tag, reason: result.reason }));
      return;
    }
    if (facts?.supportsRecover) {
      if (this.budget.tryTake(tag, ctx.now)) {
        this.ops.start(recoverOp(key, tag));
        return;
      }
      ctx.log('warn', `local recovery budget for ${tag} spent; failing over`, { tag });
    }
    this.failOver(key, tag, result.reason);
  }

  private failOver(key: string, tag: string, reason: string): void {
    // Vetoed: it stays here and is checked again next interval.
    if (!this.leaveAfterFailure(key, tag, reason)) this.ctx.resources.get(tag)!.nextCheck = this.ctx.now + this.ctx.checkInterval(tag);
  }
}
