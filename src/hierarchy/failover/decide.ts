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
      else ctx.log('error', `hierarchy ${key} has no live system to fail over to`, { key });
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
  }

  /**
   * `system` told where its hierarchies are: all of them (`keys` undefined, a state sync) or
   * these. A withheld failover waiting for its word is dropped when the hierarchy runs somewhere
   * known; otherwise it is decided again (now, when the gate is open).
   */
  heardFrom(system: string, keys?: string[]): void {
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
      return;
    }
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
