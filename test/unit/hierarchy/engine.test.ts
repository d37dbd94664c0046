// Engine behaviour on a fake cluster with a fake clock: ordering, states, failover priority,
// switchback modes, locks, kit failures of each recovery class, and time limits.
import { describe, expect, it } from 'vitest';
import { DependencyGraph } from '../../../src/hierarchy/graph.js';
import { checkTransition } from '../../../src/hierarchy/states.js';
import { DEFAULT_TIME_LIMITS } from '../../../src/kits/kit.js';
import { ACTION_MS, FakeCluster, OK, appOverFs } from './fake-cluster.js';
import type { HierarchyConfig } from '../../../src/hierarchy/engine.js';

const fail = (recoveryClass: 'retry-here' | 'move-elsewhere' | 'fatal', reason = 'broken') => ({ ok: false, recoveryClass, reason });

function inService(c: FakeCluster, sys: string, tag = 'app'): void {
  c.step(sys, { type: 'adminInService', request: `r-${sys}-${c.now}`, tag });
}

describe('dependency graph', () => {
  it('orders restore children first and remove parents first, in parallel waves', () => {
    const g = new DependencyGraph();
    for (const t of ['ip', 'app', 'fs1', 'fs2', 'dev']) g.addNode(t);
    g.addDependency('app', 'fs1');
    g.addDependency('app', 'fs2');
    g.addDependency('app', 'ip');
    g.addDependency('fs1', 'dev');
    expect(g.restoreWaves(g.component('app'))).toEqual([['dev', 'fs2', 'ip'], ['fs1'], ['app']]);
    expect(g.removeWaves(g.component('app'))).toEqual([['app'], ['fs1', 'fs2', 'ip'], ['dev']]);
    expect(g.hierarchyKey('dev')).toBe('app');
  });

  it('refuses cycles and self dependencies and changes nothing', () => {
    const g = new DependencyGraph();
    for (const t of ['a', 'b', 'c']) g.addNode(t);
    g.addDependency('a', 'b');
    g.addDependency('b', 'c');
    expect(() => g.addDependency('c', 'a')).toThrow(/cycle/);
    expect(() => g.addDependency('a', 'a')).toThrow(/itself/);
    expect(() => g.addDependency('a', 'zz')).toThrow(/unknown/);
    expect(g.dependencies()).toEqual([{ parent: 'a', child: 'b' }, { parent: 'b', child: 'c' }]);
  });
});

describe('resource states', () => {
  it('allows only the defined transitions', () => {
    expect(() => checkTransition('OSU', 'ISP', 'restored')).not.toThrow();
    expect(() => checkTransition('ISP', 'OSU', 'removed')).not.toThrow();
    expect(() => checkTransition('OSU', 'ISP', 'removed')).toThrow(/illegal/);
    expect(() => checkTransition('OSU', 'OSF', 'check-failed')).toThrow(/illegal/);
    expect(() => checkTransition('ISP', 'ISU', 'protection-changed')).not.toThrow();
  });
});

describe('hierarchy engine', () => {
  it('brings a hierarchy in service children first; ISP when extended, ISU when not', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    inService(c, 'A');
    expect(c.ran('A', 'restore')).toEqual(['fs', 'app']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('B').runningOn('app')).toBe('A');
    expect(c.admin.at(-1)).toMatchObject({ system: 'A', ok: true });

    const solo = new FakeCluster(['A'], appOverFs({ A: 1 }));
    inService(solo, 'A');
    expect(solo.states('A', ['app', 'fs'])).toEqual(['ISU', 'ISU']);
    solo.step('A', { type: 'adminOutOfService', request: 'o', tag: 'fs' });
    expect(solo.ran('A', 'remove')).toEqual(['app', 'fs']);
    expect(solo.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
  });

  it('fails over to the surviving system with the best priority, children first', () => {
    const c = new FakeCluster(['A', 'B', 'C'], appOverFs({ A: 1, B: 20, C: 5 }));
    inService(c, 'A');
    c.kill('A');
    expect(c.ran('C', 'restore')).toEqual(['fs', 'app']);
    expect(c.ran('B', 'restore')).toEqual([]);
    expect(c.states('C', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('B').runningOn('app')).toBe('C');
    // Two restores, one after the other, on the fake clock.
    expect(c.moved).toEqual([{ system: 'C', kind: 'failover', key: 'app', from: 'A', to: 'C', durationMs: 2 * ACTION_MS, reason: 'system-down' }]);
  });

  it('passes the hierarchy on when the best backup cannot restore it (move-elsewhere)', () => {
    const c = new FakeCluster(['A', 'B', 'C'], appOverFs({ A: 1, B: 20, C: 5 }));
    inService(c, 'A');
    c.responder = (s, tag, action) => (s === 'C' && tag === 'app' && action === 'restore' ? fail('move-elsewhere', 'port busy') : OK);
    c.kill('A');
    // C brought fs up, app failed, C removed fs again and handed the hierarchy to B.
    expect(c.ran('C', 'restore')).toEqual(['fs', 'app']);
    expect(c.ran('C', 'remove')).toEqual(['app', 'fs']);
    expect(c.engine('C').state('app')).toBe('OSF');
    expect(c.engine('C').stateReason('app')).toMatch(/port busy/);
    expect(c.ran('B', 'restore')).toEqual(['fs', 'app']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });

  it('a system that takes a hierarchy over and fails for good tells the system that handed it over', () => {
    const c = new FakeCluster(['A', 'B', 'C'], appOverFs({ A: 1, B: 20, C: 5 }));
    inService(c, 'A');
    c.responder = (s, tag, action) => {
      if (s === 'C' && tag === 'app' && action === 'restore') return fail('move-elsewhere', 'port busy');
      if (s === 'B' && tag === 'fs' && action === 'restore') return fail('fatal', 'bad superblock');
      return OK;
    };
    c.kill('A');
    expect(c.ran('B', 'restore')).toEqual(['fs']);
    expect(c.engine('B').state('fs')).toBe('OSF');
    expect(c.logs).toContain('C warn takeover of app failed on B: fs: bad superblock');
    expect(c.moved).toEqual([]);
  });

  it('a resource whose kit is missing fails its operation at once instead of leaving it running', () => {
    const facts = { timeLimits: { ...DEFAULT_TIME_LIMITS }, supportsRecover: true, maxCheckDepth: 10 as const };
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }), { kitFacts: (app) => (app === 'gen/filesys' ? undefined : facts) });
    c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
    expect(c.admin.at(-1)).toMatchObject({ request: 'r', ok: false });
    expect(c.admin.at(-1)!.message).toMatch(/fs: no kit for app gen\/filesys/);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSF']);
    expect(c.engine('A').busy('app')).toBe(false);
  });

  it('a fatal restore failure stops: OSF with the reason, nothing moves', () => {
    const c = new FakeCluster(['A', 'B', 'C'], appOverFs({ A: 1, B: 20, C: 5 }));
    inService(c, 'A');
    c.responder = (s, tag, action) => (s === 'C' && tag === 'fs' && action === 'restore' ? fail('fatal', 'bad superblock') : OK);
    c.kill('A');
    expect(c.ran('C', 'restore')).toEqual(['fs']);
    expect(c.engine('C').state('fs')).toBe('OSF');
    expect(c.ran('B', 'restore')).toEqual([]);
  });

  it('retry-here restore failures are retried here before moving on', () => {
    const c = new FakeCluster(['A', 'B', 'C'], appOverFs({ A: 1, B: 20, C: 5 }), { recovery: { maxAttempts: 2, windowMs: 60_000 } });
    inService(c, 'A');
    let n = 0;
    c.responder = (s, tag, action) => (s === 'C' && tag === 'fs' && action === 'restore' && n++ === 0 ? fail('retry-here', 'device settling') : OK);
    c.kill('A');
    expect(c.ran('C', 'restore')).toEqual(['fs', 'fs', 'app']);
    expect(c.states('C', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    // The failover lasted from the decision to the end: restore, rollback, restore, restore.
    expect(c.moved).toEqual([{ system: 'C', kind: 'failover', key: 'app', from: 'A', to: 'C', durationMs: 4 * ACTION_MS, reason: 'system-down' }]);
  });

  it('a restore that keeps failing with retry-here is made exactly maxAttempts times here, then passed on', () => {
    for (const maxAttempts of [1, 3]) {
      const c = new FakeCluster(['A', 'B', 'C'], appOverFs({ A: 1, B: 20, C: 5 }), { recovery: { maxAttempts, windowMs: 60_000 } });
      inService(c, 'A');
      c.responder = (s, tag, action) => (s === 'C' && tag === 'fs' && action === 'restore' ? fail('retry-here', 'device settling') : OK);
      c.kill('A');
      expect(c.ran('C', 'restore')).toEqual(Array(maxAttempts).fill('fs'));
      expect(c.engine('C').state('fs')).toBe('OSF');
      expect(c.ran('B', 'restore')).toEqual(['fs', 'app']);
      expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    }
  });

  it('automatic switchback: the hierarchy returns when the preferred system comes back', () => {
    const cfg = appOverFs({ A: 1, B: 10 }, 'automatic');
    const c = new FakeCluster(['A', 'B'], cfg);
    inService(c, 'A');
    c.kill('A');
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    c.actions.length = 0;
    c.revive('A', cfg('A'));
    expect(c.ran('B', 'remove')).toEqual(['app', 'fs']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.ran('A', 'restore')).toEqual(['fs', 'app']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('B').runningOn('app')).toBe('A');
    // A reports the switchback from when it was asked to take the hierarchy over.
    expect(c.moved.at(-1)).toEqual({ system: 'A', kind: 'switchover', key: 'app', from: 'B', to: 'A', durationMs: 2 * ACTION_MS, reason: 'switchback' });
  });

  it('intelligent switchback waits for the administrator; in-service on A then switches over', () => {
    const cfg = appOverFs({ A: 1, B: 10 }, 'intelligent');
    const c = new FakeCluster(['A', 'B'], cfg);
    inService(c, 'A');
    c.kill('A');
    c.revive('A', cfg('A'));
    c.advance(30_000);
    expect(c.ran('B', 'remove')).toEqual([]);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('A').runningOn('app')).toBe('B');
    c.step('A', { type: 'adminInService', request: 'sw', tag: 'app' });
    expect(c.ran('B', 'remove')).toEqual(['app', 'fs']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.admin.find((a) => a.request === 'sw')).toMatchObject({ system: 'A', ok: true });
    // From the request: B removes app and fs, then A restores fs and app; a quickCheck of the
    // hierarchy that was running on B when the request came finishes first (one action more).
    const moved = c.moved.at(-1)!;
    expect(moved).toMatchObject({ system: 'A', kind: 'switchover', key: 'app', from: 'B', to: 'A', reason: 'switchover' });
    expect([4 * ACTION_MS, 5 * ACTION_MS]).toContain(moved.durationMs);
  });

  it('local recovery: a failed check is recovered here without failover', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    inService(c, 'A');
    let broken = true;
    c.responder = (s, tag, action) => {
      if (s === 'A' && tag === 'app' && action === 'quickCheck' && broken) return fail('retry-here', 'process gone');
      if (action === 'recover') broken = false;
      return OK;
    };
    c.advance(6_000);
    expect(c.ran('A', 'recover')).toEqual(['app']);
    expect(c.ran('B', 'restore')).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    c.advance(6_000);
    expect(c.ran('A', 'recover')).toEqual(['app']);
  });

  it('a resource that keeps failing spends its recovery budget, then the hierarchy fails over', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }), { recovery: { maxAttempts: 2, windowMs: 60_000 } });
    inService(c, 'A');
    c.responder = (s, tag, action) => (s === 'A' && tag === 'app' && action === 'quickCheck' ? fail('retry-here', 'crashed again') : OK);
    c.advance(20_000);
    expect(c.ran('A', 'recover')).toEqual(['app', 'app']);
    expect(c.ran('A', 'remove')).toEqual(['app', 'fs']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSF', 'OSU']);
    expect(c.ran('B', 'restore')).toEqual(['fs', 'app']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    // B counts from when A handed the hierarchy over.
    expect(c.moved).toEqual([{ system: 'B', kind: 'failover', key: 'app', from: 'A', to: 'B', durationMs: 2 * ACTION_MS, reason: 'local-failure' }]);
  });

  it('a failed recover fails over at once', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    inService(c, 'A');
    c.responder = (s, tag, action) =>
      s === 'A' && tag === 'fs' && (action === 'quickCheck' || action === 'recover') ? fail('move-elsewhere', 'remount failed') : OK;
    c.advance(6_000);
    expect(c.ran('A', 'recover')).toEqual(['fs']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSF']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });

  it('a fatal monitor failure takes the hierarchy out of service without moving it', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    inService(c, 'A');
    c.responder = (s, tag, action) => (s === 'A' && tag === 'fs' && action === 'quickCheck' ? fail('fatal', 'file system corrupt') : OK);
    c.advance(6_000);
    expect(c.ran('A', 'recover')).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSF']);
    expect(c.ran('B', 'restore')).toEqual([]);
  });

  it('a kit may request a node halt', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    inService(c, 'A');
    c.responder = (s, tag, action) => (s === 'A' && tag === 'fs' && action === 'quickCheck' ? { ...fail('move-elsewhere', 'NAS gone'), haltNode: true } : OK);
    c.advance(6_000);
    expect(c.halts).toEqual(['A: fs: NAS gone']);
  });

  it('enforces action time limits: a hung action fails with a reason and is cancelled', () => {
    const facts = { timeLimits: { validate: 1000, create: 1000, canExtend: 1000, extend: 1000, unextend: 1000, delete: 1000, restore: 3000, remove: 3000, quickCheck: 2000, recover: 3000 }, supportsRecover: false, maxCheckDepth: 10 as const };
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }), { facts: { 'gen/app': facts, 'gen/filesys': facts } });
    inService(c, 'A');
    c.responder = (s, tag, action) => (s === 'A' && tag === 'fs' && action === 'quickCheck' ? 'hang' : OK);
    // The first check of fs starts within one interval (at a point of its own); from then on,
    // nothing is cancelled before its 2000 ms limit and it is cancelled soon after.
    while (!c.ran('A', 'quickCheck').includes('fs')) c.advance(100, 100);
    c.advance(1_800, 100);
    expect(c.cancelled).toEqual([]);
    c.advance(700, 100);
    expect(c.cancelled).toHaveLength(1);
    expect(c.cancelled[0]!.reason).toMatch(/quickCheck of fs timed out after 2000 ms/);
    expect(c.engine('A').stateReason('fs')).toMatch(/timed out/);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });

  it('says when tick() next has something to do: ticked only then, a hung check is still cancelled at its limit', () => {
    const facts = { timeLimits: { validate: 1000, create: 1000, canExtend: 1000, extend: 1000, unextend: 1000, delete: 1000, restore: 3000, remove: 3000, quickCheck: 2000, recover: 3000 }, supportsRecover: false, maxCheckDepth: 10 as const };
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }), { facts: { 'gen/app': facts, 'gen/filesys': facts } });
    // Nothing in service: nothing waits on time.
    expect(c.engine('A').nextDueMs()).toBeUndefined();
    inService(c, 'A');
    // In service on A: its next check, within one interval; B runs nothing and checks nothing.
    const due = c.engine('A').nextDueMs()!;
    expect(due).toBeGreaterThan(c.now);
    expect(due).toBeLessThanOrEqual(c.now + 5_000);
    expect(c.engine('B').nextDueMs()).toBeUndefined();
    c.responder = (s, tag, action) => (s === 'A' && tag === 'fs' && action === 'quickCheck' ? 'hang' : OK);
    let startedAt: number | undefined;
    let ticks = 0;
    while (c.cancelled.length === 0 && ticks++ < 20) {
      const wait = Math.max(1, c.engine('A').nextDueMs()! - c.now);
      c.advance(wait, wait);
      if (startedAt === undefined && c.ran('A', 'quickCheck').includes('fs')) startedAt = c.now;
    }
    // A few ticks, not one per 100 ms, and the hung check cancelled exactly at its 2000 ms limit.
    expect(ticks).toBeLessThan(10);
    expect(c.cancelled).toHaveLength(1);
    expect(c.now).toBe(startedAt! + 2_000);
    expect(c.cancelled[0]!.reason).toMatch(/quickCheck of fs timed out after 2000 ms/);
  });

  it('a restore that outlives its time limit is failed; a late answer is ignored', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.responder = (s, tag, action) => (s === 'A' && tag === 'fs' && action === 'restore' ? 'hang' : OK);
    c.step('A', { type: 'adminInService', request: 'slow', tag: 'app' });
    c.advance(121_000, 1000);
    const done = c.admin.find((a) => a.request === 'slow')!;
    expect(done.ok).toBe(false);
    expect(done.message).toMatch(/timed out after 120000 ms/);
    const id = c.actions.find((a) => a.system === 'A' && a.action === 'restore')!.actionId;
    c.step('A', { type: 'actionResult', actionId: id, result: OK });
    expect(c.engine('A').state('fs')).toBe('OSF');
  });

  it('quorum gate: no failover without quorum; it happens when quorum returns', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    inService(c, 'A');
    c.quorum = false;
    c.kill('A');
    expect(c.ran('B', 'restore')).toEqual([]);
    c.quorum = true;
    c.step('B', { type: 'quorumChanged' });
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    // Reported as a failover from the system that died, not from "unknown".
    expect(c.moved).toEqual([{ system: 'B', kind: 'failover', key: 'app', from: 'A', to: 'B', durationMs: 2 * ACTION_MS, reason: 'system-down' }]);
  });

  it('quorum gate: a withheld failover is dropped when the system that had the hierarchy comes back still running it', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    inService(c, 'A');
    c.quorum = false;
    // B loses sight of A (cut off, or A stood still) and withholds the failover; A noticed nothing.
    c.cut.add('A|B').add('B|A');
    c.step('B', { type: 'systemDown', system: 'A' });
    c.cut.clear();
    c.step('B', { type: 'systemUp', system: 'A' });
    c.quorum = true;
    c.step('B', { type: 'quorumChanged' });
    expect(c.ran('B', 'restore')).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('B').runningOn('app')).toBe('A');
  });

  it('quorum gate: a system that comes back still running the hierarchy and then loses quorum gives it up; the peer takes it over once its gate opens', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    inService(c, 'A');
    c.quorum = false;
    c.cut.add('A|B').add('B|A');
    c.step('B', { type: 'systemDown', system: 'A' });
    c.cut.clear();
    // A is back and says it runs app: B drops its failover ...
    c.step('B', { type: 'systemUp', system: 'A' });
    // ... then A's quorum probe, started while it was cut off, fails: its loss action (osu) gives app up.
    c.step('A', { type: 'adminOutOfService', request: 'osu', tag: 'app', yieldReason: 'quorum lost' });
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.ran('B', 'restore')).toEqual([]);
    c.quorum = true;
    c.step('B', { type: 'quorumChanged' });
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });

  it('an administrator taking a hierarchy out of service is not a reason for a peer to take it', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    inService(c, 'A');
    c.step('A', { type: 'adminOutOfService', request: 'admin', tag: 'app' });
    expect(c.ran('B', 'restore')).toEqual([]);
  });

  it('quorum gate: a withheld failover still happens when the system that had the hierarchy comes back without it', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    inService(c, 'A');
    c.quorum = false;
    c.kill('A');
    // A restarts with nothing in service (its cleanup at start).
    c.revive('A', appOverFs({ A: 1, B: 10 })('A'));
    c.quorum = true;
    c.step('B', { type: 'quorumChanged' });
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
  });

  it('a kit veto (canFailoverNow) keeps the hierarchy where it is', () => {
    let resyncing = true;
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }), {
      canFailoverNow: (tag) => (tag === 'fs' && resyncing ? { ok: false, reason: 'resync in progress' } : { ok: true, reason: '' }),
    });
    inService(c, 'A');
    c.responder = (s, tag, action) => (s === 'A' && tag === 'app' && action === 'quickCheck' ? fail('move-elsewhere') : OK);
    c.advance(30_000);
    expect(c.ran('B', 'restore')).toEqual([]);
    expect(c.logs.some((l) => /vetoed: fs: resync in progress/.test(l))).toBe(true);
    resyncing = false;
    c.advance(10_000);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });

  it('admin locks: contention gets a clear error; released locks can be taken', () => {
    const c = new FakeCluster(['A', 'B', 'C'], appOverFs({ A: 1, B: 10, C: 20 }));
    c.step('A', { type: 'lockRequest', request: 'a1', tag: 'fs', purpose: 'extend' });
    expect(c.admin.at(-1)).toMatchObject({ system: 'A', request: 'a1', ok: true });
    c.step('B', { type: 'lockRequest', request: 'b1', tag: 'app', purpose: 'unextend' });
    expect(c.admin.at(-1)).toMatchObject({ system: 'B', request: 'b1', ok: false });
    expect(c.admin.at(-1)!.message).toBe('hierarchy app is locked by extend on A; try again when it finishes');
    // B's refused attempt must not leave a lock behind on C.
    c.step('A', { type: 'lockRelease', request: 'a1', tag: 'app' });
    c.step('C', { type: 'lockRequest', request: 'c1', tag: 'app', purpose: 'delete' });
    expect(c.admin.at(-1)).toMatchObject({ system: 'C', request: 'c1', ok: true });
  });

  it('a dead system\'s lock dies with it', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'lockRequest', request: 'a1', tag: 'app', purpose: 'extend' });
    c.kill('A');
    c.step('B', { type: 'lockRequest', request: 'b1', tag: 'app', purpose: 'switchover' });
    expect(c.admin.at(-1)).toMatchObject({ system: 'B', ok: true });
  });

  it('perform_action runs one action on one resource only', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'adminAction', request: 'p', tag: 'fs', action: 'restore' });
    expect(c.ran('A', 'restore')).toEqual(['fs']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'ISP']);
    expect(c.engine('B').runningOn('fs')).toBe('A');
  });

  it('unknown tags get a clear error and change nothing', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'adminInService', request: 'x', tag: 'nope' });
    expect(c.admin.at(-1)).toMatchObject({ ok: false, message: 'resource nope not found on A' });
    expect(c.actions).toEqual([]);
  });

  it('extending an ISU hierarchy makes it ISP', () => {
    const solo: (s: string) => HierarchyConfig = appOverFs({ A: 1 });
    const c = new FakeCluster(['A'], solo);
    inService(c, 'A');
    expect(c.engine('A').state('app')).toBe('ISU');
    c.step('A', { type: 'config', config: appOverFs({ A: 1, B: 10 })('A') });
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });
});

describe('hierarchy engine: configuration changes', () => {
  it('a system that receives the hierarchy by extend learns where it runs and can take it over', () => {
    // B starts without the hierarchy (not extended yet).
    const extended = appOverFs({ A: 1, B: 10 });
    const c = new FakeCluster(['A', 'B'], (s) => (s === 'A' ? appOverFs({ A: 1 })(s) : { resources: [], dependencies: [] }));
    c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISU', 'ISU']);
    // Extend: B gets the resources, A gets the equivalent.
    c.step('B', { type: 'config', config: extended('B') });
    c.step('A', { type: 'config', config: extended('A') });
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('B').runningOn('app')).toBe('A');
    c.kill('A');
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });

  it('where-knowledge survives a dependency that merges two hierarchies', () => {
    const split = (s: string): HierarchyConfig => {
      const cfg = appOverFs({ A: 1, B: 10 })(s);
      return { ...cfg, dependencies: [] };
    };
    const c = new FakeCluster(['A', 'B'], split);
    c.step('A', { type: 'adminInService', request: 'r1', tag: 'fs' });
    c.step('A', { type: 'adminInService', request: 'r2', tag: 'app' });
    for (const s of ['A', 'B']) c.step(s, { type: 'config', config: appOverFs({ A: 1, B: 10 })(s) });
    expect(c.engine('B').runningOn('app')).toBe('A');
    expect(c.engine('B').runningOn('fs')).toBe('A');
    c.kill('A');
    expect(c.ran('B', 'restore')).toEqual(['fs', 'app']);
  });
});

describe('hierarchy engine: split brain', () => {
  it('after a partition heals, the older copy goes even where its priority is better: the takeover stays', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
    c.partition('A');
    // Without quorum rules both sides run it while cut off; B's copy is the takeover.
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    c.actions.length = 0;
    c.heal('A');
    expect(c.ran('A', 'remove')).toEqual(['app', 'fs']);
    expect(c.ran('B', 'remove')).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.engine('A').runningOn('app')).toBe('B');
    expect(c.engine('B').runningOn('app')).toBe('B');
    expect(c.logs.some((l) => l.includes('hierarchy app is in service on both'))).toBe(true);
    expect(c.logs.some((l) => /^A warn hierarchy app: the copy on B stays \(newer: epoch \d+ over \d+\); taking this one out$/.test(l))).toBe(true);
  });

  it('a copy brought in service after a restart is newer than one made before it, though the restarted system never heard of it', () => {
    const cfg = appOverFs({ A: 1, B: 10 });
    const c = new FakeCluster(['A', 'B'], cfg);
    c.step('A', { type: 'adminInService', request: 'r1', tag: 'app' });
    c.kill('A');
    // B takes it over (its epoch above A's first one).
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    c.advance(60_000);
    // A restarts cut off from B (it knows no epoch at all), and an administrator brings the
    // hierarchy in service there: the newest copy. B, cut off too, keeps its older one.
    c.cut.add('A|B').add('B|A'); // no message gets through, the state sync included
    c.revive('A', cfg('A'));
    c.partition('A');
    c.actions.length = 0;
    c.step('A', { type: 'adminInService', request: 'r2', tag: 'app' });
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    c.heal('A');
    // The older copy (B's) goes, the newer stays, whatever the priorities.
    expect(c.ran('B', 'remove')).toEqual(['app', 'fs']);
    expect(c.ran('A', 'remove')).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.logs.some((l) => /^B warn hierarchy app: the copy on A stays \(newer: epoch \d+ over \d+\)/.test(l))).toBe(true);
  });

  it('a takeover by an agent started afresh (it knows no epoch) is newer than the copy it replaced: the restarted standby keeps it', () => {
    // The recovery-server standby: B's vigild is stopped while A serves; A freezes; B's listener
    // fences A and B's vigild, started afresh, brings the hierarchy in service; A thaws.
    const cfg = appOverFs({ A: 1, B: 10 });
    const c = new FakeCluster(['A', 'B'], cfg);
    c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
    c.kill('B');
    c.advance(10_000);
    c.cut.add('A|B').add('B|A');
    c.revive('B', cfg('B'));
    c.step('B', { type: 'systemDown', system: 'A' });
    c.step('B', { type: 'adminInService', request: 'r2', tag: 'app' });
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    c.actions.length = 0;
    c.heal('A');
    expect(c.ran('B', 'remove')).toEqual([]);
    expect(c.ran('A', 'remove')).toEqual(['app', 'fs']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.logs.some((l) => l.startsWith('A warn hierarchy app: the copy on B stays (newer: epoch '))).toBe(true);
  });

  it('a report that comes while a check runs on the copy here is looked at when the check ends', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    // A's quickChecks take 20 s, so one is running when the partition heals.
    c.actionMs = (system, _tag, action) => (system === 'A' && action === 'quickCheck' ? 20_000 : ACTION_MS);
    c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
    c.partition('A');
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    c.advance(6_000);
    expect(c.actions.some((a) => a.system === 'A' && a.action === 'quickCheck')).toBe(true);
    c.actions.length = 0;
    // B's sync (its takeover, epoch 2) reaches A in the middle of the check; A's copy goes once it ends.
    c.heal('A');
    expect(c.ran('A', 'remove')).toEqual(['app', 'fs']);
    expect(c.ran('B', 'remove')).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
  });

  it('a copy whose epoch is unknown (an agent that predates epochs) is judged by priority', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
    c.partition('A');
    c.actions.length = 0;
    // B's report without an epoch (delivered by hand; A's answer does not reach B): A, the better
    // priority, keeps its copy.
    c.step('A', { type: 'message', from: 'B', msg: { kind: 'hier-state', key: 'app', inService: true } });
    expect(c.ran('A', 'remove')).toEqual([]);
    expect(c.logs.some((l) => l.startsWith('A warn hierarchy app: the copy on B stays'))).toBe(false);
  });

  it('with the quorum gate closed on the minority side nothing is brought in service there', () => {
    const c = new FakeCluster(['A', 'B', 'C'], appOverFs({ A: 1, B: 10, C: 20 }));
    c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
    c.quorum = false; // the gate as both minority sides of a three-way split would see it
    c.partition('A');
    expect(c.ran('B', 'restore')).toEqual([]);
    expect(c.ran('C', 'restore')).toEqual([]);
  });
});

describe('hierarchy engine: agent start', () => {
  it('cleans up what was recorded in service by an unclean stop (parents first) and ends OSU', () => {
    // B is down: not heard since the start, so nothing is restored after the cleanup (the
    // restore after an unclean stop: restart-restore.test.ts).
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.kill('B');
    c.load('A', { app: 'ISP', fs: 'ISP' });
    expect(c.ran('A', 'remove')).toEqual(['app', 'fs']);
    expect(c.ran('A', 'restore')).toEqual([]);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    expect(c.engine('A').runningOn('app')).toBeUndefined();
  });

  it('a cleanup that fails leaves OSF with the reason; recorded OSU/OSF stay as they are', () => {
    const c = new FakeCluster(['A', 'B'], appOverFs({ A: 1, B: 10 }));
    c.responder = (_s, tag, action) => (tag === 'fs' && action === 'remove' ? fail('fatal', 'device busy') : OK);
    c.load('A', { app: 'ISU', fs: 'ISU' });
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSF']);
    expect(c.engine('A').stateReason('fs')).toBe('device busy');
    const d = new FakeCluster(['A'], appOverFs({ A: 1 }));
    d.load('A', { app: 'OSF', fs: 'OSU' });
    expect(d.actions).toEqual([]);
    expect(d.states('A', ['app', 'fs'])).toEqual(['OSF', 'OSU']);
  });
});

describe('hierarchy engine: hand-over to a system that is still starting', () => {
  it('retries the hand-over instead of taking the hierarchy back at once', () => {
    const cfg = appOverFs({ A: 1, B: 10 }, 'automatic');
    const c = new FakeCluster(['A', 'B'], cfg);
    c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
    c.kill('A');
    c.notReady.add('A');
    c.actions.length = 0;
    c.revive('A', cfg('A'));
    // B gave it up for the switchback but A does not accept messages yet.
    expect(c.states('B', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
    c.advance(2_500);
    expect(c.ran('B', 'restore')).toEqual([]);
    c.notReady.delete('A');
    c.advance(1_500);
    expect(c.states('A', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.ran('B', 'restore')).toEqual([]);
  });

  it('after the retries it brings the hierarchy back in service itself', () => {
    const cfg = appOverFs({ A: 1, B: 10 }, 'automatic');
    const c = new FakeCluster(['A', 'B'], cfg);
    c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
    c.kill('A');
    c.notReady.add('A');
    c.revive('A', cfg('A'));
    c.advance(10_000);
    expect(c.states('B', ['app', 'fs'])).toEqual(['ISP', 'ISP']);
    expect(c.states('A', ['app', 'fs'])).toEqual(['OSU', 'OSU']);
  });
});
