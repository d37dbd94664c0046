// Where each hierarchy is in service, as far as this system knows, and how systems keep that
// knowledge in step: a `hier-state` message when a hierarchy comes in or goes out of service
// here, a `hier-state-sync` with everything in service here when a system joins or the
// configuration changes. When a peer reports a hierarchy that also runs here (the two sides
// were cut off and both brought it in service), the worse-priority side takes its copy out.

import type { EngineContext } from './engine-context.js';
import type { PeerMessage } from './engine-types.js';
import { removeOp, type Operation } from './operations/operation.js';

export interface PlacementOps {
  isRunning(key: string): boolean;
  start(op: Operation): void;
}

export class Placement {
  /**
   * The system running each resource. Kept per tag, not per hierarchy key, so it survives
   * dependency changes that merge or split hierarchies; set and delete change a whole hierarchy.
   */
  private readonly byTag = new Map<string, string>();

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
    for (const t of this.tagsOf(key)) this.byTag.set(t, system);
  }

  delete(key: string): void {
    for (const t of this.tagsOf(key)) this.byTag.delete(t);
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
    for (const [tag, sys] of [...this.byTag]) if (!ctx.graph.has(tag) && sys === ctx.local) this.byTag.delete(tag);
    for (const key of ctx.graph.hierarchies().keys()) {
      if (inServiceHere.has(key)) this.set(key, ctx.local);
      else if (this.get(key) === ctx.local) this.delete(key);
    }
    ctx.broadcast({ kind: 'hier-state-sync', inService: [...inServiceHere] });
  }

  /** A system joined: it learns what runs here. */
  syncTo(system: string): void {
    this.ctx.send(system, { kind: 'hier-state-sync', inService: this.localKeys() });
  }

  /** A hierarchy came in service here. */
  cameInService(key: string): void {
    this.set(key, this.ctx.local);
    this.ctx.broadcast({ kind: 'hier-state', key, inService: true });
  }

  /** After a remove: if nothing of the hierarchy is in service here any more, say so. */
  leftIfGone(key: string): void {
    if (!this.ctx.inServiceHere(key) && this.get(key) === this.ctx.local) {
      this.delete(key);
      this.ctx.broadcast({ kind: 'hier-state', key, inService: false });
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
    const keys = [...this.ctx.graph.hierarchies().keys()].filter((k) => this.get(k) === system);
    for (const k of keys) this.delete(k);
    return keys;
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
      if (msg.inService) this.peerHasInService(from, msg.key);
      else if (this.get(msg.key) === from) {
        this.delete(msg.key);
        this.sayWhyNotTakenOver(from, msg.key);
      }
      return;
    }
    for (const [t, s] of [...this.byTag]) if (s === from) this.byTag.delete(t);
    for (const k of msg.inService) this.peerHasInService(from, k);
  }

  /**
   * A peer says it runs a hierarchy. If it runs here too, the system with the worse priority
   * takes its copy out of service; both sides decide the same way from the same priorities.
   */
  private peerHasInService(from: string, peerKey: string): void {
    const { ctx } = this;
    const key = ctx.keyOf(peerKey) ?? peerKey;
    if (ctx.graph.has(key) && ctx.inServiceHere(key) && !this.ops.isRunning(key)) {
      const cands = ctx.candidates(key);
      const mine = cands.find((c) => c.system === ctx.local)?.priority ?? Infinity;
      const theirs = cands.find((c) => c.system === from)?.priority ?? Infinity;
      ctx.log('error', `hierarchy ${key} is in service on both ${ctx.local} and ${from}`, { key, from, mine, theirs });
      if (theirs < mine) {
        this.set(key, from);
        this.ops.start(removeOp(key, 'switchover', { kind: 'stay-out' }));
      } else {
        // Tell the other side it runs here too, so it resolves the same way.
        ctx.send(from, { kind: 'hier-state', key, inService: true });
      }
      return;
    }
    this.set(key, from);
  }
}
