// Cluster-wide admin locks, one per hierarchy, for administrative tasks (extend, unextend,
// delete, ...). The requester asks every live system, itself included (each keeps a LockTable);
// it holds the lock only when all grant. A refusal anywhere releases the grants already given
// and names the holder; a system that does not answer in time counts as a refusal; a dead
// system's locks and its pending answers are dropped.

import type { EngineContext } from './engine-context.js';
import type { PeerMessage } from './engine-types.js';
import { LockTable, type LockOwner } from './locks.js';
import { earliest } from '../common/earliest.js';

interface PendingLock {
  key: string;
  owner: LockOwner;
  waiting: Set<string>;
  granted: Set<string>;
  deadline: number;
  refused?: LockOwner;
}

export class AdminLocks {
  private readonly table: LockTable;
  private readonly pending = new Map<string, PendingLock>(); // by request
  private readonly held = new Map<string, PendingLock>(); // by request

  constructor(private readonly ctx: EngineContext) {
    this.table = new LockTable(ctx.opts.lockLeaseMs ?? 5 * 60_000);
  }

  request(request: string, tag: string, purpose: string): void {
    const { ctx } = this;
    const key = ctx.keyOf(tag) ?? tag;
    const owner: LockOwner = { system: ctx.local, request, purpose };
    const mine = this.table.request(key, owner, ctx.now);
    if (!mine.granted) return ctx.adminDone(request, false, lockRefusal(key, mine.holder));
    const pl: PendingLock = {
      key,
      owner,
      waiting: new Set([...ctx.alive].filter((s) => s !== ctx.local)),
      granted: new Set([ctx.local]),
      deadline: ctx.now + (ctx.opts.peerReplyTimeoutMs ?? 30_000),
    };
    this.pending.set(request, pl);
    for (const s of pl.waiting) ctx.send(s, { kind: 'lock', key, owner });
    this.maybeFinish(pl);
  }

  release(request: string): void {
    const { ctx } = this;
    const pl = this.held.get(request);
    if (!pl) return ctx.adminDone(request, true, 'no lock held');
    this.held.delete(request);
    for (const s of pl.granted) {
      if (s === ctx.local) this.table.release(pl.key, pl.owner);
      else if (ctx.alive.has(s)) ctx.send(s, { kind: 'unlock', key: pl.key, owner: pl.owner });
    }
    ctx.adminDone(request, true, `lock on ${pl.key} released`);
  }

  onMessage(from: string, msg: Extract<PeerMessage, { kind: 'lock' | 'lock-result' | 'unlock' }>): void {
    const { ctx } = this;
    switch (msg.kind) {
      case 'lock': {
        const res = this.table.request(msg.key, msg.owner, ctx.now);
        ctx.send(from, res.granted
          ? { kind: 'lock-result', key: msg.key, request: msg.owner.request, granted: true }
          : { kind: 'lock-result', key: msg.key, request: msg.owner.request, granted: false, holder: res.holder });
        return;
      }
      case 'lock-result': {
        const pl = this.pending.get(msg.request);
        if (!pl || !pl.waiting.delete(from)) return;
        if (msg.granted) pl.granted.add(from);
        else pl.refused ??= msg.holder;
        this.maybeFinish(pl);
        return;
      }
      case 'unlock':
        this.table.release(msg.key, msg.owner);
        return;
    }
  }

  sendFailed(to: string, msg: Extract<PeerMessage, { kind: 'lock' }>): void {
    const pl = [...this.pending.values()].find((p) => p.owner.request === msg.owner.request);
    if (pl && pl.waiting.delete(to)) this.maybeFinish(pl);
  }

  /** A dead system's locks die with it; requests waiting on it resolve without it. */
  systemDied(system: string): void {
    this.table.dropSystem(system);
    for (const pl of this.pending.values()) {
      if (pl.waiting.delete(system)) this.maybeFinish(pl);
    }
  }

  /** A system that did not answer in time refuses (tick). */
  /** When the earliest lock request still waiting for an answer gives up (tick). */
  nextDeadline(): number | undefined {
    return earliest([...this.pending.values()].filter((pl) => pl.waiting.size > 0).map((pl) => pl.deadline));
  }

  expire(): void {
    for (const pl of [...this.pending.values()]) {
      if (pl.deadline <= this.ctx.now && pl.waiting.size > 0) {
        pl.refused ??= { system: [...pl.waiting][0]!, request: '', purpose: 'no answer' };
        pl.waiting.clear();
        this.maybeFinish(pl);
      }
    }
  }

  private maybeFinish(pl: PendingLock): void {
    const { ctx } = this;
    if (pl.waiting.size > 0) return;
    this.pending.delete(pl.owner.request);
    if (pl.refused) {
      for (const s of pl.granted) {
        if (s === ctx.local) this.table.release(pl.key, pl.owner);
        else ctx.send(s, { kind: 'unlock', key: pl.key, owner: pl.owner });
      }
      return ctx.adminDone(pl.owner.request, false, lockRefusal(pl.key, pl.refused));
    }
    this.held.set(pl.owner.request, pl);
    ctx.adminDone(pl.owner.request, true, `lock on ${pl.key} held`);
  }
}

function lockRefusal(key: string, holder: LockOwner): string {
  return `hierarchy ${key} is locked by ${holder.purpose} on ${holder.system}; try again when it finishes`;
}
