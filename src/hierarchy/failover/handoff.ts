// Hand-overs of a hierarchy to another system (`takeover` messages) and what happens when one
// does not arrive: a live system that just came back may not accept messages yet, so it is
// tried again a few times, a second apart, before the hierarchy goes to the next system. A
// system that answers it could not even try (`tryNext`), or dies before answering, also passes
// the hierarchy on.

import type { EngineContext } from '../engine-context.js';
import type { OpOrigin, PeerMessage } from '../engine-types.js';
import { earliest } from '../../common/earliest.js';

type Takeover = Extract<PeerMessage, { kind: 'takeover' }>;

/** How often a hand-over to a live but not yet ready system is tried, and how far apart. */
export const HANDOFF_ATTEMPTS = 5;
export const HANDOFF_RETRY_MS = 1_000;

export class Handoffs {
  /** Hand-overs not answered yet, by hierarchy: resent at `at` (infinity: sent, awaiting the answer). */
  private readonly retries = new Map<string, { to: string; msg: Takeover; attempts: number; at: number }>();

  constructor(
    private readonly ctx: EngineContext,
    /** Whether an operation runs on the hierarchy here. */
    private readonly isRunning: (key: string) => boolean,
    /** Whether this system knows the hierarchy to be in service somewhere. */
    private readonly placed: (key: string) => boolean,
    private readonly passOn: (key: string, tried: string[], reason: string, origin: OpOrigin) => void,
  ) {}

  /** Hands the hierarchy over: sent now, and followed until `to` answers (or dies first). */
  send(to: string, msg: Takeover): void {
    this.retries.set(msg.key, { to, msg, attempts: 0, at: Number.POSITIVE_INFINITY });
    this.ctx.send(to, msg);
  }

  /** When the earliest hand-over is resent (tick); one awaiting its answer is not due. */
  nextResend(): number | undefined {
    return earliest([...this.retries.values()].map((h) => h.at).filter((at) => at !== Number.POSITIVE_INFINITY));
  }

  /** Resends the hand-overs that are due (tick). */
  resend(): void {
    const { ctx } = this;
    for (const [key, h] of [...this.retries]) {
      if (h.at > ctx.now) continue;
      if (!ctx.alive.has(h.to) || this.isRunning(key) || ctx.inServiceHere(key)) {
        // Gone meanwhile, or something else brought it back here: decide afresh.
        this.retries.delete(key);
        if (!ctx.alive.has(h.to)) this.sendFailed(h.to, h.msg);
        continue;
      }
      h.at = Number.POSITIVE_INFINITY; // until this attempt's outcome is known
      ctx.send(h.to, h.msg);
    }
  }

  /**
   * `system` died: a hand-over it had not answered yet (it may have been waiting for its quorum
   * gate, or restoring) goes to the next system, as if it never arrived.
   */
  systemDied(system: string): void {
    for (const [key, h] of [...this.retries]) {
      if (h.to !== system) continue;
      this.retries.delete(key);
      // In service somewhere known, or brought back here: nothing to pass on.
      if (this.placed(key) || this.isRunning(key) || this.ctx.inServiceHere(key)) continue;
      this.sendFailed(h.to, h.msg);
    }
  }

  sendFailed(to: string, msg: Takeover): void {
    const { ctx } = this;
    const prev = this.retries.get(msg.key);
    const attempts = prev && prev.to === to ? prev.attempts + 1 : 1;
    if (ctx.alive.has(to) && attempts <= HANDOFF_ATTEMPTS) {
      this.retries.set(msg.key, { to, msg, attempts, at: ctx.now + HANDOFF_RETRY_MS });
      return;
    }
    this.retries.delete(msg.key);
    ctx.log('warn', `could not hand ${msg.key} to ${to}; trying the next system`, { key: msg.key, to });
    this.passOn(msg.key, [...msg.tried, to], `${to} unreachable`, msg.origin);
  }

  /** The system asked to take a hierarchy over answered. */
  result(from: string, msg: Extract<PeerMessage, { kind: 'takeover-result' }>): void {
    const { ctx } = this;
    const key = ctx.keyOf(msg.key);
    this.retries.delete(key ?? msg.key);
    if (msg.ok) return;
    ctx.log('warn', `takeover of ${msg.key} failed on ${from}: ${msg.reason}`, { key: msg.key, from });
    // The receiver could not even try; the hierarchy is on nobody's hands but ours to pass.
    if (msg.tryNext && key !== undefined) this.passOn(key, msg.tryNext, msg.reason, 'failover');
  }
}
