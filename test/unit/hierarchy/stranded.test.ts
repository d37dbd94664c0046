// A hierarchy that a failure left in service nowhere (the NetRAID seed's scenario 2: the primary
// died while the backup was out of date, and the backup refuses it) is remembered by the system
// that found so, and handed to a candidate system when that one comes back: the returning last
// primary brings it in service, a stale system refuses again (once per return), and nothing
// brings back what an administrator took out of service or what runs somewhere else.
import { describe, expect, it } from 'vitest';
import { FakeCluster, OK, appOverFs, type Responder } from './fake-cluster.js';

const fail = (recoveryClass: 'move-elsewhere' | 'fatal', reason: string) => ({ ok: false, recoveryClass, reason });
const two = appOverFs({ A: 1, B: 10 });

/** The backup's copy is out of date: it refuses the hierarchy for good (like NetRAID's 104013). */
const staleOn =
  (...systems: string[]): Responder =>
  (s, tag, action) =>
    systems.includes(s) && tag === 'fs' && action === 'restore' ? fail('fatal', 'out of date') : OK;

/** A ran app; A died; B refused it: app runs nowhere, and B remembers it. */
function strandedOnB(): FakeCluster {
  const c = new FakeCluster(['A', 'B'], two);
  c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
  c.responder = staleOn('B');
  c.kill('A');
  expect(c.ran('B', 'restore')).toEqual(['fs']);
  expect(c.states('B', ['app', 'fs'])).toEqual(['OSU', 'OSF']);
  expect(c.logs).toContain('B warn hierarchy app is stranded: it is offered to a candidate system when one comes back');
  return c;
}

const handedTo = (c: FakeCluster, to: string) => c.logs.filter((l) => l.includes(`info hierarchy app handed to ${to}: stranded`));

describe('a hierarchy stranded by a failure', () => {
  it('is handed to the last primary when it comes back, and goes in service there', () => {
    const c = strandedOnB();
    c.actions.length = 0;
    c.revive('A', two('A'));
    expect(handedTo(c, 'A')).toHaveLength(1);
    expect(c.ran('A', 'restore')).toEqual(['fs', 'app']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('B').runningOn('app')).toBe('A');
    expect(c.ran('B', 'restore')).toEqual([]);
    // In service on A: a later return of B hands nothing anywhere.
    c.kill('B');
    c.revive('B', two('B'));
    expect(c.ran('B', 'restore')).toEqual([]);
    expect(handedTo(c, 'B')).toEqual([]);
  });

  it('a returning system that refuses it too keeps it stranded: one request per return, no loop', () => {
    const c = strandedOnB();
    c.responder = staleOn('A', 'B');
    c.actions.length = 0;
    c.revive('A', two('A'));
    expect(handedTo(c, 'A')).toHaveLength(1);
    expect(c.ran('A', 'restore')).toEqual(['fs']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSF']);
    // A, which refused last, holds the mark now; B does not ask again.
    expect(c.logs).toContain('A warn hierarchy app is stranded: it is offered to a candidate system when one comes back');
    c.advance(60_000);
    expect(c.actions.filter((a) => a.action === 'restore')).toHaveLength(1);
    expect(handedTo(c, 'A')).toHaveLength(1);
    // B's next return: A asks it once; B refuses once; then quiet again.
    c.kill('B');
    c.revive('B', two('B'));
    c.advance(60_000);
    expect(handedTo(c, 'B')).toHaveLength(1);
    expect(c.ran('B', 'restore')).toEqual(['fs']);
    expect(c.actions.filter((a) => a.action === 'restore')).toHaveLength(2);
    // A refusal that would send it elsewhere (move-elsewhere) finds every other system tried.
    c.responder = (s, tag, action) => (s === 'A' && tag === 'fs' && action === 'restore' ? fail('move-elsewhere', 'busy') : staleOn('B')(s, tag, action));
    c.kill('A');
    c.revive('A', two('A'));
    c.advance(60_000);
    expect(handedTo(c, 'A')).toHaveLength(2);
    expect(c.ran('A', 'restore')).toEqual(['fs', 'fs']);
    expect(c.ran('B', 'restore')).toEqual(['fs']);
    expect(c.logs.filter((l) => l === 'A error hierarchy app cannot be brought in service anywhere: fs: busy')).toHaveLength(1);
  });

  it('a request the returning system never answers leaves it stranded here again', () => {
    const c = strandedOnB();
    c.actions.length = 0;
    c.notReady.add('A');
    c.revive('A', two('A'));
    c.advance(30_000);
    expect(c.ran('A', 'restore')).toEqual([]);
    expect(c.logs).toContain('B warn could not hand app to A; trying the next system');
    expect(c.logs.filter((l) => l === 'B warn hierarchy app is stranded: it is offered to a candidate system when one comes back')).toHaveLength(2);
  });

  it('what an administrator took out of service is never brought back', () => {
    // Out of service by the administrator, then the peer returns: nothing happens.
    const c = new FakeCluster(['A', 'B'], two);
    c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
    c.step('A', { type: 'adminOutOfService', request: 'out', tag: 'app' });
    c.actions.length = 0;
    c.kill('B');
    c.revive('B', two('B'));
    c.kill('A');
    c.revive('A', two('A'));
    c.advance(30_000);
    expect(c.actions.filter((a) => a.action === 'restore')).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['OSU', 'OSU']);

    // Stranded, then the administrator brings it in service on B and takes it out again: A's
    // return brings nothing back.
    const s = strandedOnB();
    s.responder = () => OK;
    s.step('B', { type: 'adminInService', request: 'in-b', tag: 'app' });
    expect(s.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    s.step('B', { type: 'adminOutOfService', request: 'out-b', tag: 'app' });
    s.actions.length = 0;
    s.revive('A', two('A'));
    s.advance(30_000);
    expect(s.ran('A', 'restore')).toEqual([]);
    expect(handedTo(s, 'A')).toEqual([]);
    expect(s.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
  });

  it('placed elsewhere meanwhile: the mark is dropped, and a later return brings nothing back', () => {
    const three = appOverFs({ A: 1, B: 10, C: 20 });
    const c = new FakeCluster(['A', 'B', 'C'], three);
    c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
    c.responder = staleOn('B');
    c.kill('A');
    expect(c.ran('C', 'restore')).toEqual([]);
    expect(c.logs).toContain('B warn hierarchy app is stranded: it is offered to a candidate system when one comes back');
    // The administrator brings it in service on C, then takes it out there.
    c.step('C', { type: 'adminInService', request: 'in-c', tag: 'app' });
    expect(c.logs).toContain('B info hierarchy app no longer stranded: in service on C');
    c.step('C', { type: 'adminOutOfService', request: 'out-c', tag: 'app' });
    c.actions.length = 0;
    c.revive('A', three('A'));
    c.advance(30_000);
    expect(c.ran('A', 'restore')).toEqual([]);
    expect(handedTo(c, 'A')).toEqual([]);
  });

  it('a system that was cut off, not dead, and still runs it is not asked to take it: the mark is dropped', () => {
    const c = new FakeCluster(['A', 'B'], two);
    c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
    c.responder = staleOn('B');
    c.partition('A');
    expect(c.ran('B', 'restore')).toEqual(['fs']);
    c.actions.length = 0;
    c.heal('A');
    c.advance(30_000);
    expect(c.logs).toContain('B info hierarchy app no longer stranded: in service on A');
    expect(handedTo(c, 'A')).toEqual([]);
    expect(c.actions.filter((a) => a.action === 'restore' || a.action === 'remove')).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });

  it('a deleted hierarchy is forgotten', () => {
    const c = strandedOnB();
    c.actions.length = 0;
    c.step('B', { type: 'config', config: { resources: [], dependencies: [] } });
    expect(c.logs).toContain('B info hierarchy app no longer stranded: its configuration changed');
    c.revive('A', two('A'));
    expect(handedTo(c, 'A')).toEqual([]);
    expect(c.ran('A', 'restore')).toEqual([]);
  });
});
