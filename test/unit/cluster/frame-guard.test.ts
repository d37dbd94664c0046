// FrameGuard's peer check: a Hello that is authentic (sealed with the cluster key) and addressed
// to us is still refused, and counted as unknown_sender, when its sender is not a system this
// node has a comm path to; the same Hello from a configured peer is accepted.
import { describe, expect, it } from 'vitest';
import { ClusterKey, generateClusterSecret } from '../../../src/cluster/cluster-key.js';
import { ClusterCounters } from '../../../src/cluster/counters.js';
import { FrameGuard } from '../../../src/cluster/frame-guard.js';

const MAX = 1 << 20;

describe('FrameGuard peer check', () => {
  it('refuses an authentic frame from a system that is not a peer, and counts it', () => {
    const key = new ClusterKey(generateClusterSecret());
    const peers = new Set(['alpha']);
    const counters = new ClusterCounters();
    const bravo = new FrameGuard('bravo', key, (s) => peers.has(s), counters, 30_000);
    const alpha = new FrameGuard('alpha', key, () => true, new ClusterCounters(), 30_000);
    // mallory holds the key (a node removed from the cluster, a cloned disk) but bravo has no path to it.
    const mallory = new FrameGuard('mallory', key, () => true, new ClusterCounters(), 30_000);

    const fromMallory = mallory.sealHello('bravo', Buffer.from('hb'));
    expect(bravo.open(fromMallory, MAX, undefined)).toEqual({ ok: false, reason: 'unknown_sender' });
    expect(counters.snapshot().authFailures).toEqual({ unknown_sender: 1 });
    expect(counters.snapshot().framesIn).toBe(0);

    const fromAlpha = bravo.open(alpha.sealHello('bravo', Buffer.from('hb')), MAX, undefined);
    expect(fromAlpha.ok && fromAlpha.frame.header.sender).toBe('alpha');
    expect(fromAlpha.ok && fromAlpha.frame.payload.toString()).toBe('hb');
    expect(counters.snapshot().framesIn).toBe(1);

    // Once bravo has a path to mallory, its frames count as a peer's.
    peers.add('mallory');
    const later = bravo.open(mallory.sealHello('bravo', Buffer.from('hb2')), MAX, undefined);
    expect(later.ok && later.frame.header.sender).toBe('mallory');
    expect(counters.snapshot().authFailures).toEqual({ unknown_sender: 1 });
  });
});
