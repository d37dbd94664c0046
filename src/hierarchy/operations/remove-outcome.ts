// How a remove ends: failed resources end OSF, the peers learn when the hierarchy is no longer
// in service here, and the continuation follows (see AfterRemove in operation.ts). A remove
// that failed never lets the hierarchy start elsewhere: part of it may still run here.

import type { EngineContext } from '../engine-context.js';
import type { OpOrigin, PeerMessage } from '../engine-types.js';
import type { Placement } from '../placement.js';
import { isInService } from '../states.js';
import { restoreOp, type AfterRemove, type Operation, type RemoveOp } from './operation.js';

export class RemoveOutcomes {
  constructor(
    private readonly ctx: EngineContext,
    private readonly placement: Placement,
    private readonly start: (op: Operation) => void,
    private readonly passOn: (key: string, tried: string[], reason: string, origin: OpOrigin) => void,
    /** Sends a takeover request and follows it until answered (failover/handoff.ts). */
    private readonly handOver: (to: string, msg: Extract<PeerMessage, { kind: 'takeover' }>) => void,
    /** A restore here gave up for good and was undone: the hierarchy runs nowhere (failover/decide.ts). */
    private readonly gaveUp: (key: string, tried: string[], origin: OpOrigin) => void,
  ) {}

  ended(op: RemoveOp): void {
    const { ctx } = this;
    const then = op.then;
    const removeFailed = op.failures.length > 0;
    for (const f of op.failures) ctx.setState(f.tag, 'OSF', 'remove-failed', f.result.reason);
    if (then.kind === 'fail-over' || then.kind === 'stay-failed') {
      const r = ctx.resources.get(then.failedTag);
      if (r && r.state !== 'OSF') ctx.setState(then.failedTag, 'OSF', isInService(r.state) ? 'check-failed' : 'remove-failed', then.reason);
    }
    this.placement.leftIfGone(op.key, then.kind === 'yield' && !removeFailed);
    if (then.kind === 'after-rollback') return this.afterRollback(op, then, removeFailed);

    if (removeFailed) {
      const removeReason = op.failures.map((f) => `${f.tag}: ${f.result.reason}`).join('; ');
      const msg = `hierarchy ${op.key} could not be taken out of service on ${ctx.local}: ${removeReason}`;
      ctx.log('error', msg, { key: op.key });
      ctx.adminDone(op.request, false, msg);
      if (then.kind === 'answer-release') ctx.send(then.to, { kind: 'release-result', key: op.key, request: then.request, ok: false, reason: removeReason });
      return;
    }
    ctx.adminDone(op.request, true, `hierarchy ${op.key} is out of service on ${ctx.local}`);
    switch (then.kind) {
      case 'answer-release':
        ctx.send(then.to, { kind: 'release-result', key: op.key, request: then.request, ok: true, reason: 'released' });
        return;
      case 'hand-over':
        this.handOver(then.to, { kind: 'takeover', key: op.key, tried: then.tried, reason: op.origin, origin: op.origin });
        return;
      case 'fail-over':
        this.passOn(op.key, [ctx.local], then.reason, 'local-failure');
        return;
      case 'stay-out':
      case 'stay-failed':
      case 'yield':
        return;
    }
  }

  /** A failed restore was undone. */
  private afterRollback(op: RemoveOp, then: Extract<AfterRemove, { kind: 'after-rollback' }>, removeFailed: boolean): void {
    const { ctx } = this;
    const { serve, reason } = then;
    if (then.next === 'retry-here') {
      this.start(restoreOp(op.key, op.origin, { ...serve, retries: serve.retries + 1 }, op.request));
      return;
    }
    const msg = `hierarchy ${op.key} could not be brought in service on ${ctx.local}: ${reason}`;
    ctx.log('error', msg, { key: op.key });
    ctx.adminDone(op.request, false, msg);
    if (then.next === 'pass-on' && !removeFailed) {
      // The system that asked stops following its request (handoff.ts): the hierarchy is on
      // this system's hands now, and it passes it on itself.
      if (serve.replyTo) ctx.send(serve.replyTo, { kind: 'takeover-result', key: op.key, ok: false, reason: `${reason}; passed on by ${ctx.local}` });
      this.passOn(op.key, [...serve.tried, ctx.local], reason, op.origin);
      return;
    }
    if (serve.replyTo) ctx.send(serve.replyTo, { kind: 'takeover-result', key: op.key, ok: false, reason });
    // Undone cleanly and not to be tried elsewhere: in service nowhere. (A failed undo may leave
    // part of it running here: then nothing may bring it in service anywhere else.)
    if (then.next === 'give-up' && !removeFailed) this.gaveUp(op.key, [...serve.tried, ctx.local], op.origin);
  }
}
