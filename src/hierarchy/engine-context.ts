// What every part of the hierarchy engine shares: this system's name, the clock the engine was
// last given, the dependency graph, the local resources with their states, the live systems,
// and the list of commands being answered. The parts (operations, placement, failover,
// monitoring, switchover, admin locks) read and change this state; none of them does I/O.

import type { EngineCommand, EngineOptions, PeerMessage, ResourceConfig } from './engine-types.js';
import type { Candidate } from './failover/choose-system.js';
import { DependencyGraph } from './graph.js';
import { checkTransition, isInService, type ResourceState, type StateCause } from './states.js';

/** One resource of this system as the engine tracks it. */
export interface LocalResource {
  cfg: ResourceConfig;
  state: ResourceState;
  reason: string;
  /** When the next monitor check is due. */
  nextCheck: number;
}

export class EngineContext {
  readonly local: string;
  /** The latest time the engine was given (never goes back). */
  now = 0;
  graph = new DependencyGraph();
  readonly resources = new Map<string, LocalResource>();
  /** Live systems, this one included. */
  readonly alive = new Set<string>();
  private out: EngineCommand[] = [];

  constructor(readonly opts: EngineOptions) {
    this.local = opts.localSystem;
    this.alive.add(this.local);
  }

  advanceTo(now: number): void {
    this.now = Math.max(this.now, now);
  }

  /** The commands answered since the last call. */
  flush(): EngineCommand[] {
    const o = this.out;
    this.out = [];
    return o;
  }

  emit(cmd: EngineCommand): void {
    this.out.push(cmd);
  }

  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
    this.out.push({ type: 'log', level, msg, fields });
  }

  send(to: string, msg: PeerMessage): void {
    this.out.push({ type: 'send', to, msg });
  }

  /** Sends to every other live system. */
  broadcast(msg: PeerMessage): void {
    for (const s of this.alive) if (s !== this.local) this.send(s, msg);
  }

  /** Answers an administrator's request (nothing when the operation had no requester). */
  adminDone(request: string | undefined, ok: boolean, message: string): void {
    if (request !== undefined) this.out.push({ type: 'adminDone', request, ok, message });
  }

  /** The key of the hierarchy holding `tag`, or undefined for a tag not configured here. */
  keyOf(tag: string): string | undefined {
    return this.graph.has(tag) ? this.graph.hierarchyKey(tag) : undefined;
  }

  /** Moves a resource to a new state (checked against the allowed transitions) and records it. */
  setState(tag: string, to: ResourceState, cause: StateCause, reason: string): void {
    const r = this.resources.get(tag);
    if (!r) return;
    checkTransition(r.state, to, cause);
    const from = r.state;
    r.state = to;
    r.reason = reason;
    if (from !== to || cause === 'restored') {
      this.out.push({ type: 'persistState', tag, state: to, reason });
      this.log('info', `${tag}: ${from} -> ${to}`, { tag, from, to, cause, reason, at: this.now });
    }
  }

  /** The systems that can run a hierarchy (this one and its equivalents) with their priorities. */
  candidates(key: string): Candidate[] {
    const r = this.resources.get(key);
    if (!r) return [];
    return [{ system: this.local, priority: r.cfg.priority }, ...r.cfg.equivalents];
  }

  /** Whether any resource of the hierarchy is in service on this system. */
  inServiceHere(key: string): boolean {
    return this.graph.component(key).some((t) => isInService(this.resources.get(t)!.state));
  }

  /** The monitor interval of a resource (per-app override, else LKCHECKINTERVAL). */
  checkInterval(tag: string): number {
    const app = this.resources.get(tag)?.cfg.app ?? '';
    return this.opts.checkIntervalByApp?.[app] ?? this.opts.checkIntervalMs;
  }

  /**
   * When a resource just brought in service is first checked: within one interval, at a point
   * of its own (from its tag, half an interval wide), so that hierarchies restored together (a
   * failover, an agent start) are not all checked in the same instant ever after.
   */
  firstCheckAt(tag: string): number {
    const interval = this.checkInterval(tag);
    return this.now + interval - Math.floor((spreadOf(tag) * interval) / 2);
  }

  /**
   * When a resource whose check passed is checked next: one interval after the check was due,
   * not after it ended, so the schedule keeps its rate and its spread however long checks take;
   * one that fell a whole interval behind starts afresh from now.
   */
  nextCheckAfterPass(tag: string): number {
    const r = this.resources.get(tag);
    const interval = this.checkInterval(tag);
    const next = (r?.nextCheck ?? this.now) + interval;
    return next > this.now ? next : this.now + interval;
  }

  /** The quorum gate: may this system bring anything in service now? */
  hasQuorum(): boolean {
    return !this.opts.quorum || this.opts.quorum();
  }

  /** Whether the gate is closed only for a while (a hold, quarantine), not for a lost quorum. */
  quorumWaiting(): boolean {
    return !this.hasQuorum() && (this.opts.quorumWaiting?.() ?? false);
  }
}

/** A fixed point in [0, 1) for a tag (FNV-1a, mixed): where in the interval its checks fall. */
function spreadOf(tag: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < tag.length; k++) {
    h ^= tag.charCodeAt(k);
    h = Math.imul(h, 0x01000193);
  }
  // Final mix (murmur3's fmix32): similar tags (app-1, app-2, ...) land far apart.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}
