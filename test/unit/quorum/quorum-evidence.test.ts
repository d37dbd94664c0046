// How old the facts of a quorum "yes" are (the self-fence lease's renewal time): the freshest
// subset of witness answers and peer echoes that still gives quorum, "now" where nothing outside
// can take quorum away, nothing without a "yes"; and the gate's view of it (fresh rounds only,
// storage from the own record's write).
import { describe, expect, it } from 'vitest';
import { QuorumGate, type QuorumGateConfig } from '../../../src/cluster/quorum/gate.js';
import { quorumEvidenceAtMs, type EvidenceFacts } from '../../../src/cluster/quorum/quorum-evidence.js';

const facts = (f: Partial<EvidenceFacts>): EvidenceFacts => ({
  mode: 'majority', local: 'n1', systems: ['n1', 'n2', 'n3'], alive: new Set(), hosts: [], reachableSince: new Map(), echoedAtMs: () => undefined, nowMs: 10_000, ...f,
});

describe('quorumEvidenceAtMs', () => {
  it('none, and two systems without witness hosts: now (no outside fact is needed)', () => {
    expect(quorumEvidenceAtMs(facts({ mode: 'none' }))).toBe(10_000);
    expect(quorumEvidenceAtMs(facts({ systems: ['n1', 'n2'] }))).toBe(10_000);
  });

  it('majority of three: the freshest single echo suffices', () => {
    const echoes: Record<string, number> = { n2: 9_000, n3: 7_000 };
    const f = facts({ alive: new Set(['n2', 'n3']), echoedAtMs: (s) => echoes[s] });
    expect(quorumEvidenceAtMs(f)).toBe(9_000);
  });

  it('majority of five: the second freshest echo (two peers are needed)', () => {
    const echoes: Record<string, number> = { n2: 9_000, n3: 7_000, n4: 8_000 };
    const f = facts({ systems: ['n1', 'n2', 'n3', 'n4', 'n5'], alive: new Set(['n2', 'n3', 'n4']), echoedAtMs: (s) => echoes[s] });
    expect(quorumEvidenceAtMs(f)).toBe(8_000);
  });

  it('a peer alive without any echo (a DISK-only path) gives no evidence; a peer not alive does not count', () => {
    expect(quorumEvidenceAtMs(facts({ alive: new Set(['n2']) }))).toBeUndefined();
    expect(quorumEvidenceAtMs(facts({ alive: new Set(), echoedAtMs: () => 9_500 }))).toBeUndefined();
    // An echo "from the future" (not on this clock) is ignored.
    expect(quorumEvidenceAtMs(facts({ alive: new Set(['n2']), echoedAtMs: () => 20_000 }))).toBeUndefined();
  });

  it('tcp_remote: the start of the round that found enough hosts reachable', () => {
    const f = facts({ mode: 'tcp_remote', hosts: ['a', 'b', 'c'], reachableSince: new Map([['a', 9_000], ['b', 6_000], ['c', 8_000]]) });
    expect(quorumEvidenceAtMs(f)).toBe(8_000);
    expect(quorumEvidenceAtMs({ ...f, reachableSince: new Map([['a', 9_000]]) })).toBeUndefined();
  });

  it('majority with a witness host: a peer echo and a witness answer count alike', () => {
    const f = facts({ systems: ['n1', 'n2'], hosts: ['w'], alive: new Set(['n2']), echoedAtMs: () => 6_000, reachableSince: new Map([['w', 9_000]]) });
    expect(quorumEvidenceAtMs(f)).toBe(9_000);
  });
});

describe('QuorumGate.evidenceAtMs', () => {
  const cfg = (c: Partial<QuorumGateConfig>): QuorumGateConfig => ({
    mode: 'tcp_remote', local: 'n1', hosts: ['w:1'], probeTimeoutMs: 2_000, probePeriodMs: 1_000, quarantineMs: 0, lossActionMs: 0, heartbeatMs: 200, ...c,
  });

  it('tcp_remote: from the round start; undefined while undecided after a loss and when the host is unreachable', () => {
    const g = new QuorumGate(cfg({}), 0);
    g.step({ type: 'membership', systems: ['n1', 'n2'], alive: ['n2'], nowMs: 0 });
    g.step({ type: 'probe-result', host: 'w:1', reachable: true, roundStartMs: 0, nowMs: 50 });
    expect(g.evidenceAtMs(100, () => undefined)).toBe(0);
    g.step({ type: 'probe-result', host: 'w:1', reachable: true, roundStartMs: 1_000, nowMs: 1_050 });
    expect(g.evidenceAtMs(1_100, () => undefined)).toBe(1_000);
    // n2 lost: answers from before are not fresh, the verdict is undecided: no evidence.
    g.step({ type: 'membership', systems: ['n1', 'n2'], alive: [], nowMs: 1_500 });
    expect(g.evidenceAtMs(1_600, () => undefined)).toBeUndefined();
    g.step({ type: 'probe-result', host: 'w:1', reachable: false, roundStartMs: 1_500, nowMs: 3_500 });
    expect(g.evidenceAtMs(3_600, () => undefined)).toBeUndefined();
  });

  it('majority of three: from the echoes the cluster node reports', () => {
    const g = new QuorumGate(cfg({ mode: 'majority', hosts: [] }), 0);
    g.step({ type: 'membership', systems: ['n1', 'n2', 'n3'], alive: ['n2', 'n3'], nowMs: 0 });
    expect(g.evidenceAtMs(5_000, (s) => (s === 'n2' ? 4_000 : 3_000))).toBe(4_000);
  });

  it('storage: when the own record\'s last write was issued', () => {
    const g = new QuorumGate(cfg({ mode: 'storage', hosts: [], storage: { intervalMs: 1_000, numHbeats: 3 } }), 0);
    g.step({ type: 'membership', systems: ['n1'], alive: [], nowMs: 0 });
    g.step({ type: 'storage', wroteAtMs: 900, fenced: undefined, error: undefined, unchangedMs: new Map(), nowMs: 1_000 });
    expect(g.evidenceAtMs(1_000, () => undefined)).toBe(900);
    g.step({ type: 'storage', wroteAtMs: undefined, fenced: 'evicted', error: undefined, unchangedMs: new Map(), nowMs: 2_000 });
    expect(g.evidenceAtMs(2_000, () => undefined)).toBeUndefined();
  });
});
