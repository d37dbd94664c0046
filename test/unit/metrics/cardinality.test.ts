// Label cardinality stays bounded: 1,000 resources created, given events, and deleted again,
// several rounds over, leave no series behind and the scrape returns to its baseline size.
import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../../src/metrics/registry.js';
import { FakeSources, makeResources } from './fake-sources.js';

function vigilSeries(body: string): string[] {
  return body.split('\n').filter((l) => l.startsWith('vigil_'));
}

// Generous time limits: these run beside other test files on a loaded 2-core machine.
describe('metrics cardinality under resource churn', { timeout: 60_000 }, () => {
  it('deletes every series of 1,000 deleted resources, round after round', async () => {
    const sources = new FakeSources();
    const metrics = new AgentMetrics({ sources, version: '1' });
    const baseline = vigilSeries((await metrics.scrape()).body);
    // The histograms without a tag label get their series on first use; warm them up so the
    // baseline comparison is about per-resource series only.
    metrics.recorder.failover('warm', 'node2', 'node1', 1, 'system_down');
    metrics.recorder.localRecovery('warm', true, 1);
    metrics.recorder.localRecovery('warm', false, 1);
    metrics.recorder.switchover('warm', 'node2', 'node1', 1);
    const warmBaseline = vigilSeries((await metrics.scrape()).body).filter((l) => !l.includes('tag="warm"'));
    expect(warmBaseline.length).toBeGreaterThan(baseline.length);

    for (let round = 0; round < 5; round++) {
      const prefix = `round${round}`;
      sources.resourceList = makeResources(1000, prefix);
      for (const r of sources.resourceList) {
        metrics.recorder.resourceTransition(r.tag, 'OSU', 'ISP');
        metrics.recorder.localRecovery(r.tag, true, 0.2);
      }
      metrics.recorder.failover(`${prefix}-7`, 'node2', 'node1', 3, 'system_down');
      metrics.recorder.switchover(`${prefix}-8`, 'node2', 'node1', 3);
      const full = vigilSeries((await metrics.scrape()).body);
      expect(full.filter((l) => l.startsWith('vigil_resource_state{'))).toHaveLength(1000);
      expect(full.filter((l) => l.startsWith('vigil_resource_transitions_total{'))).toHaveLength(1000);

      sources.resourceList = [];
      const after = vigilSeries((await metrics.scrape()).body);
      expect(after.filter((l) => l.includes(`tag="${prefix}-`))).toEqual([]);
      expect(after.length).toBe(warmBaseline.length);
      expect(metrics.recorder.trackedTagCount()).toBe(0);
    }
  });
});
