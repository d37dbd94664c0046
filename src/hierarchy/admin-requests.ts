// An administrator's requests on a hierarchy: bring it in service here (a switchover when a
// live peer runs it), take it out of service here, or run one action on one resource only
// (perform_action), and the answer to each.

import type { EngineContext } from './engine-context.js';
import { removeOp, restoreOp, serve, singleOp, type Operation, type SingleOp } from './operations/operation.js';
import type { Placement } from './placement.js';
import { inServiceState, isInService } from './states.js';
import type { Switchovers } from './switchover.js';

export class AdminRequests {
  constructor(
    private readonly ctx: EngineContext,
    private readonly placement: Placement,
    private readonly switchovers: Switchovers,
    private readonly start: (op: Operation) => void,
  ) {}

  inService(request: string, tag: string): void {
    const { ctx } = this;
    const key = this.resolve(request, tag);
    if (!key) return;
    if (!ctx.hasQuorum()) return ctx.adminDone(request, false, `no quorum on ${ctx.local}`);
    const at = this.placement.get(key);
    if (at === ctx.local && ctx.graph.component(key).every((t) => isInService(ctx.resources.get(t)!.state))) {
      return ctx.adminDone(request, true, `hierarchy ${key} is already in service on ${ctx.local}`);
    }
    if (at && at !== ctx.local && ctx.alive.has(at)) return this.switchovers.ask(request, key, at);
    this.start(restoreOp(key, 'admin', serve('admin', ctx.now), request));
  }

  outOfService(request: string, tag: string, yieldReason?: string): void {
    const key = this.resolve(request, tag);
    if (!key) return;
    this.start(removeOp(key, 'admin', yieldReason === undefined ? { kind: 'stay-out' } : { kind: 'yield', reason: yieldReason }, request));
  }

  action(request: string, tag: string, action: 'restore' | 'remove'): void {
    const key = this.resolve(request, tag);
    if (!key) return;
    this.start(singleOp(key, tag, action, request));
  }

  /** perform_action ended: the resource's state, the answer, and where the hierarchy now runs. */
  singleEnded(op: SingleOp): void {
    const { ctx } = this;
    const { tag, action } = op.then;
    if (op.failures.length === 0) {
      if (action === 'restore') ctx.setState(tag, inServiceState(ctx.resources.get(tag)!.cfg.equivalents.length > 0), 'restored', 'perform_action');
      else ctx.setState(tag, 'OSU', 'removed', 'perform_action');
      ctx.adminDone(op.request, true, `${action} of ${tag} succeeded`);
    } else {
      const reason = op.failures[0]!.result.reason;
      ctx.setState(tag, 'OSF', action === 'restore' ? 'restore-failed' : 'remove-failed', reason);
      ctx.adminDone(op.request, false, `${action} of ${tag} failed: ${reason}`);
    }
    this.placement.reconcile(op.key);
  }

  private resolve(request: string, tag: string): string | undefined {
    const key = this.ctx.keyOf(tag);
    if (key === undefined) this.ctx.adminDone(request, false, `resource ${tag} not found on ${this.ctx.local}`);
    return key;
  }
}
