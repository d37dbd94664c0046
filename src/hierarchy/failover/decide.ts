// The failover decisions: which system brings a hierarchy in service when the system running
// it dies, when it fails here, or when a system could not take it; and the rules every takeover
// passes before anything is restored here (the quorum gate: quorum, quarantine, and the hold that
// gives a partitioned peer time to stop; see cluster/quorum/gate.ts). Every survivor computes the
// same target from the same facts (choose-system.ts), so only the chosen one acts.
//
// A peer's takeover request that finds the gate closed only for a while (a hold, quarantine),
// on the last system left to try, waits here for it to open instead of being refused: the peer
// that asked has already taken the hierarchy out, and nobody else would ever bring it back.
//
// Every restore that takes a hierarchy over from another system (its death, a peer's hand-over,
// a pass-on) is started in this file, and a local failure leaves through it: rules that decide
// whether, where or after what a hierarchy may move belong here.
//
// A hierarchy that a failure left in service nowhere (no system left to try, or a failover that
// gave up) is remembered as stranded by the system that found so. When a candidate system comes
// back and its state sync shows the hierarchy still runs nowhere known, that system is asked to
// take it over: its kit decides (the returning last primary of a NetRAID mirror restores; a
// stale backup refuses again and becomes the one that remembers). See `strand`.

import type { EngineContext } from '../engine-context.js';
import type { OpOrigin, PeerMessage } from '../engine-types.js';
import { chooseSystem } from './choose-system.js';
import { removeOp, restoreOp, serve, type Operation } from '../operations/operation.js';
import { isInService } from '../states.js';
import { moveVeto } from './veto.js';

export interface FailoverOps {
  start(op: Operation): void;
  /** Whether an operation runs (or waits to run) on the hierarchy here. */
  busy(key: string): boolean;
  /** Sends a takeover request and follows it until answered (handoff.ts). */
  handOver(to: string, msg: TakeoverRequest): void;
}

type TakeoverRequest = Extract<PeerMessage, { kind: 'takeover' }>;

export class FailoverDecisions {
  /**
   * Hierarchies whose failover waits for quorum, with the systems that already had them. When
   * one of those systems comes back before the failover happened, the entry waits for its word
   * (`waitFor`) on whether it still runs the hierarchy: it may have been cut off or stood still,
   * not dead, and then taking the hierarchy over would run it twice.
   */
  private readonly awaitingQuorum = new Map<string, { tried: string[]; waitFor?: string }>();
  /**
   * Takeover requests received while the gate was closed only for a while (quorumWaiting), by
   * hierarchy: acted on when the gate opens, refused when quorum turns out lost (reviewDeferred).
   */
  private readonly deferred = new Map<string, { from: string; msg: TakeoverRequest; since: number }>();
  /**
   * Hierarchies a failure left in service nowhere, as found here: the systems tried, and the
   * candidate systems that came back since and whose state sync is awaited (`returned`). Only
   * the system that last found no home for a hierarchy holds it: it sets the mark where its own
   * decision ended (a pass-on or a failover with nobody left, a failover restore that gave up),
   * a system that hands the hierarchy on drops it, and the receiver of the hand-over marks it
   * again only if it fails in turn. So one system, not every survivor, asks a returning system,
   * and each return leads to at most one request: no loop of hand-overs between refusing systems.
   */
  private readonly stranded = new Map<string, { tried: string[]; returned: Set<string> }>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly ops: FailoverOps,
    /** Where this system knows the hierarchy runs now (undefined: nowhere known). */
    private readonly placedOn: (key: string) => string | undefined,
  ) {}

  private placed(key: string): boolean {
    return this.placedOn(key) !== undefined;
  }

  /** `system` died with these hierarchies in service. */
  systemDied(system: string, keys: string[]): void {
    for (const s of this.stranded.values()) s.returned.delete(system);
    for (const key of keys) {
      this.ctx.log('warn', `system ${system} died with hierarchy ${key} in service`, { key, system, at: this.ctx.now });
      this.decide(key, [system]);
    }
  }

  /** Brings the hierarchy in service here if this is the best live system left; `tried` are excluded. */
  private decide(key: string, tried: string[]): void {
    const { ctx } = this;
    if (!ctx.resources.has(key)) return;
    const target = chooseSystem(ctx.candidates(key), ctx.alive, new Set(tried));
    if (target !== ctx.local) {
      if (target) ctx.log('info', `hierarchy ${key} fails over to ${target}`, { key, target });
      else {
        ctx.log('error', `hierarchy ${key} has no live system to fail over to`, { key });
        this.strand(key, tried);
      }
      return;
    }
    if (!ctx.hasQuorum()) {
      this.awaitingQuorum.set(key, { tried });
      ctx.log('warn', `failover of ${key} withheld: no quorum`, { key });
      return;
    }
    this.ops.start(restoreOp(key, 'failover', serve('failover', ctx.now, { tried })));
  }

  /** Quorum changed: failovers withheld for want of it are decided again. */
  retryAwaitingQuorum(): void {
    if (!this.ctx.hasQuorum()) return;
    for (const [key, w] of [...this.awaitingQuorum]) {
      if (w.waitFor) continue;
      this.awaitingQuorum.delete(key);
      if (!this.placed(key)) this.decide(key, w.tried);
    }
  }

  /** `system` is alive again: withheld failovers of what it had wait for its word (heardFrom). */
  systemReturned(system: string): void {
    for (const [key, w] of this.awaitingQuorum) {
      if (!w.tried.includes(system)) continue;
      w.waitFor = system;
      this.ctx.log('info', `${system} is back before the failover of ${key}: asking it whether it still runs it`, { key, system });
    }
    // A stranded hierarchy is handed to a returning candidate only after its state sync: it may
    // have been cut off, not dead, and still run it (heardFrom).
    for (const [key, s] of this.stranded) {
      if (this.ctx.candidates(key).some((c) => c.system === system)) s.returned.add(system);
    }
  }

  /**
   * `system` told where its hierarchies are: all of them (`keys` undefined, a state sync) or
   * these. A withheld failover waiting for its word is dropped when the hierarchy runs somewhere
   * known; otherwise it is decided again (now, when the gate is open).
   */
  heardFrom(system: string, keys?: string[]): void {
    this.dropPlacedStranded();
    if (keys === undefined) this.offerStranded(system);
    for (const [key, w] of [...this.awaitingQuorum]) {
      if (w.waitFor !== system || (keys && !keys.includes(key))) continue;
      delete w.waitFor;
      if (this.placed(key)) {
        this.awaitingQuorum.delete(key);
        this.ctx.log('info', `failover of ${key} dropped: it runs on ${system}'s word`, { key, system });
      } else if (this.ctx.hasQuorum()) {
        this.awaitingQuorum.delete(key);
        this.decide(key, w.tried);
      }
    }
  }

  /** Hands the hierarchy to the best remaining live system (this one included), if any. */
  passOn(key: string, tried: string[], reason: string, origin: OpOrigin): void {
    const { ctx } = this;
    const target = chooseSystem(ctx.candidates(key), ctx.alive, new Set(tried));
    if (!target) {
      ctx.log('error', `hierarchy ${key} cannot be brought in service anywhere: ${reason}`, { key, tried });
      if (origin !== 'admin' && origin !== 'switchover') this.strand(key, tried);
      return;
    }
    this.unstrand(key, `passed on to ${target}`);
    if (target === ctx.local) {
      if (!ctx.hasQuorum()) {
        this.awaitingQuorum.set(key, { tried });
        ctx.log('warn', `${key} handed back here withheld: no quorum`, { key });
        return;
      }
      this.ops.start(restoreOp(key, origin, serve(origin, ctx.now, { tried })));
      return;
    }
    ctx.log('info', `hierarchy ${key} handed to ${target}: ${reason}`, { key, target });
    this.ops.handOver(target, { kind: 'takeover', key, tried, reason, origin });
  }

  /**
   * A restore here that took the hierarchy over after a failure (a failover, a hand-over after a
   * local failure, a switchback) failed for good and was undone (restore-outcome.ts, give-up):
   * the hierarchy runs nowhere, so it is stranded as when nobody is left to try. What an
   * administrator asked for (in service, a switchover) is answered to the administrator and not
   * remembered: nothing brings back what an administrator's request left out of service.
   */
  gaveUpAfterFailure(key: string, tried: string[], origin: OpOrigin): void {
    if (origin === 'admin' || origin === 'switchover') return;
    this.strand(key, tried);
  }

  private strand(key: string, tried: string[]): void {
    const { ctx } = this;
    if (!ctx.resources.has(key) || this.placed(key)) return;
    this.stranded.set(key, { tried: [...new Set(tried)], returned: new Set() });
    ctx.log('warn', `hierarchy ${key} is stranded: it is offered to a candidate system when one comes back`, { key, tried });
  }

  private unstrand(key: string, why: string): void {
    if (!this.stranded.delete(key)) return;
    this.ctx.log('info', `hierarchy ${key} no longer stranded: ${why}`, { key });
  }

  /** An operation starts on the hierarchy here (an administrator, a failover): it has a home. */
  operationStarted(key: string): void {
    this.unstrand(key, `an operation started on it on ${this.ctx.local}`);
  }

  /** The configuration changed: a hierarchy deleted (or merged under another key) is forgotten. */
  configChanged(): void {
    for (const key of [...this.stranded.keys()]) {
      if (!this.ctx.resources.has(key) || this.ctx.keyOf(key) !== key) this.unstrand(key, 'its configuration changed');
    }
  }

  /** Stranded hierarchies that run somewhere known now (an administrator brought one in service). */
  private dropPlacedStranded(): void {
    for (const key of [...this.stranded.keys()]) {
      const on = this.placedOn(key);
      if (on !== undefined) this.unstrand(key, `in service on ${on}`);
    }
  }

  /**
   * `system` came back and sent its state sync: each stranded hierarchy it is a candidate for,
   * still in service nowhere known and with nothing running or waiting on it here, is handed to
   * it with a takeover request; it goes through that system's quorum gate and kit like any
   * takeover. `tried` is every other candidate, so a refusal there does not send the hierarchy
   * on to a system that already failed with it; whoever ends the chain without a home marks it
   * stranded again (this system, if the request goes unanswered).
   */
  private offerStranded(system: string): void {
    const { ctx } = this;
    for (const [key, s] of [...this.stranded]) {
      if (!s.returned.delete(system) || !ctx.alive.has(system)) continue;
      if (!ctx.resources.has(key) || this.placed(key)) continue;
      if (this.ops.busy(key) || ctx.inServiceHere(key) || this.awaitingQuorum.has(key) || this.deferred.has(key)) continue;
      this.stranded.delete(key);
      const tried = ctx.candidates(key).map((c) => c.system).filter((c) => c !== system);
      const reason = `stranded since it could not be brought in service on ${s.tried.join(', ')}; ${system} is back`;
      ctx.log('info', `hierarchy ${key} handed to ${system}: ${reason}`, { key, target: system, tried });
      this.ops.handOver(system, { kind: 'takeover', key, tried, reason, origin: 'failover' });
    }
  }

  /** A peer asks this system to take a hierarchy over (it failed there, or a switchback). */
  takeoverRequested(from: string, msg: Extract<PeerMessage, { kind: 'takeover' }>): void {
    const { ctx } = this;
    const key = ctx.keyOf(msg.key);
    if (!key) {
      ctx.send(from, { kind: 'takeover-result', key: msg.key, ok: false, reason: `no hierarchy ${msg.key} on ${ctx.local}`, tryNext: [...msg.tried, ctx.local] });
      return;
    }
    if (!ctx.hasQuorum()) {
      if (ctx.quorumWaiting() && !this.anotherToTry(key, msg.tried)) {
        // A later request for the same hierarchy replaces an earlier one (one answer each way).
        this.deferred.set(key, { from, msg, since: ctx.now });
        ctx.log('warn', `takeover of ${key} asked by ${from} deferred until the quorum gate opens`, { key, from });
        return;
      }
      this.refuse(from, key, msg, `no quorum on ${ctx.local}`);
      return;
    }
    this.ops.start(restoreOp(key, msg.origin, serve(msg.origin, ctx.now, { tried: msg.tried, from, replyTo: from })));
  }

  /**
   * Whether a refusal would still leave the hierarchy a system to go to: a live candidate that
   * is neither this one nor one already tried (the requester itself, for a switchback). Then a
   * refusal is better than waiting here: the requester passes it on at once, to a system whose
   * gate may be open. Only the last candidate waits.
   */
  private anotherToTry(key: string, tried: readonly string[]): boolean {
    return chooseSystem(this.ctx.candidates(key), this.ctx.alive, new Set([...tried, this.ctx.local])) !== undefined;
  }

  /** The requester passes the hierarchy on to the next system (handoff.ts result). */
  private refuse(from: string, key: string, msg: TakeoverRequest, reason: string): void {
    this.ctx.send(from, { kind: 'takeover-result', key, ok: false, reason, tryNext: [...msg.tried, this.ctx.local] });
  }

  /**
   * Deferred takeover requests (tick, and the gate opening): acted on once the gate is open,
   * refused (the requester passes the hierarchy on) once quorum is lost, kept otherwise.
   */
  /** Whether takeover requests wait for the quorum gate: reviewDeferred asks it every tick. */
  hasDeferred(): boolean {
    return this.deferred.size > 0;
  }

  reviewDeferred(): void {
    const { ctx } = this;
    if (this.deferred.size === 0) return;
    const open = ctx.hasQuorum();
    if (!open && ctx.quorumWaiting()) return;
    for (const [key, d] of [...this.deferred]) {
      this.deferred.delete(key);
      if (!open) {
        ctx.log('warn', `deferred takeover of ${key} asked by ${d.from} refused: quorum lost`, { key, from: d.from });
        this.refuse(d.from, key, d.msg, `no quorum on ${ctx.local}`);
      } else this.actOnDeferred(key, d);
    }
  }

  /**
   * The gate opened on a deferred request: it still holds unless the hierarchy found a home
   * meanwhile (in service on another system or here, or an operation started on it here: a
   * failover, an administrator, the requester bringing it back). The requester need not be alive
   * still: it had taken the hierarchy out before asking, so its death starts no failover of it
   * elsewhere, and this request is the hierarchy's only way back in service.
   */
  private actOnDeferred(key: string, d: { from: string; msg: TakeoverRequest; since: number }): void {
    const { ctx } = this;
    if (!ctx.resources.has(key)) {
      this.refuse(d.from, key, d.msg, `no hierarchy ${key} on ${ctx.local}`);
      return;
    }
    const home = this.placedOn(key) ?? (this.ops.busy(key) || ctx.inServiceHere(key) ? ctx.local : undefined);
    if (home !== undefined) {
      ctx.log('info', `deferred takeover of ${key} asked by ${d.from} dropped: it is in service (or coming in service) on ${home}`, { key, from: d.from, home });
      ctx.send(d.from, { kind: 'takeover-result', key, ok: false, reason: `not needed: ${key} is in service on ${home}` });
      return;
    }
    ctx.log('info', `deferred takeover of ${key} asked by ${d.from} goes ahead: the quorum gate is open`, { key, from: d.from, waitedMs: ctx.now - d.since });
    // A failover of it withheld here as well is this same restore: not a second one after it.
    this.awaitingQuorum.delete(key);
    this.ops.start(restoreOp(key, d.msg.origin, serve(d.msg.origin, ctx.now, { tried: d.msg.tried, from: d.from, replyTo: d.from })));
  }

  /**
   * `system` gave the hierarchy up without being asked (it lost quorum, or stood still): the
   * best other live system takes it over, as after that system's death, through the quorum gate
   * (withheld while it is closed). Nothing when it is known to run somewhere.
   */
  gaveUp(system: string, key: string): void {
    const w = this.awaitingQuorum.get(key);
    this.awaitingQuorum.delete(key);
    if (this.placed(key)) return;
    this.ctx.log('warn', `${system} gave hierarchy ${key} up`, { key, system });
    this.decide(key, [...new Set([...(w?.tried ?? []), system])]);
  }

  /**
   * This agent stood still for `gapMs`, longer than its peers need to declare it dead (the
   * engine event 'stalled'): a peer that could run one of its hierarchies may have declared it
   * dead and taken that hierarchy over while it stood still; its own copy, resumed, would then
   * run alongside the takeover, and by priority alone the stale copy could even win. So each
   * such hierarchy stops claiming service at once (its in-service resources go OSF, before this
   * agent answers anything else) and is given up: removed here, then the peers are told to take
   * it over (gaveUp on their side), which changes nothing on a peer that took it over already. A
   * hierarchy no live peer could run cannot have been taken over and stays. Returns the keys
   * that leave.
   */
  yieldAfterStall(gapMs: number, inServiceHere: string[]): string[] {
    const { ctx } = this;
    const leaving = inServiceHere.filter((key) => ctx.candidates(key).some((c) => c.system !== ctx.local && ctx.alive.has(c.system)));
    for (const key of leaving) {
      const reason = `${ctx.local} stood still for ${gapMs} ms, past its peers' detection time: presumed taken over`;
      ctx.log('warn', `hierarchy ${key}: ${reason}; leaving`, { key, gapMs });
      for (const tag of ctx.graph.component(key)) if (isInService(ctx.resources.get(tag)!.state)) ctx.setState(tag, 'OSF', 'stalled', reason);
      this.ops.start(removeOp(key, 'local-failure', { kind: 'yield', reason }));
    }
    return leaving;
  }

  /**
   * A resource of a hierarchy in service here failed and cannot be recovered here: the
   * hierarchy leaves (ending with the resource OSF) for the next system, unless a kit vetoes the
   * move. Returns false when it stays.
   */
  leaveAfterFailure(key: string, tag: string, reason: string): boolean {
    const veto = moveVeto(this.ctx, key);
    if (veto) {
      this.ctx.log('warn', `failover of ${key} vetoed: ${veto}; staying here`, { key });
      return false;
    }
    this.ops.start(removeOp(key, 'local-failure', { kind: 'fail-over', failedTag: tag, reason }));
    return true;
  }
}
