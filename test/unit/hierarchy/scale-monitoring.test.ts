// Monitoring at scale (issue: 1,000 resources at LKCHECKINTERVAL=2): routine check results are
// logged at debug and state changes at info; resources brought in service together are not
// checked together; a check's own duration does not push the schedule back (fixed rate).
import { describe, expect, it } from 'vitest';
import { HierarchyEngine, type EngineCommand, type ResourceConfig } from '../../../src/hierarchy/engine.js';

const facts = { timeLimits: { validate: 1, create: 1, canExtend: 1, extend: 1, unextend: 1, delete: 1, restore: 10_000, remove: 10_000, quickCheck: 10_000, recover: 10_000 }, supportsRecover: false, maxCheckDepth: 0 as const };
const INTERVAL = 2000;
const OK = { ok: true, recoveryClass: 'move-elsewhere' as const, reason: '' };
const res = (tag: string): ResourceConfig => ({ tag, id: `/x/${tag}`, app: 'gen/app', switchback: 'intelligent', priority: 1, equivalents: [], info: {} });

/** An engine with `n` resources, all brought in service at t=0 (restores answered at once). */
function inService(n: number): { e: HierarchyEngine; logs: Array<Extract<EngineCommand, { type: 'log' }>> } {
  const e = new HierarchyEngine({ localSystem: 'A', kitFacts: () => facts, checkIntervalMs: INTERVAL, canFailoverNow: () => ({ ok: true, reason: '' }) });
  const logs: Array<Extract<EngineCommand, { type: 'log' }>> = [];
  const keep = (cmds: EngineCommand[]) => {
    for (const c of cmds) if (c.type === 'log') logs.push(c);
    return cmds;
  };
  keep(e.step({ type: 'config', config: { resources: Array.from({ length: n }, (_, i) => res(`r${i}`)), dependencies: [] } }, 0));
  for (let i = 0; i < n; i++) {
    const cmds = keep(e.step({ type: 'adminInService', request: `q${i}`, tag: `r${i}` }, 0));
    for (const c of cmds) if (c.type === 'runAction') keep(e.step({ type: 'actionResult', actionId: c.actionId, result: OK }, 0));
  }
  return { e, logs: Object.assign(logs, { keep }) as typeof logs };
}

describe('monitoring at scale', () => {
  it('passed checks log at debug; the state changes at info', () => {
    const { e, logs } = inService(1);
    expect(logs.filter((l) => /r0: OSU -> ISU/.test(l.msg)).map((l) => l.level)).toEqual(['info']);
    logs.length = 0;
    const cmds = e.tick(INTERVAL);
    const run = cmds.find((c) => c.type === 'runAction' && c.action === 'quickCheck');
    expect(run).toBeDefined();
    const after = e.step({ type: 'actionResult', actionId: (run as { actionId: number }).actionId, result: OK }, INTERVAL + 5);
    const checkLogs = [...cmds, ...after].filter((c): c is Extract<EngineCommand, { type: 'log' }> => c.type === 'log');
    expect(checkLogs.map((l) => [l.level, l.msg])).toEqual([
      ['debug', 'quickCheck r0 begins'],
      ['debug', 'quickCheck r0 succeeded'],
    ]);
  });

  it('resources brought in service together are first checked spread over half an interval, then at a fixed rate', () => {
    const n = 200;
    const { e } = inService(n);
    // Tick every 10 ms for three intervals; each check takes 300 ms.
    const starts = new Map<string, number[]>();
    const pending: Array<{ id: number; at: number }> = [];
    for (let now = 0; now <= 3 * INTERVAL + 400; now += 10) {
      for (const p of pending.splice(0).filter((x) => x.at <= now ? true : (pending.push(x), false))) e.step({ type: 'actionResult', actionId: p.id, result: OK }, now);
      for (const c of e.tick(now)) {
        if (c.type !== 'runAction') continue;
        starts.set(c.tag, [...(starts.get(c.tag) ?? []), now]);
        pending.push({ id: c.actionId, at: now + 300 });
      }
    }
    const first = [...starts.values()].map((s) => s[0]!);
    expect(first.length).toBe(n);
    // Spread: between half an interval and one interval, in many different 100 ms bins.
    expect(Math.min(...first)).toBeGreaterThanOrEqual(INTERVAL / 2);
    expect(Math.max(...first)).toBeLessThanOrEqual(INTERVAL);
    const bins = new Map<number, number>();
    for (const t of first) bins.set(Math.floor(t / 100), (bins.get(Math.floor(t / 100)) ?? 0) + 1);
    expect(bins.size).toBeGreaterThanOrEqual(9);
    expect(Math.max(...bins.values())).toBeLessThan(n / 4);
    // Fixed rate: every later check starts one interval after the one before (within a tick),
    // although each check took 300 ms.
    for (const s of starts.values()) {
      expect(s.length).toBeGreaterThanOrEqual(3);
      for (let k = 1; k < s.length; k++) expect(Math.abs(s[k]! - s[k - 1]! - INTERVAL)).toBeLessThanOrEqual(10);
    }
  });
});
