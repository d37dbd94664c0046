// A hierarchy a system had in service when its agent stopped uncleanly is cleaned up at start
// and then brought in service there again, once every other system of it has been heard since
// the start and none runs it or has an operation on it under way (the NetRAID seed's scenario 4:
// both systems went down, the backup came back first and waits; the last primary restores when it
// is back). It waits for an unheard system and for the quorum gate, never for a guess; any
// operation started on the hierarchy cancels it; a clean stop never leads to it; the kit may
// refuse (OSF with its reason).
import { describe, expect, it } from 'vitest';
import { FakeCluster, OK, appOverFs } from './fake-cluster.js';

const fail = (recoveryClass: 'move-elsewhere' | 'fatal', reason: string) => ({ ok: false, recoveryClass, reason });
const two = appOverFs({ A: 1, B: 10 });
const RESTORING = 'A info hierarchy app was in service on A when its agent stopped uncleanly and runs nowhere (B heard): bringing it in service again';
const WAITS_FOR_B = 'A info restart restore of hierarchy app waits until B is heard from: it may run it or take it over';

/** app in service on A (B its backup), then both systems go down at once: nobody survives to fail it over. */
function bothDown(): FakeCluster {
  const c = new FakeCluster(['A', 'B'], two);
  c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
  expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  c.down.add('A');
  c.down.add('B');
  c.actions.length = 0;
  return c;
}

const restores = (c: FakeCluster) => c.actions.filter((a) => a.action === 'restore');

describe('a hierarchy in service at an unclean stop of its agent', () => {
  it('the backup back first waits; the last primary back cleans up and brings it in service by itself (seed scenario 4)', () => {
    const c = bothDown();
    c.revive('B', two('B'), { app: 'OSU', fs: 'OSU' });
    c.advance(60_000);
    expect(restores(c)).toEqual([]);
    expect(c.states('B', ['app', 'fs'])).toEqual(['OSU', 'OSU']);

    c.revive('A', two('A'), { app: 'ISP', fs: 'ISP' });
    // The cleanup first (parents first), then the restore (children first).
    expect(c.actions.map((a) => `${a.system} ${a.action} ${a.tag}`)).toEqual(['A remove app', 'A remove fs', 'A restore fs', 'A restore app']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('B').runningOn('app')).toBe('A');
    expect(c.logs).toContain(RESTORING);
    expect(c.logs).toContain('A info hierarchy app in service on A (agent-restart)');
    expect(c.ran('B', 'restore')).toEqual([]);
  });

  it('an agent restarted before its peer declared it dead restores after its cleanup: the peer reports it runs nowhere', () => {
    const c = new FakeCluster(['A', 'B'], two);
    c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
    c.actions.length = 0;
    // A's vigild is replaced without B ever seeing it go.
    c.revive('A', two('A'), { app: 'ISP', fs: 'ISP' });
    expect(c.actions.map((a) => `${a.system} ${a.action} ${a.tag}`)).toEqual(['A remove app', 'A remove fs', 'A restore fs', 'A restore app']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.engine('B').runningOn('app')).toBe('A');
  });

  it('waits while a system of the hierarchy is unheard, says so once, and restores once it is heard', () => {
    const c = bothDown();
    c.revive('A', two('A'), { app: 'ISP', fs: 'ISP' });
    c.advance(120_000);
    expect(c.ran('A', 'remove')).toEqual(['app', 'fs']);
    expect(c.ran('A', 'restore')).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.logs.filter((l) => l === WAITS_FOR_B)).toHaveLength(1);
    // Seen alive is not heard: only B's state sync counts.
    c.revive('B', two('B'), { app: 'OSU', fs: 'OSU' });
    expect(c.ran('A', 'restore')).toEqual(['fs', 'app']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.logs.filter((l) => l === WAITS_FOR_B)).toHaveLength(1);
  });

  it('waits for a peer that has an operation on it under way, and restores when that ends without it', () => {
    const c = new FakeCluster(['A', 'B'], two);
    c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
    c.actions.length = 0;
    // B fails it over, and its restore of fs hangs while A's agent comes back.
    c.responder = (s, tag, action) => (s === 'B' && tag === 'fs' && action === 'restore' ? 'hang' : OK);
    c.kill('A');
    expect(c.ran('B', 'restore')).toEqual(['fs']);
    c.revive('A', two('A'), { app: 'ISP', fs: 'ISP' });
    c.advance(5_000);
    expect(c.ran('A', 'restore')).toEqual([]);
    expect(c.logs).toContain('A info restart restore of hierarchy app waits: an operation on it is under way on B');
    // B's restore runs out of time and is undone; A, the only other system, was the one that died:
    // B has nobody to pass it to and says it settled without it. A restores.
    c.advance(400_000);
    expect(c.states('B', ['app', 'fs'])).toEqual(['OSU', 'OSF']);
    expect(c.ran('A', 'restore')).toEqual(['fs', 'app']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.logs).toContain(RESTORING);
  });

  it('does not restore where a peer runs it: the peer took it over meanwhile', () => {
    const c = new FakeCluster(['A', 'B'], two);
    c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
    c.kill('A');
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    c.actions.length = 0;
    c.revive('A', two('A'), { app: 'ISP', fs: 'ISP' });
    c.advance(60_000);
    expect(c.ran('A', 'remove')).toEqual(['app', 'fs']);
    expect(c.ran('A', 'restore')).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.logs).toContain('A info hierarchy app is not brought in service again after the unclean stop: it is in service on B');
  });

  it('is cancelled by an administrator\'s operation on the hierarchy, and by a takeover request from a peer', () => {
    const c = bothDown();
    c.revive('A', two('A'), { app: 'ISP', fs: 'ISP' });
    expect(c.logs).toContain(WAITS_FOR_B);
    c.step('A', { type: 'adminOutOfService', request: 'out', tag: 'app' });
    expect(c.logs).toContain('A info hierarchy app is not brought in service again after the unclean stop: a remove (admin) started on it on A');
    c.revive('B', two('B'), { app: 'OSU', fs: 'OSU' });
    c.advance(60_000);
    expect(restores(c)).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);

    // B found it stranded (A died, B's copy refused it): B hands it to A once A's sync arrives;
    // that takeover restores it, not the restart restore.
    const s = new FakeCluster(['A', 'B'], two);
    s.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
    s.responder = (sys, tag, action) => (sys === 'B' && tag === 'fs' && action === 'restore' ? fail('fatal', 'out of date') : OK);
    s.kill('A');
    expect(s.logs).toContain('B warn hierarchy app is stranded: it is offered to a candidate system when one comes back');
    s.actions.length = 0;
    s.revive('A', two('A'), { app: 'ISP', fs: 'ISP' });
    expect(s.logs).toContain('A info hierarchy app is not brought in service again after the unclean stop: a restore (failover) started on it on A');
    expect(s.logs).not.toContain(RESTORING);
    expect(s.ran('A', 'restore')).toEqual(['fs', 'app']);
    expect(s.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });

  it('a clean stop (taken out of service first) brings nothing back; the same stop uncleanly does', () => {
    const c = new FakeCluster(['A', 'B'], two);
    c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
    // vigild stopped with SIGTERM: out of service first, recorded OSU.
    c.step('A', { type: 'adminOutOfService', request: 'stop', tag: 'app' });
    c.down.add('A');
    c.down.add('B');
    c.actions.length = 0;
    c.revive('B', two('B'), { app: 'OSU', fs: 'OSU' });
    c.revive('A', two('A'), { app: 'OSU', fs: 'OSU' });
    c.advance(60_000);
    expect(c.actions).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.logs.filter((l) => l.includes('restart restore') || l.includes('stopped uncleanly'))).toEqual([]);

    const u = bothDown();
    u.revive('B', two('B'), { app: 'OSU', fs: 'OSU' });
    u.revive('A', two('A'), { app: 'ISP', fs: 'ISP' });
    expect(u.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });

  it('a kit that refuses ends it OSF with its reason, in service nowhere', () => {
    const c = bothDown();
    const reason = 'Error 104001: the data-corrupt flag "fs_data_corrupt" is set';
    c.responder = (s, tag, action) => (s === 'A' && tag === 'fs' && action === 'restore' ? fail('fatal', reason) : OK);
    c.revive('B', two('B'), { app: 'OSU', fs: 'OSU' });
    c.revive('A', two('A'), { app: 'ISP', fs: 'ISP' });
    c.advance(60_000);
    expect(c.ran('A', 'restore')).toEqual(['fs']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSF']);
    expect(c.engine('A').stateReason('fs')).toBe(reason);
    expect(c.ran('B', 'restore')).toEqual([]);
    expect(c.engine('B').runningOn('app')).toBeUndefined();
  });

  it('waits for the quorum gate, like a failover', () => {
    const c = bothDown();
    c.revive('B', two('B'), { app: 'OSU', fs: 'OSU' });
    c.quorum = false;
    c.revive('A', two('A'), { app: 'ISP', fs: 'ISP' });
    c.advance(30_000);
    expect(c.ran('A', 'restore')).toEqual([]);
    expect(c.logs).toContain('A info restart restore of hierarchy app waits for the quorum gate to open');
    c.quorum = true;
    c.step('A', { type: 'quorumChanged' });
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });

  it('in service at both systems\' unclean stops (one copy is stale): neither guesses; the administrator decides', () => {
    const c = new FakeCluster(['A', 'B'], two);
    c.step('A', { type: 'adminInService', request: 'in', tag: 'app' });
    c.kill('A');
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    c.down.add('B');
    c.actions.length = 0;
    c.revive('B', two('B'), { app: 'ISP', fs: 'ISP' });
    c.revive('A', two('A'), { app: 'ISP', fs: 'ISP' });
    c.advance(60_000);
    expect(restores(c)).toEqual([]);
    const both = (s: string, o: string) =>
      `${s} warn restart restore of hierarchy app waits: ${o} also had it in service when its agent stopped uncleanly, so one of the copies is stale and which one cannot be told; bring it in service (vigil in-service) on the system that ran it last`;
    expect(c.logs.filter((l) => l === both('A', 'B'))).toHaveLength(1);
    expect(c.logs.filter((l) => l === both('B', 'A'))).toHaveLength(1);
    c.step('B', { type: 'adminInService', request: 'in-b', tag: 'app' });
    c.advance(30_000);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.ran('A', 'restore')).toEqual([]);
    expect(c.logs).toContain('A info hierarchy app is not brought in service again after the unclean stop: it is in service on B');
  });
});
