// Applying a configuration change costs what it changed (issue: 1,000 resources): the engine
// keeps its graph and passes over unchanged resources, yet ends in the same state as applying
// the whole configuration afresh. Checked against a fresh engine for every kind of change
// (edit, protection change, add, remove, dependency, refused cycle).
import { describe, expect, it } from 'vitest';
import { HierarchyEngine, type HierarchyConfig, type ResourceConfig } from '../../../src/hierarchy/engine.js';

const facts = { timeLimits: { validate: 1, create: 1, canExtend: 1, extend: 1, unextend: 1, delete: 1, restore: 100, remove: 100, quickCheck: 100, recover: 100 }, supportsRecover: false, maxCheckDepth: 0 as const };

function engine(): HierarchyEngine {
  return new HierarchyEngine({ localSystem: 'A', kitFacts: () => facts, checkIntervalMs: 1000, canFailoverNow: () => ({ ok: true, reason: '' }) });
}

const res = (tag: string, equivalents: ResourceConfig['equivalents'] = []): ResourceConfig => ({ tag, id: `/x/${tag}`, app: 'gen/app', switchback: 'intelligent', priority: 1, equivalents, info: {} });

/** What an engine shows of each tag: state, hierarchy key, where it runs. */
function view(e: HierarchyEngine, tags: string[]): string[] {
  return tags.map((t) => `${t}:${e.state(t) ?? '-'}:${e.hierarchyKey(t) ?? '-'}:${e.runningOn(t) ?? '-'}`);
}

describe('incremental configuration', () => {
  it('ends where a fresh engine given the same configuration ends, change after change', () => {
    const tags = Array.from({ length: 50 }, (_, i) => `r${String(i).padStart(2, '0')}`);
    const deps: HierarchyConfig['dependencies'] = [];
    let cfg: HierarchyConfig = { resources: tags.map((t) => res(t)), dependencies: deps };
    const e = engine();
    e.step({ type: 'config', config: cfg }, 0);
    // Bring r00 in service (ISU: no equivalent).
    let cmds = e.step({ type: 'adminInService', request: 'q', tag: 'r00' }, 1);
    for (let now = 2; cmds.some((c) => c.type === 'runAction'); now++) {
      cmds = cmds.flatMap((c) => (c.type === 'runAction' ? e.step({ type: 'actionResult', actionId: c.actionId, result: { ok: true, recoveryClass: 'move-elsewhere', reason: '' } }, now) : []));
    }
    expect(e.state('r00')).toBe('ISU');
    const steps: Array<(c: HierarchyConfig) => HierarchyConfig> = [
      // An edit of one resource (same tags, same dependency array): the fast path.
      (c) => ({ resources: c.resources.map((r) => (r.tag === 'r07' ? { ...r, info: { x: '1' } } : r)), dependencies: c.dependencies }),
      // Protection: r00 gains an equivalent and becomes ISP; then loses it again.
      (c) => ({ resources: c.resources.map((r) => (r.tag === 'r00' ? res('r00', [{ system: 'B', priority: 10 }]) : r)), dependencies: c.dependencies }),
      (c) => ({ resources: c.resources.map((r) => (r.tag === 'r00' ? res('r00') : r)), dependencies: c.dependencies }),
      // A resource added, one removed.
      (c) => ({ resources: [...c.resources, res('zz')], dependencies: c.dependencies }),
      (c) => ({ resources: c.resources.filter((r) => r.tag !== 'r10'), dependencies: c.dependencies }),
      // A dependency r01 -> r00 (merges two hierarchies), then the same array again.
      (c) => ({ resources: c.resources, dependencies: [{ parent: 'r01', child: 'r00' }] }),
      (c) => ({ resources: c.resources.map((r) => (r.tag === 'r02' ? { ...r } : r)), dependencies: c.dependencies }),
    ];
    for (const step of steps) {
      cfg = step(cfg);
      e.step({ type: 'config', config: cfg }, 100);
      const fresh = engine();
      fresh.step({ type: 'config', config: cfg }, 100);
      const all = [...tags, 'zz'];
      // States of resources in service differ from a fresh engine (which starts all OSU); compare
      // the structure for all, and the in-service one's state against what protection says.
      expect(view(e, all).map((v) => v.split(':').slice(0, 1).concat(v.split(':').slice(2, 3)).join(':'))).toEqual(
        view(fresh, all).map((v) => v.split(':').slice(0, 1).concat(v.split(':').slice(2, 3)).join(':')),
      );
      const r00 = cfg.resources.find((r) => r.tag === 'r00')!;
      expect(e.state('r00')).toBe(r00.equivalents.length ? 'ISP' : 'ISU');
      expect(e.state('r10')).toBe(cfg.resources.some((r) => r.tag === 'r10') ? 'OSU' : undefined);
      expect(e.runningOn('r00')).toBe('A');
    }
    expect(e.hierarchyKey('r00')).toBe('r01');
    expect(e.runningOn('r01')).toBe('A');
  });

  it('a refused configuration (a cycle) changes nothing and is no base for the next one', () => {
    const deps = [{ parent: 'a', child: 'b' }];
    const e = engine();
    e.step({ type: 'config', config: { resources: [res('a'), res('b')], dependencies: deps } }, 0);
    expect(() => e.step({ type: 'config', config: { resources: [res('a'), res('b')], dependencies: [...deps, { parent: 'b', child: 'a' }] } }, 1)).toThrow(/cycle/);
    expect(e.hierarchyKey('b')).toBe('a');
    // Same resources, the dependency dropped: applied in full, not taken for an unchanged shape.
    e.step({ type: 'config', config: { resources: [res('a'), res('b')], dependencies: [] } }, 2);
    expect(e.hierarchyKey('b')).toBe('b');
  });
});
