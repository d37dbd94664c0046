// A give-up lost on a failing link: A loses quorum while its network is cut but a DISK path keeps
// A and B members of each other (nobody is declared dead). A gives its hierarchy up (quorum
// lost) and the hier-state that asks B to take it over goes down the dead TCP link. When a path
// that carries messages comes back (peerReachable), both sides sync again, and A's sync says what
// it gave up that nobody placed since: B takes it over as if the give-up had arrived then.
import { describe, expect, it } from 'vitest';
import { FakeCluster, appOverFs } from './fake-cluster.js';

describe('a give-up lost while only a DISK path joined the systems', () => {
  it('is told again in the state sync when messaging comes back, and the peer takes the hierarchy over', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    // The network is cut; the DISK path keeps both members: no systemDown anywhere.
    c.cut.add('A|B').add('B|A');
    c.step('A', { type: 'adminOutOfService', request: 'osu', tag: 'app', yieldReason: 'quorum lost' });
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.ran('B', 'restore')).toEqual([]);
    // Messaging is back.
    c.cut.clear();
    c.step('A', { type: 'peerReachable', system: 'B' });
    c.step('B', { type: 'peerReachable', system: 'A' });
    expect(c.ran('B', 'restore')).toEqual(['fs', 'app']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('A').runningOn('app')).toBe('B');
    // Placed now: a later sync from A carries no give-up, and nothing moves again.
    c.actions.length = 0;
    c.step('B', { type: 'peerReachable', system: 'A' });
    expect(c.actions.filter((a) => a.action === 'restore' || a.action === 'remove')).toEqual([]);
  });

  it('an administrator taking it out of service is no give-up: the sync after messaging returns moves nothing', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
    c.cut.add('A|B').add('B|A');
    c.step('A', { type: 'adminOutOfService', request: 'osu', tag: 'app' });
    c.cut.clear();
    c.step('A', { type: 'peerReachable', system: 'B' });
    c.step('B', { type: 'peerReachable', system: 'A' });
    expect(c.ran('B', 'restore')).toEqual([]);
    expect(c.states('B', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
  });
});
