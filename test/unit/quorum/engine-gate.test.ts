// The quorum gate in the engine's failover decisions (src/hierarchy/failover/decide.ts): a
// hierarchy handed back to this system (the peer it was handed to refused) waits for the gate
// like a failover does, and comes in service when the gate opens.
import { describe, expect, it } from 'vitest';
import { FakeCluster, OK, appOverFs } from '../hierarchy/fake-cluster.js';

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

// A peer asks this system to take a hierarchy over (it failed there) while this system's gate is
// closed only for a while — the survivor hold after it lost sight of another system, or the
// quarantine: the request waits for the gate instead of being refused, because the requester has
// already taken the hierarchy out and (with no other system left to try) nobody would bring it back.
describe('a takeover request that meets a gate closed only for a while', () => {
  const fail = { ok: false, recoveryClass: 'move-elsewhere' as const, reason: 'remount failed' };

  /** A runs app over fs (priority 1), B is its backup; fs fails on A for good while B's gate is in a hold. */
  type Gate = 'open' | 'waiting' | 'lost';
  function failOnAWhileBHolds(): { c: FakeCluster; setB: (g: Gate) => void } {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'adminInService', request: 'r1', tag: 'app' });
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    let bGate: Gate = 'waiting';
    c.gateOf = (s) => (s === 'B' ? bGate : 'open');
    c.responder = (s, tag, action) => (s === 'A' && tag === 'fs' && (action === 'quickCheck' || action === 'recover') ? fail : OK);
    c.advance(6_000);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSF']);
    expect(c.logs.some((l) => /^B warn takeover of app asked by A deferred until the quorum gate opens/.test(l))).toBe(true);
    return { c, setB: (g) => (bGate = g) };
  }

  it('is deferred, and acted on when the hold ends: the hierarchy ends in service on the receiver', () => {
    const { c, setB } = failOnAWhileBHolds();
    expect(c.ran('B', 'restore')).toEqual([]);
    c.advance(3_000);
    expect(c.ran('B', 'restore')).toEqual([]);
    setB('open');
    // No quorumChanged event: the engine's tick is enough.
    c.advance(1_000);
    expect(c.ran('B', 'restore')).toEqual(['fs', 'app']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('A').runningOn('app')).toBe('B');
    expect(c.logs.some((l) => /^B info deferred takeover of app asked by A goes ahead/.test(l))).toBe(true);
  });

  it('is refused once quorum turns out lost, and the requester passes the hierarchy on', () => {
    const { c, setB } = failOnAWhileBHolds();
    setB('lost');
    c.advance(1_000);
    expect(c.ran('B', 'restore')).toEqual([]);
    expect(c.logs.some((l) => /^B warn deferred takeover of app asked by A refused: quorum lost/.test(l))).toBe(true);
    expect(c.logs.some((l) => /^A warn takeover of app failed on B: no quorum on B/.test(l))).toBe(true);
    expect(c.logs.some((l) => /^A error hierarchy app cannot be brought in service anywhere/.test(l))).toBe(true);
  });

  it('is dropped when the hierarchy came in service elsewhere meanwhile', () => {
    const { c, setB } = failOnAWhileBHolds();
    // The administrator repairs fs on A and brings the hierarchy back there during B's hold.
    c.responder = () => OK;
    c.step('A', { type: 'adminInService', request: 'r2', tag: 'app' });
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('B').runningOn('app')).toBe('A');
    setB('open');
    c.advance(1_000);
    expect(c.ran('B', 'restore')).toEqual([]);
    expect(c.states('B', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.logs.some((l) => /^B info deferred takeover of app asked by A dropped: it is in service \(or coming in service\) on A/.test(l))).toBe(true);
  });

  it('is refused at once, as before, when quorum is lost on the receiver', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'adminInService', request: 'r1', tag: 'app' });
    c.gateOf = (s) => (s === 'B' ? 'lost' : 'open');
    c.responder = (s, tag, action) => (s === 'A' && tag === 'fs' && (action === 'quickCheck' || action === 'recover') ? fail : OK);
    c.advance(6_000);
    expect(c.logs.some((l) => /deferred/.test(l))).toBe(false);
    expect(c.logs.some((l) => /^A warn takeover of app failed on B: no quorum on B/.test(l))).toBe(true);
    expect(c.ran('B', 'restore')).toEqual([]);
  });

  it('goes to the next system when the receiver dies before answering', () => {
    const cfg = appOverFs({ A: 1, B: 10, C: 20 });
    const c = new FakeCluster(['A', 'B', 'C'], cfg);
    c.step('A', { type: 'adminInService', request: 'r1', tag: 'app' });
    // C is down when A hands the hierarchy to B: B, the last system to try, defers it.
    c.kill('C');
    c.gateOf = (s) => (s === 'B' ? 'waiting' : 'open');
    c.responder = (s, tag, action) => (s === 'A' && tag === 'fs' && (action === 'quickCheck' || action === 'recover') ? fail : OK);
    c.advance(6_000);
    expect(c.logs.some((l) => /^B warn takeover of app asked by A deferred/.test(l))).toBe(true);
    // C comes back, then B dies before its gate opened: A passes the hierarchy on to C.
    c.revive('C', cfg('C'));
    c.kill('B');
    c.advance(1_000);
    expect(c.states('C', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });

  it('is not passed on again when the receiver passed it on itself and then died', () => {
    const c = new FakeCluster(['A', 'B', 'C'], appOverFs({ A: 1, B: 10, C: 20 }));
    c.step('A', { type: 'adminInService', request: 'r1', tag: 'app' });
    // fs fails on A for good; B cannot restore it either and passes it on to C itself.
    c.responder = (s, tag, action) =>
      (s === 'A' && tag === 'fs' && (action === 'quickCheck' || action === 'recover')) || (s === 'B' && tag === 'fs' && action === 'restore') ? fail : OK;
    c.advance(6_000);
    expect(c.states('C', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.logs.some((l) => /^A warn takeover of app failed on B: fs: remount failed; passed on by B/.test(l))).toBe(true);
    c.kill('B');
    c.advance(1_000);
    expect(c.logs.filter((l) => /^A info hierarchy app handed to/.test(l))).toEqual(['A info hierarchy app handed to B: recover failed: remount failed']);
    expect(c.ran('C', 'restore')).toEqual(['fs', 'app']);
    expect(c.states('A', ['app'])).toEqual(['OSU']);
  });

  it('is refused, as before, when another system is left to try: a third system with an open gate takes it over at once', () => {
    const c = new FakeCluster(['A', 'B', 'C'], appOverFs({ A: 1, B: 10, C: 20 }));
    c.step('A', { type: 'adminInService', request: 'r1', tag: 'app' });
    c.gateOf = (s) => (s === 'B' ? 'waiting' : 'open');
    c.responder = (s, tag, action) => (s === 'A' && tag === 'fs' && (action === 'quickCheck' || action === 'recover') ? fail : OK);
    c.advance(6_000);
    expect(c.logs.some((l) => /deferred/.test(l))).toBe(false);
    expect(c.logs.some((l) => /^A warn takeover of app failed on B: no quorum on B/.test(l))).toBe(true);
    expect(c.states('C', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.ran('B', 'restore')).toEqual([]);
  });

  it('an automatic switchback to a system in quarantine is refused, and the system that had the hierarchy takes it back', () => {
    const cfg = appOverFs({ A: 1, B: 10 }, 'automatic');
    const c = new FakeCluster(['A', 'B'], cfg);
    c.step('A', { type: 'adminInService', request: 'r1', tag: 'app' });
    c.kill('A');
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    // A restarts in quarantine: B hands the hierarchy back (switchback); A refuses rather than
    // keep it out of service for the whole quarantine, since B can take it back at once.
    c.gateOf = (s) => (s === 'A' ? 'waiting' : 'open');
    c.actions.length = 0;
    c.revive('A', cfg('A'));
    expect(c.logs.some((l) => /^A warn takeover of app asked by B deferred/.test(l))).toBe(false);
    expect(c.ran('A', 'restore')).toEqual([]);
    expect(c.ran('B', 'remove')).toEqual(['app', 'fs']);
    expect(c.ran('B', 'restore')).toEqual(['fs', 'app']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });
});
