// The per-instance action time-limit override (`<action>TimeoutMs` in an instance's info): one
// reading for the engine and for the tasks' direct kit actions. Only a positive whole number of
// milliseconds overrides the kit's limit; zero, negatives and garbage leave the kit's limit.
import { describe, expect, it } from 'vitest';
import { actionTimeLimitMs, parseTimeLimitOverride, timeLimitOverrideProblem } from '../../../src/kits/action-time-limit.js';
import { HierarchyService } from '../../../src/hierarchy/service.js';
import { DEFAULT_TIME_LIMITS, KitRegistry, failed, ok, type ActionResult, type Kit } from '../../../src/kits/kit.js';
import type { Lcd } from '../../../src/lcd/lcd.js';
import { FakeCluster, appOverFs } from '../hierarchy/fake-cluster.js';

const NOT_OVERRIDES = ['-1', '-600000', '0', '00', '1.5', '1e3', '0x10', 'abc', '', ' ', '12ms', 'Infinity', 'NaN', '99999999999999999999'];

describe('action time-limit override', () => {
  it('accepts a positive whole number of milliseconds', () => {
    expect(parseTimeLimitOverride('600000')).toBe(600_000);
    expect(parseTimeLimitOverride(' 250 ')).toBe(250);
    expect(actionTimeLimitMs({ restoreTimeoutMs: '600000' }, 'restore', 120_000)).toBe(600_000);
    // The override belongs to one action only.
    expect(actionTimeLimitMs({ restoreTimeoutMs: '600000' }, 'remove', 120_000)).toBe(120_000);
  });

  it.each(NOT_OVERRIDES)('leaves the kit limit for %j, and create refuses it', (value) => {
    expect(parseTimeLimitOverride(value)).toBeUndefined();
    expect(actionTimeLimitMs({ restoreTimeoutMs: value }, 'restore', 120_000)).toBe(120_000);
    expect(timeLimitOverrideProblem({ checkDepth: '20', quickCheckTimeoutMs: value })).toBe(`quickCheckTimeoutMs must be a positive whole number of milliseconds, not "${value}"`);
  });

  it('create accepts valid overrides and other settings', () => {
    expect(timeLimitOverrideProblem({ restoreTimeoutMs: '600000', removeTimeoutMs: '1', checkDepth: 'deep', someTimeoutMs: '-1' })).toBeUndefined();
  });

  it('the engine runs actions with the override, or the kit limit when the override is not valid', () => {
    for (const [value, want] of [['600000', 600_000], ['-5', 120_000], ['0', 120_000], ['junk', 120_000]] as const) {
      const base = appOverFs({ A: 1, B: 10 });
      const c = new FakeCluster(['A', 'B'], (s) => {
        const cfg = base(s);
        return { ...cfg, resources: cfg.resources.map((r) => (r.tag === 'fs' ? { ...r, info: { restoreTimeoutMs: value } } : r)) };
      });
      c.step('A', { type: 'adminInService', request: 'r', tag: 'app' });
      expect(c.actions.filter((a) => a.action === 'restore').map((a) => `${a.tag} ${a.timeLimitMs}`)).toEqual([`fs ${want}`, 'app 120000']);
    }
  });

  it('tasks run kit actions with the same limits (a negative override does not cut an action short)', async () => {
    let release: (() => void) | undefined;
    const kit: Kit = {
      app: 'test/slow',
      timeLimits: { ...DEFAULT_TIME_LIMITS, restore: 200 },
      supportsRecover: false,
      maxCheckDepth: 0,
      validate: () => ok(),
      create: async () => ok(),
      canExtend: async () => ok(),
      extend: async () => ok(),
      unextend: async () => ok(),
      delete: async () => ok(),
      restore: () => new Promise<ActionResult>((r) => (release = () => r(ok()))),
      remove: async () => ok(),
      quickCheck: async () => failed('retry-here', 'unused'),
      recover: async () => failed('retry-here', 'unused'),
      canFailoverNow: () => ({ ok: true, reason: '' }),
    };
    const kits = new KitRegistry();
    kits.register(kit);
    // runKit reads nothing from the LCD but the local system's name.
    const svc = new HierarchyService({ lcd: { localSystem: 'A' } as Lcd, kits, log: () => undefined, checkIntervalMs: 5_000, haltNode: () => undefined });
    const inst = (value: string) => ({ tag: 't', id: 't', app: 'test/slow', info: { restoreTimeoutMs: value } });
    for (const value of ['-1', '0', 'junk']) {
      const r = await svc.runKit(inst(value), 'restore');
      expect(r).toMatchObject({ ok: false, reason: 'restore of t timed out after 200 ms' });
    }
    const answered = svc.runKit(inst('60000'), 'restore');
    await new Promise((r) => setTimeout(r, 20));
    release!();
    expect(await answered).toMatchObject({ ok: true });
  });
});
