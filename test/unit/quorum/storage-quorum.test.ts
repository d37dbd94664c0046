// Storage quorum and storage witness with a fake clock, without I/O: the verdict from this
// system's own record (written recently, key still on the LUN), the per-system hold of the gate
// (evicted AND its record stood still N x T + the loss allowance), both sides of a two-node
// partition (the LUN's eviction race decides: at most one side keeps quorum), a storage cut
// (no quorum, the loss reported), a peer whose record still moves (never taken over), and the
// storage witness.
import { describe, expect, it } from 'vitest';
import { QuorumGate, type QuorumGateConfig, type QuorumGateOutput } from '../../../src/cluster/quorum/gate.js';
import { PeerRecordWatch, storageVerdict } from '../../../src/cluster/quorum/storage-watch.js';
import { StorageWitness } from '../../../src/cluster/quorum/storage-witness.js';
import type { DiskRecord } from '../../../src/cluster/disk-record.js';

const T = 1_000;
const N = 4;
const LOSS = 500;
const cfg = (local: string): QuorumGateConfig => ({
  mode: 'storage', local, hosts: [], probeTimeoutMs: 2_000, probePeriodMs: 1_000, quarantineMs: 0, lossActionMs: LOSS, heartbeatMs: 200,
  storage: { intervalMs: T, numHbeats: N },
});
const SYS = ['n1', 'n2'];
const evicts = (outs: QuorumGateOutput[]) => outs.flatMap((o) => (o.type === 'evict' ? [o.system] : []));
const lost = (outs: QuorumGateOutput[]) => outs.filter((o) => o.type === 'quorum-lost').length;
const round = (g: QuorumGate, nowMs: number, o: { wrote?: boolean; fenced?: string; peerStill?: number; error?: string }) =>
  g.step({
    type: 'storage', wroteAtMs: o.wrote === false ? undefined : nowMs, fenced: o.fenced, error: o.error,
    unchangedMs: new Map(o.peerStill === undefined ? [] : [[g.config.local === 'n1' ? 'n2' : 'n1', o.peerStill]]), nowMs,
  });

/** Two systems up and seeing each other, each writing its record. */
function upPair(): { g1: QuorumGate; g2: QuorumGate } {
  const g1 = new QuorumGate(cfg('n1'), 0);
  const g2 = new QuorumGate(cfg('n2'), 0);
  for (const [g, peer] of [[g1, 'n2'], [g2, 'n1']] as const) {
    g.step({ type: 'membership', systems: SYS, alive: [peer], nowMs: 0 });
    expect(g.isOpen()).toBe(false); // no storage round yet: undecided
    round(g, 100, { peerStill: 0 });
    expect(g.isOpen()).toBe(true);
  }
  return { g1, g2 };
}

describe('storage quorum verdict', () => {
  it('quorum while the own record was written within (N-1) x T and the key is registered', () => {
    const t = { intervalMs: T, numHbeats: N };
    expect(storageVerdict({ nowMs: 0, wroteAtMs: undefined, fenced: undefined, lastError: undefined }, t)).toBeUndefined();
    expect(storageVerdict({ nowMs: 3_000, wroteAtMs: 0, fenced: undefined, lastError: undefined }, t)?.quorum).toBe(true);
    const old = storageVerdict({ nowMs: 3_001, wroteAtMs: 0, fenced: undefined, lastError: 'EIO' }, t)!;
    expect(old.quorum).toBe(false);
    expect(old.reason).toMatch(/own storage record not written for 3\.0 s \(limit 3 s\): EIO/);
    expect(storageVerdict({ nowMs: 10, wroteAtMs: 10, fenced: 'key gone', lastError: undefined }, t)).toMatchObject({ quorum: false, reason: 'fenced off the quorum disk: key gone' });
    expect(storageVerdict({ nowMs: 10, wroteAtMs: undefined, fenced: undefined, lastError: 'ETIMEDOUT' }, t)).toMatchObject({ quorum: false });
  });
});

describe('storage quorum gate', () => {
  it('storage cut: no write for (N-1) x T means no quorum, reported once as a loss', () => {
    const { g1 } = upPair();
    // Rounds keep failing (the link to the LUN is cut at 100 ms; reads and writes time out).
    let losses = 0;
    for (let now = 1_100; now <= 6_100; now += T) {
      losses += lost(round(g1, now, { wrote: false, error: 'ETIMEDOUT', peerStill: 0 }));
      losses += lost(g1.tick(now + 50));
      if (now + 50 <= 3_100) expect(g1.status().quorum).toBe(true);
    }
    expect(g1.status().quorum).toBe(false);
    expect(g1.status().reason).toMatch(/own storage record not written .*ETIMEDOUT/);
    expect(losses).toBe(1);
    expect(g1.isOpen()).toBe(false);
  });

  it('two-node partition with the LUN reachable from both: the eviction race decides, at most one side keeps quorum, and the winner waits for the loser\'s record to stand still', () => {
    const { g1, g2 } = upPair();
    // Every comm path cut at 1000: each side loses the other from the membership and asks to evict it.
    expect(evicts(g1.step({ type: 'membership', systems: SYS, alive: [], nowMs: 1_000 }))).toEqual(['n2']);
    expect(evicts(g2.step({ type: 'membership', systems: SYS, alive: [], nowMs: 1_050 }))).toEqual(['n1']);
    expect(g1.isOpen()).toBe(false);
    expect(g2.isOpen()).toBe(false);
    // The LUN runs n1's PREEMPT first: n1 won, n2's key is gone.
    g1.step({ type: 'evicted', system: 'n2', outcome: 'won', reason: 'evicted', nowMs: 1_100 });
    const g2Out = g2.step({ type: 'evicted', system: 'n1', outcome: 'lost', reason: 'RESERVATION CONFLICT', nowMs: 1_110 });
    expect(lost(g2Out)).toBe(1);
    expect(g2.status().quorum).toBe(false);
    expect(g1.status().quorum).toBe(true);
    // What status (lcdstatus, metrics) says of the race.
    expect(g1.status().evictions).toEqual({ bySystem: { n2: 'won' }, won: 1, lost: 0, failed: 0 });
    expect(g2.status().evictions).toEqual({ bySystem: { n1: 'failed' }, won: 0, lost: 1, failed: 0 });
    // n2 is fenced: it stops writing. n1's reads see n2's record stand still from 1100 on.
    const opened: number[] = [];
    for (let now = 2_000; now <= 8_000; now += T / 2) {
      round(g2, now, { wrote: false, fenced: 'key gone', peerStill: now - 1_000 });
      round(g1, now, { peerStill: Math.max(0, now - 1_100) });
      g1.tick(now);
      g2.tick(now);
      expect(g1.isOpen() && g2.isOpen()).toBe(false);
      expect(g1.status().quorum === true && g2.status().quorum === true).toBe(false);
      if (g1.isOpen()) opened.push(now);
    }
    // Not before N x T + the loss allowance of standing still (1100 + 4000 + 500 = 5600).
    expect(opened[0]).toBe(6_000);
    expect(g2.isOpen()).toBe(false);
  });

  it('a peer whose record still moves is never taken over, even once evicted', () => {
    const { g1 } = upPair();
    g1.step({ type: 'membership', systems: SYS, alive: [], nowMs: 1_000 });
    g1.step({ type: 'evicted', system: 'n2', outcome: 'won', reason: 'evicted', nowMs: 1_100 });
    for (let now = 2_000; now <= 30_000; now += T) {
      round(g1, now, { peerStill: 200 }); // n2's record changed 200 ms before each read
      g1.tick(now);
      expect(g1.isOpen()).toBe(false);
    }
    expect(g1.status().closedReason).toMatch(/waiting for n2's storage record to stand still \(0\.2 s of 4\.5 s\)/);
    expect(g1.status().quorum).toBe(true);
  });

  it('a failed eviction is asked again one interval later; the gate stays closed meanwhile', () => {
    const { g1 } = upPair();
    g1.step({ type: 'membership', systems: SYS, alive: [], nowMs: 1_000 });
    g1.step({ type: 'evicted', system: 'n2', outcome: 'failed', reason: 'ETIMEDOUT', nowMs: 1_200 });
    expect(evicts(g1.tick(1_500))).toEqual([]);
    expect(evicts(g1.tick(2_200))).toEqual(['n2']);
    round(g1, 9_000, { peerStill: 8_000 });
    expect(g1.isOpen()).toBe(false);
    g1.step({ type: 'evicted', system: 'n2', outcome: 'won', reason: 'evicted', nowMs: 9_100 });
    expect(g1.isOpen()).toBe(true);
  });

  it('at start, a peer never seen alive is not evicted while its record moves (it may just not have connected yet)', () => {
    const g = new QuorumGate(cfg('n1'), 0);
    g.step({ type: 'membership', systems: SYS, alive: [], nowMs: 0 });
    for (let now = 100; now <= 10_100; now += T) {
      expect(evicts(round(g, now, { peerStill: 300 }))).toEqual([]);
      expect(g.isOpen()).toBe(false);
    }
    expect(g.status().closedReason).toMatch(/n2 is not seen alive and its storage record moved 0\.3 s ago/);
    // Its record stands still N x T: now it is evicted, and taken over once the allowance passed too.
    expect(evicts(round(g, 11_100, { peerStill: 4_000 }))).toEqual(['n2']);
    g.step({ type: 'evicted', system: 'n2', outcome: 'won', reason: 'evicted', nowMs: 11_200 });
    expect(g.isOpen()).toBe(false);
    round(g, 11_600, { peerStill: 4_500 });
    expect(g.isOpen()).toBe(true);
  });

  it('a fenced system asks for no eviction (it has nothing to win)', () => {
    const { g1 } = upPair();
    round(g1, 500, { wrote: false, fenced: 'key gone', peerStill: 0 });
    expect(evicts(g1.step({ type: 'membership', systems: SYS, alive: [], nowMs: 1_000 }))).toEqual([]);
  });
});

describe('peer record watch', () => {
  const rec = (seq: number, timeMs = 1_000 + seq): DiskRecord => ({ slot: 3, system: 'n2', bootId: 7n, seq: BigInt(seq), timeMs, state: 'running' });
  it('counts standing still from the last change seen by a successful read, from the first read for an unknown system', () => {
    const w = new PeerRecordWatch('n1');
    expect(w.unchangedFor('n2')).toBeUndefined();
    w.observe([rec(1)], 100, 5_000);
    expect(w.unchangedFor('n2')).toBe(0);
    expect(w.unchangedFor('n3')).toBe(0);
    w.observe([rec(2)], 1_100, 5_000);
    w.observe([rec(2)], 2_100, 5_000);
    w.observe([rec(2)], 3_100, 5_000);
    expect(w.unchangedFor('n2')).toBe(2_000);
    expect(w.unchangedFor('n3')).toBe(3_000);
    // A record from far in the future is no change.
    w.observe([rec(3, 10_000_000)], 4_100, 5_000);
    expect(w.unchangedFor('n2')).toBe(3_000);
    // Its own record is not a peer's.
    w.observe([{ ...rec(9), system: 'n1' }], 5_100, 5_000);
    expect(w.snapshot(['n1', 'n2'])).toEqual(new Map([['n1', 5_000], ['n2', 4_000]]));
  });
});

describe('storage witness', () => {
  it('confirms a death only once the record stood still N x T; a moving record vetoes (said once)', () => {
    const w = new StorageWitness(4_000);
    const still = new Map<string, number>();
    w.step({ type: 'suspect', system: 'n2', nowMs: 1_000 });
    // No read of the disk yet: no evidence, nothing concluded.
    expect(w.tick(1_000, () => undefined)).toEqual([]);
    still.set('n2', 300); // changed 300 ms ago, after the suspicion began
    expect(w.tick(2_000, (s) => still.get(s))).toEqual([{ type: 'vetoed', system: 'n2', movedAgoMs: 300 }]);
    expect(w.tick(3_000, (s) => still.get(s))).toEqual([]);
    expect(w.pending()).toEqual(['n2']);
    still.set('n2', 3_999);
    expect(w.tick(8_000, (s) => still.get(s))).toEqual([]);
    still.set('n2', 4_000);
    expect(w.tick(9_000, (s) => still.get(s))).toEqual([{ type: 'confirmed-dead', system: 'n2', stillMs: 4_000 }]);
    expect(w.pending()).toEqual([]);
  });
  it('a suspect that comes back is forgotten', () => {
    const w = new StorageWitness(4_000);
    w.step({ type: 'suspect', system: 'n2', nowMs: 0 });
    w.step({ type: 'cleared', system: 'n2', nowMs: 10 });
    expect(w.tick(10_000, () => 9_000)).toEqual([]);
  });
});
