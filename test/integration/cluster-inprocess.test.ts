// ClusterNodes in one process on 127.0.0.x: heartbeats, round-trip times, messaging over the
// best path, detection of a stopped node, and refusal of a peer holding the wrong key; judgeNow
// declares a silent node dead at once, without waiting for the next tick.
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { generateClusterSecret } from '../../src/cluster/cluster-key.js';
import type { MembershipOutput } from '../../src/cluster/membership.js';
import { freePort, meshPaths, waitFor, type NodeSpec } from './cluster/helpers.js';

const HB = 100;

function canConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.on('connect', () => (s.destroy(), resolve('connected')));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}
const MISSES = 3;
const nodes: ClusterNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

const SPECS: NodeSpec[] = [
  { name: 'alpha', addrs: ['127.0.0.1', '127.0.1.1'] },
  { name: 'bravo', addrs: ['127.0.0.2', '127.0.1.2'] },
  { name: 'charlie', addrs: ['127.0.0.3', '127.0.1.3'] },
];

async function cluster(secretFor: (name: string) => Buffer, judgeEveryMs: (name: string) => number | undefined = () => undefined): Promise<{ port: number; byName: Map<string, ClusterNode>; events: Map<string, MembershipOutput[]> }> {
  const port = await freePort();
  const byName = new Map<string, ClusterNode>();
  const events = new Map<string, MembershipOutput[]>();
  for (const s of SPECS) {
    const n = new ClusterNode({ localSystem: s.name, secret: secretFor(s.name), heartbeatIntervalMs: HB, missedHeartbeats: MISSES, paths: meshPaths(SPECS, s.name, port), judgeEveryMs: judgeEveryMs(s.name) });
    const log: MembershipOutput[] = [];
    n.on('membership', (o: MembershipOutput) => log.push(o));
    events.set(s.name, log);
    byName.set(s.name, n);
    nodes.push(n);
  }
  await Promise.all([...byName.values()].map((n) => n.start()));
  return { port, byName, events };
}

describe('cluster nodes on loopback', () => {
  it('bring all paths up, measure RTT, answer requests, and detect a stopped node', async () => {
    const secret = generateClusterSecret();
    const { byName, events } = await cluster(() => secret);
    const alpha = byName.get('alpha')!;
    await waitFor(() => alpha.stats().paths.every((p) => p.state === 'ALIVE' && p.rttMs !== null), 20_000, 'all alpha paths alive with RTT');
    expect(alpha.systemState('bravo')).toBe('ALIVE');
    expect(alpha.systemState('charlie')).toBe('ALIVE');

    // Listeners are bound to the configured addresses only: the same port on another loopback
    // address (which a wildcard bind would answer) refuses the connection. bravo accepts alpha's paths.
    const port = Number(alpha.stats().paths[0]!.id.split(':').at(-1));
    expect(await canConnect('127.0.0.2', port)).toBe('connected');
    expect(await canConnect('127.0.9.9', port)).toBe('ECONNREFUSED');

    byName.get('bravo')!.handle('echo', (body, from) => ({ body, from }));
    byName.get('bravo')!.handle('fail', () => {
      throw new Error('refused on purpose');
    });
    await expect(alpha.request('bravo', 'echo', { x: 1 })).resolves.toEqual({ body: { x: 1 }, from: 'alpha' });
    await expect(alpha.request('bravo', 'fail', {})).rejects.toThrow(/refused on purpose/);
    await expect(alpha.request('bravo', 'nothing', {})).rejects.toThrow(/no handler/);
    await expect(alpha.request('delta', 'echo', {})).rejects.toThrow(/no live comm path/);

    const charlie = byName.get('charlie')!;
    await charlie.stop();
    const stoppedAt = Date.now();
    await waitFor(() => alpha.systemState('charlie') === 'DEAD' && byName.get('bravo')!.systemState('charlie') === 'DEAD', 10_000, 'charlie declared dead');
    const took = Date.now() - stoppedAt;
    expect(took).toBeLessThan(HB * MISSES + 2000);
    expect(events.get('alpha')!.filter((o) => o.type === 'system-dead').map((o) => (o as { system: string }).system)).toEqual(['charlie']);
    expect(alpha.systemState('bravo')).toBe('ALIVE');
    const counters = alpha.stats().counters;
    expect(counters.framesIn).toBeGreaterThan(10);
    expect(Object.values(counters.authFailures).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('refuses and counts a peer that holds the wrong key', async () => {
    const good = generateClusterSecret();
    const bad = generateClusterSecret();
    const { byName } = await cluster((name) => (name === 'charlie' ? bad : good));
    const alpha = byName.get('alpha')!;
    const bravo = byName.get('bravo')!;
    await waitFor(() => alpha.systemState('bravo') === 'ALIVE', 20_000, 'alpha sees bravo');
    // alpha and bravo dial charlie (their names sort first): from charlie's side both are peers
    // with the wrong key; every Hello fails authentication and the connection is closed.
    const charlie = byName.get('charlie')!;
    await waitFor(() => (charlie.stats().counters.authFailures.bad_tag ?? 0) >= 4 && charlie.stats().counters.connectionsRejected >= 4, 20_000, 'bad_tag counted by charlie');
    await new Promise((r) => setTimeout(r, HB * MISSES * 3));
    // Never connected (every hello refused): UNKNOWN, never alive, and never declared dead.
    expect(alpha.systemState('charlie')).toBe('UNKNOWN');
    expect(byName.get('charlie')!.systemState('alpha')).toBe('UNKNOWN');
    expect(alpha.systemState('bravo')).toBe('ALIVE');
  });

  it('judgeNow declares a node whose silence passed the limit dead at once, not at the next tick', async () => {
    const secret = generateClusterSecret();
    // alpha's own ticks never come within the test: only judgeNow judges there.
    const { byName, events } = await cluster(() => secret, (name) => (name === 'alpha' ? 3_600_000 : undefined));
    const alpha = byName.get('alpha')!;
    const bravo = byName.get('bravo')!;
    await waitFor(() => alpha.systemState('charlie') === 'ALIVE' && bravo.systemState('charlie') === 'ALIVE', 20_000, 'charlie alive');
    await byName.get('charlie')!.stop();
    await waitFor(() => bravo.systemState('charlie') === 'DEAD', 10_000, 'bravo (ticking) to declare charlie dead');
    await new Promise((r) => setTimeout(r, HB * MISSES));
    // Silent for far longer than the limit, but nothing judged it on alpha yet.
    expect(alpha.systemState('charlie')).toBe('ALIVE');
    await alpha.judgeNow();
    expect(alpha.systemState('charlie')).toBe('DEAD');
    expect(events.get('alpha')!.filter((o) => o.type === 'system-dead').map((o) => (o as { system: string }).system)).toEqual(['charlie']);
    // bravo still heard within the limit: judged alive.
    expect(alpha.systemState('bravo')).toBe('ALIVE');
  });

  it('vouches for a peer (a remote_verify answer) only while some path heard it within all but the last of the missed intervals', async () => {
    const secret = generateClusterSecret();
    // alpha never ticks here: charlie stays ALIVE in its membership after charlie stops, as on a
    // witness that has not reached its own declaration yet.
    const { byName } = await cluster(() => secret, (name) => (name === 'alpha' ? 3_600_000 : undefined));
    const alpha = byName.get('alpha')!;
    await waitFor(() => alpha.systemState('charlie') === 'ALIVE' && alpha.vouchesFor('charlie'), 20_000, 'alpha vouches for charlie');
    await byName.get('charlie')!.stop();
    const stoppedAt = performance.now();
    await waitFor(() => !alpha.vouchesFor('charlie'), 5_000, 'alpha to stop vouching for charlie');
    // Not before (MISSES - 1) intervals of silence, and still ALIVE in alpha's membership.
    expect(performance.now() - stoppedAt).toBeGreaterThanOrEqual((MISSES - 1) * HB - HB);
    expect(alpha.systemState('charlie')).toBe('ALIVE');
    expect(alpha.vouchesFor('bravo')).toBe(true);
    expect(alpha.vouchesFor('nobody')).toBe(false);
  });
});
