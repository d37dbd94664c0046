// How a restore ends. In service: the hierarchy is placed here, its checks are scheduled, the
// administrator or the peer that asked is answered and the move is reported with its duration.
// Failed: the failed resources end OSF and the restore is rolled back (parents first); by the
// worst failure, the rollback is followed by another restore here (retry-here, while fewer than
// the recovery policy's maxAttempts restores have been made), by passing the hierarchy to the
// next system, or by giving up (fatal, or an administrator's request).

import type { ActionResult } from '../../kits/kit.js';
import type { EngineContext } from '../engine-context.js';
import type { Placement } from '../placement.js';
import { removeOp, type Operation, type RestoreOp } from './operation.js';

export class RestoreOutcomes {
  constructor(
    private readonly ctx: EngineContext,
    private readonly placement: Placement,
    private readonly start: (op: Operation) => void,
    /** Restores made here before a retry-here failure moves on (the recovery policy's maxAttempts). */
    private readonly maxAttempts: number,
  ) {}

  ended(op: RestoreOp): void {
    if (op.failures.length === 0) return this.inService(op);
    const { ctx } = this;
    const serve = op.then;
    const worst = worstFailure(op.failures);
    for (const f of op.failures) ctx.setState(f.tag, 'OSF', 'restore-failed', f.result.reason);
    const reason = op.failures.map((f) => `${f.tag}: ${f.result.reason}`).join('; ');
    let next: 'retry-here' | 'pass-on' | 'give-up';
    if (worst === 'retry-here' && serve.retries + 1 < this.maxAttempts) {
      ctx.log('warn', `restore of ${op.key} failed (${reason}); retrying here`, { key: op.key });
      next = 'retry-here';
    } else {
      next = worst !== 'fatal' && op.origin !== 'admin' ? 'pass-on' : 'give-up';
    }
    // Undo what came up, parents first, before anything else is attempted.
    this.start(removeOp(op.key, op.origin, { kind: 'after-rollback', next, serve, reason }, op.request));
  }

  private inService(op: RestoreOp): void {
    const { ctx } = this;
    const serve = op.then;
    this.placement.cameInService(op.key);
    for (const t of ctx.graph.component(op.key)) ctx.resources.get(t)!.nextCheck = ctx.firstCheckAt(t);
    ctx.log('info', `hierarchy ${op.key} in service on ${ctx.local} (${op.origin})`, { key: op.key, origin: op.origin, at: ctx.now });
    ctx.adminDone(op.request, true, `hierarchy ${op.key} is in service on ${ctx.local}`);
    if (serve.replyTo) ctx.send(serve.replyTo, { kind: 'takeover-result', key: op.key, ok: true, reason: 'in service' });
    if (serve.moved) {
      const { kind, from, reason } = serve.moved;
      ctx.emit({ type: 'moved', kind, key: op.key, from, to: ctx.local, durationMs: ctx.now - serve.since, reason });
    }
  }
}

function worstFailure(fs: Array<{ result: ActionResult }>): 'retry-here' | 'move-elsewhere' | 'fatal' {
  if (fs.some((f) => f.result.recoveryClass === 'fatal')) return 'fatal';
  if (fs.some((f) => f.result.recoveryClass === 'move-elsewhere')) return 'move-elsewhere';
  return 'retry-here';
}
