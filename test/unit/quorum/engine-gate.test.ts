// The quorum gate in the engine's failover decisions (src/hierarchy/failover/decide.ts): a
// hierarchy handed back to this system (the peer it was handed to refused) waits for the gate
// like a failover does, and comes in service when the gate opens.
import { describe, expect, it } from 'vitest';
import { FakeCluster, appOverFs } from '../hierarchy/fake-cluster.js';

describe('the quorum gate on a hierarchy handed back here', () => {
  it('is withheld while the gate is closed and restored here when it opens', () => {
    const cfg = appOverFs({ A: 1, B: 10 }, 'automatic');
    const c = new FakeCluster(['A', 'B'], cfg);
    c.step('A', { type: 'adminInService', request: 'r1', tag: 'app' });
    c.kill('A');
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    // The gate closes (e.g. the survivor hold after a membership change) as A comes back: B
    // hands the hierarchy to A (automatic switchback), A refuses for want of quorum, so it
    // comes back to B, which must not restore it while its own gate is closed.
    c.quorum = false;
    c.actions.length = 0;
    c.revive('A', cfg('A'));
    expect(c.ran('B', 'remove')).toEqual(['app', 'fs']);
    expect(c.ran('A', 'restore')).toEqual([]);
    expect(c.ran('B', 'restore')).toEqual([]);
    expect(c.states('B', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.logs.some((l) => /app handed back here withheld: no quorum/.test(l))).toBe(true);
    c.quorum = true;
    c.step('B', { type: 'quorumChanged' });
    expect(c.ran('B', 'restore')).toEqual(['fs', 'app']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
  });
});
