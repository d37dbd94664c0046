// Restart restores: a hierarchy this system had in service when its agent stopped uncleanly (a
// crash, kill -9, the node losing power) is cleaned up at start (engine.ts loadStates) and then
// brought in service here again, once every other system it is extended to has told, by a state
// sync received since this start, that it runs no resource of it and has nothing under way on it
// (the seed 003 scenario 4: both systems of a mirror went down, the backup came back first and
// refuses; when the last primary comes back it restores by itself. Also the agent restarted
// faster than its peers declared it dead: they still report it nowhere).
//
// Safety first, like Corosync's two_node wait_for_all: while a system of the hierarchy has not
// been heard since this start, nothing happens here (it may run the hierarchy, or be taking it
// over); what is waited for is logged once, at info. A peer that itself had the hierarchy in
// service at its own unclean stop (both ran it at some point: one of the copies is stale, and
// which one cannot be told here) makes it wait too, for an administrator. The quorum gate holds
// it like a failover. Any operation started on the hierarchy here (an administrator, a failover,
// a peer's takeover request, a switchback) cancels it: that operation decides now. A clean stop
// took every hierarchy out of service and records nothing in service, so it never leads here.
// The restore itself is a normal restore (origin 'agent-restart'): the kits have the last word
// (NetRAID's data_corrupt flag asks the other system whether it took over since) and a refusal
// ends OSF with the kit's reason like a failover's.
//
// What a peer has under way travels in its state sync (`busy`, `restarting`, placement.ts); when
// such a hierarchy settles there without coming in service, the peer says so with a hier-state
// (not in service), which `peerSettled` takes.

import type { EngineContext } from '../engine-context.js';
import type { PeerMessage } from '../engine-types.js';
import { removeOp, restoreOp, serve, type Operation, type RemoveOp } from '../operations/operation.js';

export interface RestartRestoreOps {
  start(op: Operation): void;
  /** Whether an operation runs (or waits to run) on the hierarchy here. */
  busy(key: string): boolean;
  /** A hierarchy left the set this system reports as unsettled (placement.ts `settled`). */
  settled(key: string): void;
}

interface Pending {
  /** 'cleaning': the cleanup (remove) at start runs; 'waiting': done, the restore waits for the peers. */
  phase: 'cleaning' | 'waiting';
  cleanup: RemoveOp;
  /** The last wait logged, so each reason is logged once. */
  logged?: string;
}

export class RestartRestores {
  private readonly pending = new Map<string, Pending>();
  /**
   * The peers whose state sync arrived since this start, with what they reported under way:
   * `busy` as of their last word; `restarting` kept until they die, since that they had it in
   * service at their own unclean stop stays true (only its coming in service somewhere settles it).
   */
  private readonly heard = new Map<string, { busy: Set<string>; restarting: Set<string> }>();
  /** The restores started here, so that their own start does not cancel anything. */
  private readonly own = new WeakSet<Operation>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly ops: RestartRestoreOps,
    /** Where this system knows the hierarchy runs now (undefined: nowhere known). */
    private readonly placedOn: (key: string) => string | undefined,
  ) {}

  /** Hierarchies cleaned up or waiting to be restored here after an unclean stop. */
  restarting(): string[] {
    return [...this.pending.keys()];
  }

  isRestarting(key: string): boolean {
    return this.pending.has(key);
  }

  /**
   * The agent started and found the hierarchy recorded in service: returns the cleanup to run
   * (remove, origin 'agent-start'); the restore waits for it to end.
   */
  uncleanAtStart(key: string): RemoveOp {
    const cleanup = removeOp(key, 'agent-start', { kind: 'stay-out' });
    this.own.add(cleanup);
    this.pending.set(key, { phase: 'cleaning', cleanup });
    return cleanup;
  }

  /** An operation starts (or queues) on a hierarchy here: anything but this file's own cancels its restart restore. */
  operationStarted(op: Operation): void {
    if (this.own.has(op) || !this.pending.has(op.key)) return;
    this.drop(op.key, `a ${op.kind} (${op.origin}) started on it on ${this.ctx.local}`);
  }

  /** A remove ended here: the cleanup at start, when it is one of ours. */
  removeEnded(op: RemoveOp): void {
    const p = this.pending.get(op.key);
    if (!p || p.cleanup !== op) return;
    if (op.failures.length > 0) {
      // Part of it may still run here: nothing may bring it in service (the resources stay OSF).
      this.drop(op.key, 'its cleanup at start failed');
      return;
    }
    p.phase = 'waiting';
    this.review(op.key);
  }

  /** `from`'s state sync: it is heard now, with what it has under way. */
  synced(from: string, msg: Extract<PeerMessage, { kind: 'hier-state-sync' }>): void {
    const keys = (ks: string[] | undefined) => (ks ?? []).map((k) => this.ctx.keyOf(k) ?? k);
    const restarting = this.heard.get(from)?.restarting ?? new Set<string>();
    for (const k of keys(msg.restarting)) restarting.add(k);
    this.heard.set(from, { busy: new Set(keys(msg.busy)), restarting });
    this.reviewAll();
  }

  /** `from` reported one hierarchy: in service there (then it runs somewhere), or settled there without it. */
  peerState(from: string, key: string, inService: boolean): void {
    if (!inService) this.heard.get(from)?.busy.delete(key);
    if (this.pending.has(key)) this.review(key);
  }

  /** `system` died: what it said no longer holds; it is heard again once its next sync arrives. */
  systemDown(system: string): void {
    this.heard.delete(system);
  }

  /** The quorum gate may have opened. */
  quorumChanged(): void {
    this.reviewAll();
  }

  /** The configuration changed: a hierarchy deleted (or merged under another key) is forgotten. */
  configChanged(): void {
    for (const key of [...this.pending.keys()]) {
      if (!this.ctx.resources.has(key) || this.ctx.keyOf(key) !== key) this.drop(key, 'its configuration changed');
    }
    this.reviewAll();
  }

  private reviewAll(): void {
    for (const key of [...this.pending.keys()]) this.review(key);
  }

  /** Restores the hierarchy here when nothing is left to wait for; otherwise says (once) what it waits for. */
  private review(key: string): void {
    const { ctx } = this;
    const p = this.pending.get(key);
    if (!p || p.phase !== 'waiting') return;
    if (!ctx.resources.has(key)) return this.drop(key, 'it is no longer configured here');
    const on = this.placedOn(key);
    if (on !== undefined) return this.drop(key, `it is in service on ${on}`);
    if (this.ops.busy(key)) return; // an operation here decides (and cancelled this already)
    const peers = ctx.candidates(key).map((c) => c.system).filter((s) => s !== ctx.local);
    const unheard = peers.filter((s) => !this.heard.has(s));
    if (unheard.length > 0) {
      return this.waiting(p, key, `waits until ${unheard.join(', ')} ${unheard.length > 1 ? 'are' : 'is'} heard from: ${unheard.length > 1 ? 'they' : 'it'} may run it or take it over`);
    }
    // First what lasts (a copy that is stale somewhere), then what passes (an operation there).
    const both = peers.filter((s) => this.heard.get(s)!.restarting.has(key));
    if (both.length > 0) {
      return this.waiting(
        p,
        key,
        `waits: ${both.join(', ')} also had it in service when its agent stopped uncleanly, so one of the copies is stale and which one cannot be told; bring it in service (vigil in-service) on the system that ran it last`,
        'warn',
      );
    }
    const busy = peers.filter((s) => this.heard.get(s)!.busy.has(key));
    if (busy.length > 0) return this.waiting(p, key, `waits: an operation on it is under way on ${busy.join(', ')}`);
    if (!ctx.hasQuorum()) return this.waiting(p, key, 'waits for the quorum gate to open');
    this.pending.delete(key);
    const op = restoreOp(key, 'agent-restart', serve('agent-restart', ctx.now));
    this.own.add(op);
    ctx.log('info', `hierarchy ${key} was in service on ${ctx.local} when its agent stopped uncleanly and runs nowhere (${peers.join(', ') || 'no other system'} heard): bringing it in service again`, { key, peers, at: ctx.now });
    this.ops.start(op);
  }

  private waiting(p: Pending, key: string, why: string, level: 'info' | 'warn' = 'info'): void {
    if (p.logged === why) return;
    p.logged = why;
    this.ctx.log(level, `restart restore of hierarchy ${key} ${why}`, { key });
  }

  private drop(key: string, why: string): void {
    if (!this.pending.delete(key)) return;
    this.ctx.log('info', `hierarchy ${key} is not brought in service again after the unclean stop: ${why}`, { key });
    this.ops.settled(key);
  }
}
