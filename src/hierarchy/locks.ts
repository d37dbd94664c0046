// The per-node table of cluster-wide admin locks, one per hierarchy. A requester asks every live
// system (itself included); it holds the lock only when all grant. A system grants when the lock
// is free, already held by the same owner, or held by a system that died or whose lease expired.

export interface LockOwner {
  system: string;
  /** Request id on the owning system; lets the owner re-ask idempotently. */
  request: string;
  /** What the lock is for: 'extend', 'switchover', ... shown to whoever is refused. */
  purpose: string;
}

interface Held extends LockOwner {
  expires: number;
}

export class LockTable {
  private readonly held = new Map<string, Held>();

  constructor(private readonly leaseMs: number) {}

  /** Grants or refuses; a refusal names the current holder. */
  request(key: string, owner: LockOwner, now: number): { granted: true } | { granted: false; holder: LockOwner } {
    const cur = this.held.get(key);
    if (cur && cur.expires > now && !(cur.system === owner.system && cur.request === owner.request)) {
      return { granted: false, holder: { system: cur.system, request: cur.request, purpose: cur.purpose } };
    }
    this.held.set(key, { ...owner, expires: now + this.leaseMs });
    return { granted: true };
  }

  release(key: string, owner: Pick<LockOwner, 'system' | 'request'>): void {
    const cur = this.held.get(key);
    if (cur && cur.system === owner.system && cur.request === owner.request) this.held.delete(key);
  }

  /** A dead system's locks die with it. */
  dropSystem(system: string): void {
    for (const [k, v] of this.held) if (v.system === system) this.held.delete(k);
  }

  holder(key: string, now: number): LockOwner | undefined {
    const cur = this.held.get(key);
    return cur && cur.expires > now ? { system: cur.system, request: cur.request, purpose: cur.purpose } : undefined;
  }
}
