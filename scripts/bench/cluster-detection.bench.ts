// Detection time of a crashed node: two ClusterNode processes on loopback with two TCP paths;
// the peer is killed with SIGKILL and the time until the survivor declares it dead is measured,
// RUNS times (default 20) per heartbeat setting. The bound to compare with is
// LCMHBEATTIME x LCMNUMHBEATS (plus at most one membership tick).
// Standalone: `npx tsx scripts/bench/cluster-detection.bench.ts` (env RUNS, SETTINGS="200x3,100x3").
import { pathToFileURL } from 'node:url';
import { BenchCluster, freePort, loopbackMesh, summary, waitUntil } from './cluster-procs.js';

function settingsFromEnv(): Array<[number, number]> {
  return (process.env.SETTINGS ?? '200x3,500x3').split(',').map((s) => s.split('x').map(Number) as [number, number]);
}

async function measure(hbMs: number, misses: number, runs: number): Promise<Record<string, unknown>> {
  const cluster = new BenchCluster();
  const names = ['alpha', 'bravo'];
  const samples: number[] = [];
  try {
    const port = await freePort();
    const alpha = cluster.start('alpha', loopbackMesh(names, 'alpha', port, 60), hbMs, misses);
    for (let r = 0; r < runs; r++) {
      const bravo = cluster.start('bravo', loopbackMesh(names, 'bravo', port, 60), hbMs, misses);
      const alive = alpha.events('system-alive', { system: 'bravo' }).length;
      await waitUntil(() => alpha.events('system-alive', { system: 'bravo' }).length > alive, 60_000, 'bravo alive');
      // Let heartbeats settle into their rhythm before the crash.
      await new Promise((res) => setTimeout(res, hbMs * misses + 500));
      const dead = alpha.events('system-dead', { system: 'bravo' }).length;
      const killedAt = Date.now();
      await bravo.kill('SIGKILL');
      await waitUntil(() => alpha.events('system-dead', { system: 'bravo' }).length > dead, 60_000, 'bravo dead');
      samples.push((alpha.events('system-dead', { system: 'bravo' })[dead]!.t as number) - killedAt);
    }
  } finally {
    await cluster.close();
  }
  return { heartbeatIntervalMs: hbMs, missedHeartbeats: misses, limitMs: hbMs * misses, detection: summary(samples), samplesMs: samples };
}

export async function bench(): Promise<Record<string, unknown>> {
  const runs = Number(process.env.RUNS ?? 20);
  const results = [];
  for (const [hb, n] of settingsFromEnv()) results.push(await measure(hb, n, runs));
  return { runs, results };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  bench().then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`), (e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = 1;
  });
}
