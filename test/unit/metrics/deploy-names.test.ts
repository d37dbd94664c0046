// The dashboard and the alert rules only use metric names the agent exports (a misspelt name
// is valid PromQL that silently matches nothing), or the kits' prefixes: their families are
// registered by the kits' own code (vigil_nas_*, vigil_replication_*), not by AgentMetrics, or
// reserved (src/metrics/naming.ts).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../../src/metrics/registry.js';
import { FakeSources, makeResources } from './fake-sources.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const RESERVED = /^vigil_(replication|nas|disk_heartbeat|quorum)_/;

async function exportedFamilies(): Promise<Set<string>> {
  const sources = new FakeSources();
  sources.resourceList = makeResources(2);
  sources.probes.parkedByKey = { '/mnt': 1 };
  sources.probes.capacityRejected = 0;
  const metrics = new AgentMetrics({ sources, version: '1' });
  const body = (await metrics.scrape()).body;
  return new Set([...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
}

function namesIn(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/\b((?:vigil|nodejs|process)_[a-z0-9_]+)/g)) {
    names.add(m[1]!.replace(/_(bucket|count|sum)$/, ''));
  }
  return names;
}

describe('names used in deploy/', () => {
  it.each([['grafana/vigil-dashboard.json'], ['prometheus/vigil-alerts.yml']])('%s uses exported or reserved names only', async (file) => {
    const exported = await exportedFamilies();
    const used = namesIn(readFileSync(`${root}deploy/${file}`, 'utf8'));
    expect(used.size).toBeGreaterThan(5);
    const unknown = [...used].filter((n) => !exported.has(n) && !RESERVED.test(n));
    expect(unknown).toEqual([]);
  });

  it('the dashboard uses every vigil family the agent exports', async () => {
    const exported = [...(await exportedFamilies())].filter((n) => n.startsWith('vigil_'));
    const used = namesIn(readFileSync(`${root}deploy/grafana/vigil-dashboard.json`, 'utf8'));
    expect(exported.filter((n) => !used.has(n))).toEqual([]);
  });
});
