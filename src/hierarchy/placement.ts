// Where each hierarchy is in service, as far as this system knows, and how systems keep that
// knowledge in step: a `hier-state` message when a hierarchy comes in or goes out of service
// here, a `hier-state-sync` with everything in service here when a system joins or the
// configuration changes. When a peer reports a hierarchy that also runs here (the two sides
// were cut off, or one stood still, and both brought it in service), the older copy goes: each
// time a hierarchy comes in service somewhere it gets an epoch one above the highest this
// system knows for it, so a takeover is newer than the copy it replaced, and a copy that was
// cut off or frozen while the takeover happened loses even where its priority is better. Equal
// or unknown epochs (agents that predate them) fall back to priority: the worse side goes.
// An epoch is never below the engine's clock (the wall clock, in ms): epochs live in memory
// only, and a system that restarted knows none until its peers tell it; counting from 1 again
// it would make its new copy look older than every copy made before it — by any system, also
// the ones it never heard of (a takeover while it was down, or cut off). Floored by the clock,
// a copy made after a restart is newer than any made before it, given clocks in step (NTP);
// with knowledge the count (highest known + 1) still decides.
// (The recovery-server standby's vigild, started once its listener fenced a frozen primary, is
// such a restarted agent: its takeover must be newer than the thawed primary's copy.)

import type { EngineContext } from './engine-context.js';
import type { PeerMessage } from './engine-types.js';
import { removeOp, type Operation } from './operations/operation.js';

export interface PlacementOps {
  isRunning(key: string): boolean;
  start(op: Operation): void;
  /**
   * What is under way here, told in every state sync: hierarchies not told in service here with
   * an operation running or waiting (`busy`; one told in service is named as such, and its
   * routine checks are no transition) and the ones waiting to be restored after an unclean stop
   * (`restarting`).
   */
  unsettled?(): { busy: string[]; restarting: string[] };
  /** Whether `unsettled` would name the hierarchy now. */
  isUnsettled?(key: string): boolean;
}

export class Placement {
  /**
   * The system running each resource. Kept per tag, not per hierarchy key, so it survives
   * dependency changes that merge or split hierarchies; set and delete change a whole hierarchy.
   */
  private readonly byTag = new Map<string, string>();
  /** Per tag: the highest takeover epoch known for its hierarchy, and that of the copy here. */
  private readonly seenEpoch = new Map<string, number>();
  private readonly localEpoch = new Map<string, number>();
  /**
   * A peer's report of a copy that also runs here, received while an operation ran here on the
   * hierarchy (nothing is taken out in the middle of one): looked at again when it ends, or the
   * double in-service would last until the next report, which may never come.
   */
  private readonly heldReports = new Map<string, { from: string; peerKey: string; epoch?: number }>();

  /**
   * Hierarchies told as under way in a state sync: when one settles here without coming in
   * service, the peers are told (`settled`), or a peer waiting for it would wait for good.
   */
  private readonly toldUnsettled = new Set<string>();

  /**
   * Hierarchies this system gave up (left with takeOver: quorum lost, stood still) that nobody
   * has placed since. Told in every state sync: the give-up broadcast went out as this system's
   * links were failing and may never have arrived.
   */
  private readonly givenUp = new Set<string>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly ops: PlacementOps,
  ) {}

  get(key: string): string | undefined {
    return this.byTag.get(key);
  }

  has(key: string): boolean {
    return this.byTag.has(key);
  }

  set(key: string, system: string): void {
    this.givenUp.delete(key);
    for (const t of this.tagsOf(key)) {
      this.byTag.set(t, system);
      if (system !== this.ctx.local) this.localEpoch.delete(t);
    }
  }

  delete(key: string): void {
    for (const t of this.tagsOf(key)) {
      this.byTag.delete(t);
      this.localEpoch.delete(t);
    }
  }

  /** The highest epoch known for the hierarchy (0 when none). */
  private seen(key: string): number {
    return Math.max(0, ...this.tagsOf(key).map((t) => this.seenEpoch.get(t) ?? 0));
  }

  private saw(key: string, epoch: number | undefined): void {
    if (epoch === undefined || !Number.isFinite(epoch)) return;
    for (const t of this.tagsOf(key)) this.seenEpoch.set(t, Math.max(this.seenEpoch.get(t) ?? 0, epoch));
  }

  /** The epoch of the copy in service here (undefined: unknown). */
  private mine(key: string): number | undefined {
    const es = this.tagsOf(key).map((t) => this.localEpoch.get(t)).filter((e): e is number => e !== undefined);
    return es.length ? Math.max(...es) : undefined;
  }

  private epochsOf(keys: string[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of keys) {
      const e = this.mine(k);
      if (e !== undefined) out[k] = e;
    }
    return out;
  }

  private tagsOf(key: string): string[] {
    return this.ctx.graph.has(key) ? this.ctx.graph.component(key) : [key];
  }

  /** Hierarchies in service here. */
  localKeys(): string[] {
    return [...this.ctx.graph.hierarchies().keys()].filter((k) => this.get(k) === this.ctx.local);
  }

  /**
   * Re-keys the knowledge for a new dependency graph (already in ctx.graph): a hierarchy's key
   * may change when dependencies change. `inServiceHere` holds the new keys of hierarchies with
   * a resource in service here. Tells the peers, so a system that just received an extended
   * hierarchy learns where it runs.
   */
  rekey(inServiceHere: Set<string>): void {
    const { ctx } = this;
    // Only what is known to run somewhere is looked at (not every hierarchy configured here):
    // a configuration change costs the same at 10 and at 1,000 resources.
    for (const [tag, sys] of [...this.byTag]) {
      if (sys !== ctx.local) continue;
      if (!ctx.graph.has(tag) || !inServiceHere.has(ctx.graph.hierarchyKey(tag))) this.byTag.delete(tag);
    }
    for (const key of inServiceHere) this.set(key, ctx.local);
    ctx.broadcast({ kind: 'hier-state-sync', inService: [...inServiceHere], epochs: this.epochsOf([...inServiceHere]), ...this.underWay() });
  }

  /** A system joined: it learns what runs here, and is asked what runs there. */
  syncTo(system: string, reply = true): void {
    const keys = this.localKeys();
    this.ctx.send(system, { kind: 'hier-state-sync', inService: keys, epochs: this.epochsOf(keys), reply, ...this.underWay(), ...this.gaveUp() });
  }

  /** Every live peer learns what runs and what is under way here (the agent's start found work to do). */
  syncAll(): void {
    const keys = this.localKeys();
    this.ctx.broadcast({ kind: 'hier-state-sync', inService: keys, epochs: this.epochsOf(keys), ...this.underWay(), ...this.gaveUp() });
  }

  private gaveUp(): { gaveUp?: string[] } {
    for (const key of [...this.givenUp]) if (!this.ctx.graph.has(key)) this.givenUp.delete(key);
    return this.givenUp.size ? { gaveUp: [...this.givenUp] } : {};
  }

  /** An operation starts on the hierarchy here: it is this system's business again, not given up. */
  operationStarted(key: string): void {
    this.givenUp.delete(key);
  }

  private underWay(): { busy?: string[]; restarting?: string[] } {
    const u = this.ops.unsettled?.();
    if (!u || (u.busy.length === 0 && u.restarting.length === 0)) return {};
    for (const k of u.busy) this.toldUnsettled.add(k);
    for (const k of u.restarting) this.toldUnsettled.add(k);
    return { busy: u.busy, restarting: u.restarting };
  }

  /**
   * A hierarchy told as under way may have settled here (an operation ended, a restart restore
   * was dropped): if so and it is not in service here, the peers hear it (hier-state, not in
   * service). One that came in service was announced already (cameInService).
   */
  settled(key: string): void {
    if (!this.toldUnsettled.has(key) || this.ops.isUnsettled?.(key)) return;
    this.toldUnsettled.delete(key);
    if (this.get(key) !== this.ctx.local && !this.ctx.inServiceHere(key)) this.ctx.broadcast({ kind: 'hier-state', key, inService: false });
  }

  /** A hierarchy came in service here: a new epoch, above every one known for it and not below the clock. */
  cameInService(key: string): void {
    const epoch = Math.max(this.seen(key) + 1, Math.floor(this.ctx.now));
    this.set(key, this.ctx.local);
    this.saw(key, epoch);
    for (const t of this.tagsOf(key)) this.localEpoch.set(t, epoch);
    this.ctx.broadcast({ kind: 'hier-state', key, inService: true, epoch });
  }

  /**
   * After a remove: if nothing of the hierarchy is in service here any more, say so; `takeOver`
   * when this system gave it up rather than an administrator taking it out (see hier-state).
   */
  leftIfGone(key: string, takeOver = false): void {
    if (!this.ctx.inServiceHere(key) && this.get(key) === this.ctx.local) {
      this.delete(key);
      if (takeOver) this.givenUp.add(key);
      this.ctx.broadcast(takeOver ? { kind: 'hier-state', key, inService: false, takeOver } : { kind: 'hier-state', key, inService: false });
    }
  }

  /** After a single action: the hierarchy runs here exactly when part of it is in service. */
  reconcile(key: string): void {
    const { ctx } = this;
    if (ctx.inServiceHere(key)) {
      if (this.get(key) !== ctx.local) this.cameInService(key);
    } else {
      this.leftIfGone(key);
    }
  }

  /** A system died: forgets what it ran and returns those hierarchies. */
  forgetSystem(system: string): string[] {
    this.dropHeldReports(system);
    const keys = [...this.ctx.graph.hierarchies().keys()].filter((k) => this.get(k) === system);
    for (const k of keys) this.delete(k);
    return keys;
  }

  /** An operation on `key` ended here: a peer's report held while it ran is looked at now. */
  operationEnded(key: string): void {
    const held = this.heldReports.get(key);
    if (!held || this.ops.isRunning(key)) return;
    this.heldReports.delete(key);
    this.peerHasInService(held.from, held.peerKey, held.epoch);
  }

  private dropHeldReports(from: string, key?: string): void {
    for (const [k, r] of [...this.heldReports]) if (r.from === from && (key === undefined || k === key)) this.heldReports.delete(k);
  }

  /**
   * A peer took a hierarchy out of service on purpose (its agent stopping, an administrator); if
   * this copy is OSF, nobody takes it over: say why, rather than leave the service down unexplained.
   */
  private sayWhyNotTakenOver(from: string, key: string): void {
    const { ctx } = this;
    const failed = ctx.graph.has(key) ? ctx.graph.component(key).filter((t) => ctx.resources.get(t)?.state === 'OSF') : [];
    if (failed.length === 0) return;
    const why = failed.map((t) => `${t} is OSF (${ctx.resources.get(t)!.reason})`).join(', ');
    ctx.log('warn', `hierarchy ${key} went out of service on ${from}; ${ctx.local} cannot take it over: ${why}`, { key, from });
  }

  onMessage(from: string, msg: Extract<PeerMessage, { kind: 'hier-state' | 'hier-state-sync' }>): void {
    if (msg.kind === 'hier-state') {
      if (msg.inService) return this.peerHasInService(from, msg.key, msg.epoch);
      this.dropHeldReports(from, this.ctx.keyOf(msg.key) ?? msg.key);
      if (this.get(msg.key) === from) {
        this.delete(msg.key);
        // Given up, not taken out on purpose: the failover decisions take it from here.
        if (!msg.takeOver) this.sayWhyNotTakenOver(from, msg.key);
      }
      return;
    }
    for (const [t, s] of [...this.byTag]) if (s === from) this.byTag.delete(t);
    this.dropHeldReports(from);
    for (const k of msg.inService) this.peerHasInService(from, k, msg.epochs?.[k]);
    if (msg.reply) this.syncTo(from, false);
  }

  /**
   * A peer says it runs a hierarchy (its copy's epoch when it told it). If it runs here too, the
   * older copy is taken out of service; with equal or unknown epochs the system with the worse
   * priority takes its copy out. Both sides decide the same way from the same facts.
   */
  private peerHasInService(from: string, peerKey: string, theirs?: number): void {
    const { ctx } = this;
    const key = ctx.keyOf(peerKey) ?? peerKey;
    if (ctx.graph.has(key) && ctx.inServiceHere(key)) {
      if (this.ops.isRunning(key)) {
        this.heldReports.set(key, { from, peerKey, epoch: theirs });
        return;
      }
      const mine = this.mine(key);
      this.saw(key, theirs);
      const cands = ctx.candidates(key);
      const myPriority = cands.find((c) => c.system === ctx.local)?.priority ?? Infinity;
      const theirPriority = cands.find((c) => c.system === from)?.priority ?? Infinity;
      const byEpoch = mine !== undefined && theirs !== undefined && mine !== theirs;
      ctx.log('error', `hierarchy ${key} is in service on both ${ctx.local} and ${from}`, { key, from, mine: myPriority, theirs: theirPriority, myEpoch: mine, theirEpoch: theirs });
      if (byEpoch ? theirs > mine : theirPriority < myPriority) {
        ctx.log('warn', `hierarchy ${key}: the copy on ${from} stays (${byEpoch ? `newer: epoch ${theirs} over ${mine}` : `better priority ${theirPriority} over ${myPriority}`}); taking this one out`, { key, from });
        this.set(key, from);
        this.ops.start(removeOp(key, 'switchover', { kind: 'stay-out' }));
      } else {
        // Tell the other side it runs here too, so it resolves the same way.
        ctx.send(from, { kind: 'hier-state', key, inService: true, epoch: mine });
      }
      return;
    }
    this.saw(key, theirs);
    this.set(key, from);
  }
}
