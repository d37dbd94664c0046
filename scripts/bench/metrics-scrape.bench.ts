// Scrape time of the metrics endpoint with 1,000 resources (goal: under 20 ms), against 10
// resources measured in the same run. Each resource has the series a busy agent would have
// (its state series and a transition counter; one in ten also a local-recovery counter), plus
// quickCheck series per kit; the scrape includes the default process metrics.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { buildConfig } from '../../src/common/config.js';
import { Agent } from '../../src/daemon/agent.js';
import { agentMetricsSources } from '../../src/daemon/wire-metrics.js';
import { Lcd } from '../../src/lcd/lcd.js';
import { ResourceInstance } from '../../src/lcd/schema.js';
import { createLinuxPlatform } from '../../src/platform/linux/index.js';
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

/** A real Agent whose LCD holds `count` local resource instances (written as one file, since
 *  creating them one durable write at a time is not what is measured here). */
function lcdAgentWith(count: number, dir: string): AgentMetrics {
  Lcd.open({ dir, localSystem: 'node1', files: createLinuxPlatform().durableFiles });
  const file = join(dir, 'lcd.json');
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { instances: Array<Record<string, unknown>> };
  const template = ResourceInstance.parse({ system: 'node1', tag: 'template', id: '/srv/template', app: 'gen', type: 'filesys', info: 'device=/dev/sdb1 fstype=ext4' });
  doc.instances = Array.from({ length: count }, (_, i) => ({ ...template, tag: `fs-${i}`, id: `/srv/fs-${i}`, state: STATES[i % STATES.length] }));
  writeFileSync(file, JSON.stringify(doc));
  const { config } = buildConfig({ VIGIL_NODE_NAME: 'node1', VIGIL_STATE_DIR: dir, VIGIL_METRICS_ADDRESS: 'off' });
  const agent = new Agent(config, pino({ level: 'silent' }), { platform: createLinuxPlatform() });
  if (agent.lcd.instances().length !== count) throw new Error('LCD fixture did not load');
  return new AgentMetrics({ sources: agentMetricsSources(agent), version: 'bench' });
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

  // The same through vigild's real sources: the LCD (instances are copied out on each read).
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-metrics-'));
  let lcdSamples: Timings;
  try {
    const lcdAgent = lcdAgentWith(1000, join(dir, 'state')); // in its own dir: vigild keeps a marker beside it
    lcdSamples = await timeIt(() => lcdAgent.scrape(), iterations);
  } finally {
    rmSync(dir, { recursive: true, force: true });
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
    lcdSources1000: { wall: summarise(lcdSamples.wall), cpu: summarise(lcdSamples.cpu) },
    // Wall-clock p99 includes waiting for a core when other processes are busy; the goal is
    // judged on the median wall time and on the CPU-time p99 of the scrape itself.
    goalMet: s1000.p50Ms < 20 && c1000.p99Ms < 20,
    wallP99GoalMet: s1000.p99Ms < 20,
  };
}
