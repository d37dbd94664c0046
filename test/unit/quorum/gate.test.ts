// The quorum gate with a fake clock: fresh probe rounds after a membership loss, the survivor
// hold, the loss report (once, never for a start without quorum), quarantine at start and after
// a regain, and the two sides of a two-node partition with a witness host.
import { describe, expect, it } from 'vitest';
import { QuorumGate, type QuorumGateConfig, type QuorumGateOutput } from '../../../src/cluster/quorum/gate.js';

const cfg = (c: Partial<QuorumGateConfig> = {}): QuorumGateConfig => ({
  mode: 'majority', local: 'n1', hosts: [], probeTimeoutMs: 2_000, probePeriodMs: 1_000, quarantineMs: 0, lossActionMs: 0, heartbeatMs: 200, ...c,
});
const types = (outs: QuorumGateOutput[]) => outs.map((o) => o.type);
const rounds = (outs: QuorumGateOutput[]) => outs.flatMap((o) => (o.type === 'probe' ? [o.roundStartMs] : []));

describe('majority without witness hosts', () => {
  it('three systems: open with a peer, closed and reported lost when alone', () => {
    const g = new QuorumGate(cfg(), 0);
    const sys = ['n1', 'n2', 'n3'];
    // Alone at start: no quorum, but nothing was lost.
    expect(types(g.step({ type: 'membership', systems: sys, alive: [], nowMs: 0 }))).not.toContain('quorum-lost');
    expect(g.isOpen()).toBe(false);
    const up = g.step({ type: 'membership', systems: sys, alive: ['n2'], nowMs: 100 });
    expect(up).toContainEqual({ type: 'gate', open: true, reason: expect.stringMatching(/2 of 3 systems: a majority/) });
    const lost = g.step({ type: 'membership', systems: sys, alive: [], nowMs: 5_000 });
    expect(lost.filter((o) => o.type === 'quorum-lost')).toHaveLength(1);
    expect(g.isOpen()).toBe(false);
    expect(types(g.tick(6_000))).not.toContain('quorum-lost');
  });
  it('a system added to the cluster is a new count, not a loss: no loss reported while the new member comes up', () => {
    const g = new QuorumGate(cfg(), 0);
    g.step({ type: 'membership', systems: ['n1', 'n2'], alive: ['n2'], nowMs: 0 });
    expect(g.isOpen()).toBe(true);
    const grown = g.step({ type: 'membership', systems: ['n1', 'n2', 'n3'], alive: [], nowMs: 100 });
    // (n2 out of sight for a moment as well: the hold that starts is a survivor's, not a loss.)
    expect(types(grown)).not.toContain('quorum-lost');
    expect(g.isOpen()).toBe(false);
    g.step({ type: 'membership', systems: ['n1', 'n2', 'n3'], alive: ['n2', 'n3'], nowMs: 200 });
    expect(g.status().quorum).toBe(true);
    g.tick(500);
    expect(g.isOpen()).toBe(true);
    // From then on, losing sight of the others is a loss.
    expect(types(g.step({ type: 'membership', systems: ['n1', 'n2', 'n3'], alive: [], nowMs: 300 }))).toContain('quorum-lost');
  });
  it('a survivor holds after losing a system, long enough for the loser to act', () => {
    const g = new QuorumGate(cfg({ lossActionMs: 3_000 }), 0);
    const sys = ['n1', 'n2', 'n3'];
    g.step({ type: 'membership', systems: sys, alive: ['n2', 'n3'], nowMs: 0 });
    expect(g.isOpen()).toBe(true);
    g.step({ type: 'membership', systems: sys, alive: ['n2'], nowMs: 10_000 });
    // Hold = loss action 3 s + 2 heartbeats (no witness hosts, so no probe time).
    expect(g.survivorHoldMs()).toBe(3_400);
    expect(g.isOpen()).toBe(false);
    expect(g.status().closedReason).toMatch(/giving a lost system/);
    expect(g.tick(13_399)).toEqual([]);
    expect(g.tick(13_400)).toContainEqual(expect.objectContaining({ type: 'gate', open: true }));
  });
  it('says whether it is closed only for a while (hold, quarantine) or for a lost quorum', () => {
    const g = new QuorumGate(cfg({ lossActionMs: 3_000, quarantineMs: 1_000 }), 0);
    const sys = ['n1', 'n2', 'n3'];
    // Quarantine at start, quorum held: a while.
    g.step({ type: 'membership', systems: sys, alive: ['n2', 'n3'], nowMs: 0 });
    expect(g.isOpen()).toBe(false);
    expect(g.closedOnlyForAWhile()).toBe(true);
    g.tick(1_000);
    expect(g.isOpen()).toBe(true);
    expect(g.closedOnlyForAWhile()).toBe(false);
    // The survivor hold: a while.
    g.step({ type: 'membership', systems: sys, alive: ['n2'], nowMs: 10_000 });
    expect(g.isOpen()).toBe(false);
    expect(g.closedOnlyForAWhile()).toBe(true);
    // Alone of three: quorum lost, not a while.
    g.step({ type: 'membership', systems: sys, alive: [], nowMs: 11_000 });
    expect(g.closedOnlyForAWhile()).toBe(false);
  });
  it('two systems without hosts: no hold, the old rule (the survivor keeps quorum)', () => {
    const g = new QuorumGate(cfg({ lossActionMs: 3_000 }), 0);
    g.step({ type: 'membership', systems: ['n1', 'n2'], alive: ['n2'], nowMs: 0 });
    expect(g.survivorHoldMs()).toBe(0);
    g.step({ type: 'membership', systems: ['n1', 'n2'], alive: [], nowMs: 10 });
    expect(g.isOpen()).toBe(true);
  });
});

describe('a two-node partition with one witness host (majority)', () => {
  const sys = ['n1', 'n2'];
  const start = (local: string) => {
    const g = new QuorumGate(cfg({ local, hosts: ['w:9'], lossActionMs: 0 }), 0);
    const r0 = rounds(g.tick(0));
    expect(r0).toEqual([0]);
    g.step({ type: 'probe-result', host: 'w:9', reachable: true, roundStartMs: 0, nowMs: 5 });
    g.step({ type: 'membership', systems: sys, alive: [local === 'n1' ? 'n2' : 'n1'], nowMs: 10 });
    expect(g.isOpen()).toBe(true);
    return g;
  };
  it('the isolated side loses quorum once a fresh round fails; the other opens after its hold', () => {
    const loser = start('n1');
    const winner = start('n2');
    // The cut at t=1000; both declare the other dead at t=2000.
    const lr = rounds(loser.step({ type: 'membership', systems: sys, alive: [], nowMs: 2_000 }));
    const wr = rounds(winner.step({ type: 'membership', systems: sys, alive: [], nowMs: 2_000 }));
    expect(lr).toEqual([2_000]);
    expect(wr).toEqual([2_000]);
    // Old answers do not count: both undecided, both closed.
    expect(loser.status().quorum).toBeUndefined();
    expect(winner.isOpen()).toBe(false);
    // The winner reaches the witness at once, but holds: probe period + timeout + 2 heartbeats.
    winner.step({ type: 'probe-result', host: 'w:9', reachable: true, roundStartMs: 2_000, nowMs: 2_003 });
    expect(winner.status().quorum).toBe(true);
    expect(winner.isOpen()).toBe(false);
    // The loser's probe times out at t=4000: quorum lost, reported once.
    const lost = loser.step({ type: 'probe-result', host: 'w:9', reachable: false, roundStartMs: 2_000, nowMs: 4_000 });
    expect(types(lost)).toContain('quorum-lost');
    expect(loser.isOpen()).toBe(false);
    // The winner opens only after the loser decided (4000): 2000 + 1000 + 2000 + 400.
    expect(winner.tick(5_399).some((o) => o.type === 'gate')).toBe(false);
    expect(winner.tick(5_400)).toContainEqual(expect.objectContaining({ type: 'gate', open: true }));
    expect(winner.survivorHoldMs()).toBeGreaterThan(4_000 - 2_000);
  });
  it('a stale "reachable" from before the loss never opens the gate', () => {
    const g = start('n2');
    g.step({ type: 'membership', systems: sys, alive: [], nowMs: 2_000 });
    g.step({ type: 'probe-result', host: 'w:9', reachable: true, roundStartMs: 1_500, nowMs: 2_100 });
    expect(g.status().quorum).toBeUndefined();
    g.tick(100_000);
    expect(g.isOpen()).toBe(false);
  });
  it('probes once per period from tick()', () => {
    const g = start('n1');
    expect(rounds(g.tick(500))).toEqual([]);
    expect(rounds(g.tick(1_000))).toEqual([1_000]);
    expect(rounds(g.tick(1_500))).toEqual([]);
  });
});

describe('tcp_remote', () => {
  it('loses quorum when most hosts stop answering, whatever the membership', () => {
    const g = new QuorumGate(cfg({ mode: 'tcp_remote', hosts: ['a:1', 'b:1', 'c:1'] }), 0);
    g.tick(0);
    g.step({ type: 'membership', systems: ['n1', 'n2'], alive: ['n2'], nowMs: 0 });
    for (const h of ['a:1', 'b:1', 'c:1']) g.step({ type: 'probe-result', host: h, reachable: true, roundStartMs: 0, nowMs: 10 });
    expect(g.isOpen()).toBe(true);
    g.tick(1_000);
    g.step({ type: 'probe-result', host: 'a:1', reachable: false, roundStartMs: 1_000, nowMs: 3_000 });
    expect(g.isOpen()).toBe(true);
    const outs = g.step({ type: 'probe-result', host: 'b:1', reachable: false, roundStartMs: 1_000, nowMs: 3_000 });
    expect(types(outs)).toContain('quorum-lost');
    expect(g.status()).toMatchObject({ quorum: false, votes: 1, total: 3 });
  });
  it('refuses to be built without hosts', () => {
    expect(() => new QuorumGate(cfg({ mode: 'tcp_remote', hosts: [] }), 0)).toThrow(/needs at least one quorum host/);
  });
});

describe('quarantine', () => {
  it('holds the gate closed after start until QUORUM_QUARANTINE_SECS passed, even with quorum', () => {
    const g = new QuorumGate(cfg({ quarantineMs: 5_000 }), 1_000);
    g.step({ type: 'membership', systems: ['n1', 'n2', 'n3'], alive: ['n2', 'n3'], nowMs: 1_000 });
    expect(g.status()).toMatchObject({ quorum: true, open: false, closedReason: expect.stringMatching(/quarantine/) });
    expect(g.tick(5_999).some((o) => o.type === 'gate')).toBe(false);
    expect(g.tick(6_000)).toContainEqual(expect.objectContaining({ type: 'gate', open: true }));
  });
  it('after a loss, quorum must hold for the quarantine again before the gate opens', () => {
    const g = new QuorumGate(cfg({ quarantineMs: 5_000 }), 0);
    const sys = ['n1', 'n2', 'n3'];
    g.step({ type: 'membership', systems: sys, alive: ['n2', 'n3'], nowMs: 6_000 });
    expect(g.isOpen()).toBe(true);
    g.step({ type: 'membership', systems: sys, alive: [], nowMs: 10_000 });
    g.step({ type: 'membership', systems: sys, alive: ['n2'], nowMs: 20_000 });
    expect(g.status()).toMatchObject({ quorum: true, open: false, quarantineUntilMs: 25_000 });
    expect(g.tick(25_000)).toContainEqual(expect.objectContaining({ type: 'gate', open: true }));
  });
});

describe('regaining quorum after a loss', () => {
  it('holds the gate for the survivor hold, so the membership can find who runs what first', () => {
    const g = new QuorumGate(cfg({ mode: 'tcp_remote', hosts: ['w:9'], lossActionMs: 1_000 }), 0);
    g.tick(0);
    g.step({ type: 'probe-result', host: 'w:9', reachable: true, roundStartMs: 0, nowMs: 5 });
    expect(g.isOpen()).toBe(true);
    g.tick(1_000);
    expect(types(g.step({ type: 'probe-result', host: 'w:9', reachable: false, roundStartMs: 1_000, nowMs: 3_000 }))).toContain('quorum-lost');
    // The witness answers again (the network came back before the comm paths did).
    g.tick(10_000);
    g.step({ type: 'probe-result', host: 'w:9', reachable: true, roundStartMs: 10_000, nowMs: 10_010 });
    expect(g.status()).toMatchObject({ quorum: true, open: false, closedReason: expect.stringMatching(/giving a lost system/) });
    // Hold: probe period 1000 + timeout 2000 + loss action 1000 + 2 x 200.
    expect(g.status().holdUntilMs).toBe(10_010 + 4_400);
    expect(g.tick(14_410)).toContainEqual(expect.objectContaining({ type: 'gate', open: true }));
  });
  it('a start without quorum is not a loss: quorum arriving later opens the gate at once', () => {
    const g = new QuorumGate(cfg({ lossActionMs: 1_000 }), 0);
    g.step({ type: 'membership', systems: ['n1', 'n2', 'n3'], alive: [], nowMs: 0 });
    expect(g.step({ type: 'membership', systems: ['n1', 'n2', 'n3'], alive: ['n2'], nowMs: 3_000 })).toContainEqual(expect.objectContaining({ type: 'gate', open: true }));
  });
});

describe('none', () => {
  it('is open at once (after quarantine) and never lost', () => {
    const g = new QuorumGate(cfg({ mode: 'none', hosts: [] }), 0);
    const outs = g.step({ type: 'membership', systems: ['n1', 'n2', 'n3'], alive: [], nowMs: 0 });
    expect(g.isOpen()).toBe(true);
    expect(types(outs)).not.toContain('quorum-lost');
    expect(g.survivorHoldMs()).toBe(0);
  });
});
