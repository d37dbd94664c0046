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

interface Timings {
  wall: number[];
  /** CPU time of this process (user + system) per call: unaffected by other processes competing
   *  for the cores, which dominate the wall-clock tail on a shared machine. */
  cpu: number[];
}

async function timeIt(fn: () => Promise<unknown>, iterations: number, into: Timings = { wall: [], cpu: [] }): Promise<Timings> {
  for (let i = 0; i < 20; i++) await fn(); // warm-up: JIT, first-use allocations
  for (let i = 0; i < iterations; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    into.wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    into.cpu.push((c.user + c.system) / 1000);
  }
  return into;
}

export async function bench(): Promise<Record<string, unknown>> {
  const iterations = 200;
  const small = agentWith(10);
  const large = agentWith(1000);
  const seriesCount = (await large.scrape()).body.split('\n').filter((l) => l && !l.startsWith('#')).length;
  const bodyBytes = Buffer.byteLength((await large.scrape()).body);

  // Interleave the two sizes in blocks so machine load affects both alike.
  const smallSamples: Timings = { wall: [], cpu: [] };
  const largeSamples: Timings = { wall: [], cpu: [] };
  for (let block = 0; block < 4; block++) {
    await timeIt(() => small.scrape(), iterations / 4, smallSamples);
    await timeIt(() => large.scrape(), iterations / 4, largeSamples);
  }

  const server = await MetricsServer.start({ address: { host: '127.0.0.1', port: 0 }, scrape: () => large.scrape() });
  let httpSamples: Timings;
  try {
    const url = `http://${server.endpoint()}/metrics`;
    httpSamples = await timeIt(async () => {
      const res = await fetch(url);
      await res.text();
    }, 100);
  } finally {
    await server.close();
  }

  const s10 = summarise(smallSamples.wall);
  const s1000 = summarise(largeSamples.wall);
  const c10 = summarise(smallSamples.cpu);
  const c1000 = summarise(largeSamples.cpu);
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  return {
    goal: 'scrape with 1,000 resources under 20 ms',
    iterationsPerSize: iterations,
    resources10: { wall: s10, cpu: c10 },
    resources1000: { wall: s1000, cpu: c1000, samples: seriesCount, bodyBytes },
    ratio1000vs10: { wallP50: ratio(s1000.p50Ms, s10.p50Ms), wallP99: ratio(s1000.p99Ms, s10.p99Ms), cpuP50: ratio(c1000.p50Ms, c10.p50Ms), cpuP99: ratio(c1000.p99Ms, c10.p99Ms) },
    http1000: { wall: summarise(httpSamples.wall) },
    // Wall-clock p99 includes waiting for a core when other processes are busy; the goal is
    // judged on the median wall time and on the CPU-time p99 of the scrape itself.
    goalMet: s1000.p50Ms < 20 && c1000.p99Ms < 20,
    wallP99GoalMet: s1000.p99Ms < 20,
  };
}
