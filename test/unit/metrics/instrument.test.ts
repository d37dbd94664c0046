// instrumentKit / instrumentTimedStat: the wrapped kit and probe behave like the originals and
// each quickCheck, recover and probe is recorded with its result and latency.
import { describe, expect, it } from 'vitest';
import { DEFAULT_TIME_LIMITS, failed, ok, type ActionContext, type ActionResult, type Kit, type ResourceInstance } from '../../../src/kits/kit.js';
import { AppKit } from '../../../src/kits/app/app-kit.js';
import { instrumentKit, instrumentTimedStat } from '../../../src/metrics/instrument.js';
import { AgentMetrics } from '../../../src/metrics/registry.js';
import { createMemoryPlatform } from '../../../src/platform/memory/index.js';
import { FakeSources, valueOf } from './fake-sources.js';

class ScriptedKit implements Kit {
  readonly app = 'gen/filesys';
  readonly timeLimits = DEFAULT_TIME_LIMITS;
  readonly supportsRecover = true;
  readonly maxCheckDepth = 20 as const;
  checks: Array<ActionResult | 'throw' | 'hang'> = [];
  recovers: ActionResult[] = [];
  validate(): ActionResult {
    return ok('valid');
  }
  async create(): Promise<ActionResult> {
    return ok();
  }
  async canExtend(): Promise<ActionResult> {
    return ok();
  }
  async extend(): Promise<ActionResult> {
    return ok();
  }
  async unextend(): Promise<ActionResult> {
    return ok();
  }
  async delete(): Promise<ActionResult> {
    return ok();
  }
  async restore(): Promise<ActionResult> {
    return ok('restored by ' + this.app);
  }
  async remove(): Promise<ActionResult> {
    return ok();
  }
  async quickCheck(_inst: ResourceInstance, _depth: 0 | 10 | 20, ctx: ActionContext): Promise<ActionResult> {
    const next = this.checks.shift()!;
    if (next === 'throw') throw new Error('kit bug');
    if (next === 'hang') {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      return failed('retry-here', 'aborted');
    }
    await new Promise((r) => setTimeout(r, 5));
    return next;
  }
  async recover(): Promise<ActionResult> {
    return this.recovers.shift()!;
  }
  canFailoverNow() {
    return { ok: true, reason: '' };
  }
}

const inst: ResourceInstance = { tag: 'data', id: '/data', app: 'gen/filesys', info: {} };
const ctx = (signal = new AbortController().signal): ActionContext => ({ system: 'node1', signal, log: () => undefined });

describe('instrumentKit', { timeout: 60_000 }, () => {
  it('records quickCheck results and latency, and recover as local recovery', async () => {
    const sources = new FakeSources();
    sources.resourceList = [{ tag: 'data', app: 'gen', type: 'filesys', system: 'node1', state: 'ISP' }];
    const metrics = new AgentMetrics({ sources, version: '1' });
    const raw = new ScriptedKit();
    const kit = instrumentKit(raw, metrics.recorder);
    expect(kit.app).toBe('gen/filesys');
    expect(kit.maxCheckDepth).toBe(20);
    expect(kit.validate(inst)).toEqual(ok('valid'));
    expect(await kit.restore(inst, ctx())).toEqual(ok('restored by gen/filesys'));

    raw.checks = [ok(), failed('retry-here', 'not mounted'), 'throw', 'hang'];
    expect((await kit.quickCheck(inst, 10, ctx())).ok).toBe(true);
    expect((await kit.quickCheck(inst, 10, ctx())).reason).toBe('not mounted');
    await expect(kit.quickCheck(inst, 10, ctx())).rejects.toThrow('kit bug');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    await kit.quickCheck(inst, 20, ctx(ac.signal));

    raw.recovers = [ok(), failed('move-elsewhere', 'remount failed')];
    await kit.recover(inst, ctx());
    await kit.recover(inst, ctx());

    const body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_quickcheck_results_total{kit="gen_filesys",depth="10",result="ok"}')).toBe(1);
    expect(valueOf(body, 'vigil_quickcheck_results_total{kit="gen_filesys",depth="10",result="failed"}')).toBe(1);
    expect(valueOf(body, 'vigil_quickcheck_results_total{kit="gen_filesys",depth="10",result="error"}')).toBe(1);
    expect(valueOf(body, 'vigil_quickcheck_results_total{kit="gen_filesys",depth="20",result="timeout"}')).toBe(1);
    expect(valueOf(body, 'vigil_quickcheck_duration_seconds_count{kit="gen_filesys",depth="10"}')).toBe(3);
    expect(valueOf(body, 'vigil_quickcheck_duration_seconds_bucket{le="0.001",kit="gen_filesys",depth="20"}')).toBe(0);
    expect(valueOf(body, 'vigil_local_recoveries_total{tag="data",result="success"}')).toBe(1);
    expect(valueOf(body, 'vigil_local_recoveries_total{tag="data",result="failure"}')).toBe(1);
  });
});

describe('instrumentKit on a real kit', () => {
  it('answers like the gen/app kit it wraps', () => {
    const metrics = new AgentMetrics({ sources: { localSystem: () => 'node1' }, version: '1' });
    const raw: Kit = new AppKit();
    const kit = instrumentKit(raw, metrics.recorder);
    expect(kit.app).toBe(raw.app);
    expect(kit.timeLimits).toEqual(raw.timeLimits);
    expect(kit.supportsRecover).toBe(raw.supportsRecover);
    const bad: ResourceInstance = { tag: 'web', id: 'web', app: 'gen/app', info: {} };
    expect(kit.validate(bad)).toEqual(raw.validate(bad));
    expect(kit.canFailoverNow(bad)).toEqual(raw.canFailoverNow(bad));
  });
});

describe('instrumentTimedStat', { timeout: 60_000 }, () => {
  it('records latency by outcome and passes results and errors through', async () => {
    const platform = createMemoryPlatform();
    platform.kernel.addDirectory('/srv').addFile('/srv/ok', 3).addDirectory('/hung');
    platform.kernel.addMount({ source: '10.0.0.9:/x', mountPoint: '/hung', fsType: 'nfs', options: [] });
    const metrics = new AgentMetrics({ sources: { localSystem: () => 'node1' }, version: '1' });
    const timedStat = instrumentTimedStat(platform.timedStat, metrics.recorder);
    expect((await timedStat.stat('/srv/ok', 1000)).size).toBe(3);
    await expect(timedStat.stat('/srv/missing', 1000)).rejects.toMatchObject({ code: 'ENOENT' });
    platform.kernel.hang('/hung');
    await expect(timedStat.stat('/hung', 30)).rejects.toThrow();
    expect(timedStat.counters().parked).toBe(1);
    // At the bound, a probe is refused at once: counted by the platform, no latency recorded.
    timedStat.configure({ maxParked: 1, maxParkedPerKey: 1 });
    await expect(timedStat.stat('/hung', 30)).rejects.toThrow();
    expect(timedStat.counters().capacityRejectedTotal).toBe(1);
    platform.kernel.release('/hung');
    const body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_probe_duration_seconds_count{outcome="ok"}')).toBe(1);
    expect(valueOf(body, 'vigil_probe_duration_seconds_count{outcome="error"}')).toBe(1);
    expect(valueOf(body, 'vigil_probe_duration_seconds_count{outcome="timeout"}')).toBe(1);
    expect(valueOf(body, 'vigil_probe_duration_seconds_bucket{le="0.025",outcome="timeout"}')).toBe(0);
  });
});
