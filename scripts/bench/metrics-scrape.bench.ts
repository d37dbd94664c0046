// Scrape time of the metrics endpoint with 1,000 resources (goal: under 20 ms), against 10
// resources measured in the same run. Each resource has the series a busy agent would have
// (its state series and a transition counter; one in ten also a local-recovery counter), plus
// quickCheck series per kit; the scrape includes the default process metrics. Measured both in-process (AgentMetrics.scrape) and over HTTP.

import { performance } from 'node:perf_hooks';
import { AgentMetrics } from '../../src/metrics/registry.js';
import { MetricsServer } from '../../src/metrics/server.js';
import type { MetricsSources, ResourceSnapshot } from '../../src/metrics/sources.js';

const STATES = ['ISP', 'OSU', 'ISP', 'OSF'];

function agentWith(resourceCount: number): AgentMetrics {
  const resources: ResourceSnapshot[] = Array.from({ length: resourceCount }, (_, i) => ({
    tag: `fs-${i}`,
    app: 'gen',
    type: i % 2 ? 'filesys' : 'app',
    system: 'node1',
    state: STATES[i % STATES.length]!,
  }));
  const systems = ['node1', 'node2', 'node3'];
  const sources: MetricsSources = {
    localSystem: () => 'node1',
    systems: () => systems.map((name) => ({ name, state: 'ALIVE' })),
    commPaths: () =>
      ['node2', 'node3'].flatMap((other) =>
        [1, 2].map((priority) => ({
          system: 'node1',
          otherSystem: other,
          type: priority === 1 ? 'tcp' : 'tty',
          priority,
          state: 'ALIVE',
          heartbeatRttSeconds: 0.0003,
          lastHeartbeatAgeSeconds: 0.2,
        })),
      ),
    resources: () => resources,
    clusterCounters: () => ({ authFailures: { bad_tag: 1 }, droppedFrames: { replay: 2 } }),
    probeStats: () => ({ inFlight: 0, parked: 0, timeouts: 0, reclaimed: 0 }),
    lcdWrites: () => 42,
  };
  const metrics = new AgentMetrics({ sources, version: 'bench' });
  resources.forEach((r, i) => {
    metrics.recorder.resourceTransition(r.tag, 'OSU', 'ISP');
    if (i % 10 === 0) metrics.recorder.localRecovery(r.tag, true, 0.3);
    metrics.recorder.quickCheck(`${r.app}/${r.type}`, 10, 'ok', 0.002);
  });
  return metrics;
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function summarise(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { p50Ms: round(percentile(sorted, 50)), p99Ms: round(percentile(sorted, 99)), maxMs: round(sorted[sorted.length - 1]!) };
}

async function timeIt(fn: () => Promise<unknown>, iterations: number): Promise<number[]> {
  for (let i = 0; i < 20; i++) await fn(); // warm-up: JIT, first-use allocations
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return samples;
}

export async function bench(): Promise<Record<string, unknown>> {
  const iterations = 200;
  const small = agentWith(10);
  const large = agentWith(1000);
  const seriesCount = (await large.scrape()).body.split('\n').filter((l) => l && !l.startsWith('#')).length;
  const bodyBytes = Buffer.byteLength((await large.scrape()).body);

  // Interleave the two sizes in blocks so machine load affects both alike.
  const smallSamples: number[] = [];
  const largeSamples: number[] = [];
  for (let block = 0; block < 4; block++) {
    smallSamples.push(...(await timeIt(() => small.scrape(), iterations / 4)));
    largeSamples.push(...(await timeIt(() => large.scrape(), iterations / 4)));
  }

  const server = await MetricsServer.start({ address: { host: '127.0.0.1', port: 0 }, scrape: () => large.scrape() });
  let httpSamples: number[];
  try {
    const url = `http://${server.endpoint()}/metrics`;
    httpSamples = await timeIt(async () => {
      const res = await fetch(url);
      await res.text();
    }, 100);
  } finally {
    await server.close();
  }

  const s10 = summarise(smallSamples);
  const s1000 = summarise(largeSamples);
  return {
    goal: 'scrape with 1,000 resources under 20 ms',
    iterationsPerSize: iterations,
    resources10: s10,
    resources1000: { ...s1000, samples: seriesCount, bodyBytes },
    ratioP50_1000vs10: Math.round((s1000.p50Ms / s10.p50Ms) * 100) / 100,
    ratioP99_1000vs10: Math.round((s1000.p99Ms / s10.p99Ms) * 100) / 100,
    http1000: summarise(httpSamples),
    goalMet: s1000.p99Ms < 20,
  };
}
