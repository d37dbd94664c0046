// A system that stood still past its peers' detection time (SIGSTOP, a frozen VM) must not go on
// claiming what a peer may have taken over meanwhile (issue #15's fault run: after a thaw both
// nodes reported the hierarchy ISP): the stall watch notices the gap, and the engine's
// hierarchies that a live peer could run stop claiming service at once and leave.
import { describe, expect, it } from 'vitest';

import { StallWatch } from '../../../src/hierarchy/stall-watch.js';
import { appOverFs, FakeCluster } from './fake-cluster.js';

describe('stall watch', () => {
  it('reports a gap longer than the limit once, and nothing for the first look or short gaps', () => {
    const w = new StallWatch(2_000);
    expect(w.observe(10_000)).toBeUndefined();
    expect(w.observe(10_050)).toBeUndefined();
    expect(w.observe(12_050)).toBeUndefined();
    expect(w.observe(14_051)).toBe(2_001);
    expect(w.observe(14_100)).toBeUndefined();
    // A clock read that goes back (it must not) is no stall, and does not hide the next one.
    expect(w.observe(14_000)).toBeUndefined();
    expect(w.observe(17_000)).toBe(2_900);
  });
});

describe('hierarchy engine: after a stall', () => {
  it('the hierarchies in service here stop claiming service at once and leave; the peer that took over keeps them', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
    // A stands still: B stops hearing it, declares it dead and takes app over. A notices nothing.
    c.cut.add('A|B').add('B|A');
    c.step('B', { type: 'systemDown', system: 'A' });
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    c.cut.clear();
    c.logs.length = 0;
    // A resumes: the first thing its engine hears is the stall.
    c.step('A', { type: 'stalled', gapMs: 9_000 });
    const osf = c.logs.indexOf('A info app: ISP -> OSF');
    expect(osf).toBeGreaterThanOrEqual(0);
    // Out of the claim before anything runs: no state of A said ISP while it removed its copy.
    expect(osf).toBeLessThan(c.logs.findIndex((l) => l.startsWith('A info removing hierarchy app')));
    expect(c.ran('A', 'remove')).toEqual(['app', 'fs']);
    c.step('B', { type: 'systemUp', system: 'A' });
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSF', 'OSF']);
    expect(c.engine('A').stateReason('app')).toMatch(/A stood still for 9000 ms/);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('A').runningOn('app')).toBe('B');
    expect(c.logs.some((l) => l.includes('in service on both'))).toBe(false);
  });

  it('a peer that did not take over is handed the hierarchy', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
    c.step('A', { type: 'stalled', gapMs: 3_000 });
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSF', 'OSF']);
  });

  it('a hierarchy no live peer could run stays in service', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
    c.kill('B');
    c.actions.length = 0;
    c.step('A', { type: 'stalled', gapMs: 9_000 });
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.ran('A', 'remove')).toEqual([]);
  });
});
