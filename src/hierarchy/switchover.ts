// Switchover: an administrator brings a hierarchy in service here while another live system
// runs it. This system asks the holder to release it (`release`); the holder takes it out of
// service and answers (`release-result`); then it is restored here. The holder's refusal, its
// silence past the peer-reply time-out or its death answer the administrator; a holder that
// dies meanwhile leaves the hierarchy free, and it is brought in service here as asked.

import type { EngineContext } from './engine-context.js';
import type { PeerMessage } from './engine-types.js';
import { moveVeto } from './failover/veto.js';
import { removeOp, restoreOp, serve, type Operation } from './operations/operation.js';
import type { Placement } from './placement.js';
import { earliest } from '../common/earliest.js';

interface PendingRelease {
  key: string;
  startedAt: number;
  request: string;
  from: string;
  deadline: number;
}

export class Switchovers {
  private readonly pending = new Map<string, PendingRelease>(); // by request

  constructor(
    private readonly ctx: EngineContext,
    private readonly placement: Placement,
    private readonly start: (op: Operation) => void,
  ) {}

  /** Asks `holder` to release the hierarchy for the administrator's `request`. */
  ask(request: string, key: string, holder: string): void {
    const { ctx } = this;
    const veto = moveVeto(ctx, key);
    if (veto) return ctx.adminDone(request, false, `switchover of ${key} refused: ${veto}`);
    this.pending.set(request, { key, request, from: holder, startedAt: ctx.now, deadline: ctx.now + (ctx.opts.peerReplyTimeoutMs ?? 300_000) });
    ctx.send(holder, { kind: 'release', key, request });
  }

  /** A peer asks this system (the holder) to release a hierarchy. */
  releaseRequested(from: string, msg: Extract<PeerMessage, { kind: 'release' }>): void {
    const { ctx } = this;
    const key = ctx.keyOf(msg.key) ?? msg.key;
    if (!ctx.graph.has(key) || !ctx.inServiceHere(key)) {
      ctx.send(from, { kind: 'release-result', key, request: msg.request, ok: true, reason: 'not in service here' });
      return;
    }
    this.start(removeOp(key, 'switchover', { kind: 'answer-release', to: from, request: msg.request }));
  }

  released(from: string, msg: Extract<PeerMessage, { kind: 'release-result' }>): void {
    const { ctx } = this;
    const pr = this.pending.get(msg.request);
    if (!pr) return;
    this.pending.delete(msg.request);
    if (!msg.ok) {
      ctx.adminDone(msg.request, false, `switchover of ${pr.key} refused: ${from} could not take it out of service: ${msg.reason}`);
      return;
    }
    if (this.placement.get(pr.key) === from) this.placement.delete(pr.key);
    this.bringHere(pr, from);
  }

  /** The holder died: its hierarchy is free; it is brought in service here as asked. */
  systemDied(system: string): void {
    for (const [req, pr] of [...this.pending]) {
      if (pr.from !== system) continue;
      this.pending.delete(req);
      this.placement.delete(pr.key);
      this.bringHere(pr, system);
    }
  }

  sendFailed(to: string, msg: Extract<PeerMessage, { kind: 'release' }>): void {
    const pr = this.pending.get(msg.request);
    if (!pr) return;
    this.pending.delete(msg.request);
    this.ctx.adminDone(msg.request, false, `switchover of ${pr.key} failed: ${to} unreachable`);
  }

  /** Answers the administrator when the holder does not answer in time (tick). */
  /** When the earliest switchover waiting for its release gives up (tick). */
  nextDeadline(): number | undefined {
    return earliest([...this.pending.values()].map((pr) => pr.deadline));
  }

  expire(): void {
    for (const [req, pr] of [...this.pending]) {
      if (pr.deadline > this.ctx.now) continue;
      this.pending.delete(req);
      this.ctx.adminDone(req, false, `switchover of ${pr.key} failed: ${pr.from} did not answer`);
    }
  }

  private bringHere(pr: PendingRelease, from: string): void {
    this.start(restoreOp(pr.key, 'switchover', serve('switchover', pr.startedAt, { from }), pr.request));
  }
}
