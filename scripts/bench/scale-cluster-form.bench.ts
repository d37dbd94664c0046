// A cluster forming without false alarms (issue: a path that has never connected is UNKNOWN,
// not dead; a 32-node cluster forms with zero false "system dead" warnings). N ClusterNode
// processes on loopback (two TCP paths per pair, each node on its own 127.x.0.k addresses),
// heartbeats 1 s x 3, started one after another STAGGER_MS apart, so the last starts long after
// the first would have declared it dead by silence; measured: time until every node sees every
// other ALIVE, and the system-dead and warning events seen meanwhile (the goal: none), then the
// detection of one killed node. Run: `npm run bench -- scale-cluster-form`;
// VIGIL_BENCH_SCALE_NODES (default 8; 32 for the full size), VIGIL_BENCH_SCALE_STAGGER_MS
// (default 250), VIGIL_BENCH_SCALE_GRACE_MS (the nodes' never-connected grace, default 60000).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BenchCluster, BenchNode, freePort, loopbackMesh, waitUntil } from './cluster-procs.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function bench(): Promise<Record<string, unknown>> {
  const n = Number(process.env.VIGIL_BENCH_SCALE_NODES ?? 8);
  const stagger = Number(process.env.VIGIL_BENCH_SCALE_STAGGER_MS ?? 250);
  const graceMs = Number(process.env.VIGIL_BENCH_SCALE_GRACE_MS ?? 60_000);
  const hbMs = 1000;
  const misses = 3;
  const names = Array.from({ length: n }, (_, k) => `n${String(k).padStart(2, '0')}`);
  const cluster = new BenchCluster();
  try {
    const port = await freePort();
    const t0 = Date.now();
    for (const name of names) {
      const file = join(cluster.dir, `${name}.json`);
      writeFileSync(file, JSON.stringify({ localSystem: name, keyFile: cluster.keyFile, heartbeatIntervalMs: hbMs, missedHeartbeats: misses, neverConnectedGraceMs: graceMs, paths: loopbackMesh(names, name, port, 70) }));
      cluster.nodes.push(new BenchNode(name, file));
      await sleep(stagger);
    }
    const allAlive = () => cluster.nodes.every((node) => names.every((other) => other === node.name || node.events('system-alive', { system: other }).length > 0));
    await waitUntil(allAlive, 120_000 + n * 2000, 'every node sees every other alive');
    const formedS = (Date.now() - t0) / 1000;
    // A few heartbeat intervals more: anything false would show now.
    await sleep(hbMs * misses * 2);
    const falseDead = cluster.nodes.reduce((a, node) => a + node.events('system-dead').length, 0);
    const warnings = cluster.nodes.reduce((a, node) => a + node.events('warning').length, 0);
    const warningSamples = cluster.nodes.flatMap((node) => node.events('warning').map((w) => `${node.name}: ${String(w.message)}`)).slice(0, 5);
    // One real death, to show detection still works at this size.
    const victim = cluster.nodes.at(-1)!;
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    const observers = cluster.nodes.slice(0, -1);
    const deathAfterKill = (o: BenchNode) => o.events('system-dead', { system: victim.name }).find((e) => e.t >= killedAt);
    await waitUntil(() => observers.every((o) => deathAfterKill(o) !== undefined), 60_000, 'victim dead everywhere');
    const detections = observers.map((o) => deathAfterKill(o)!.t - killedAt).sort((a, b) => a - b);
    return {
      nodes: n,
      staggerMs: stagger,
      neverConnectedGraceMs: graceMs,
      heartbeat: `${hbMs} ms x ${misses}`,
      formedS,
      // The goal: both 0.
      systemDeadEventsWhileForming: falseDead,
      warningsWhileForming: warnings,
      warningSamples,
      killedNodeDetectionMs: { min: detections[0], max: detections.at(-1) },
    };
  } finally {
    await cluster.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  bench().then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`), (e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = 1;
  });
}
