// A graceful stop of the active node (its hierarchy taken out of service on purpose) while the
// peer's copy is OSF: the service stays down, and the peer says why it does not take it over.
import { describe, expect, it } from 'vitest';
import { FakeCluster, appOverFs } from './fake-cluster.js';

describe('graceful stop of the active node while the peer copy is OSF', () => {
  it('the peer logs that it cannot take the hierarchy over, naming the failed resource and why', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
    expect(c.engine('A').state('app')).toBe('ISP');
    c.load('B', { app: 'OSF', fs: 'OSU' });
    const before = c.logs.length;
    // What vigild's stop does on A (takeAllOutOfService).
    c.step('A', { type: 'adminOutOfService', request: 'stop', tag: 'app' });
    expect(c.engine('A').state('app')).toBe('OSU');
    const said = c.logs.slice(before).filter((l) => l.startsWith('B warn'));
    expect(said).toEqual(['B warn hierarchy app went out of service on A; B cannot take it over: app is OSF (agent start)']);
  });
});
