// Heartbeat soak: which heartbeat settings stay free of false positives while every core is
// busy? For each setting (default 100x3, 200x3, 500x3, 1000x3 = LCMHBEATTIME ms x LCMNUMHBEATS)
// it runs a three-node ClusterNode cluster on loopback (two TCP paths per pair, plus a TTY path
// over a socat pty pair between two nodes when socat exists, and with DISK=1 a DISK path between
// every pair through one shared loop device per setting — O_DIRECT block I/O, as the DISK path
// uses where SG_IO does not apply; needs root and losetup), all settings at the same time, next
// to BUSY (default: one per core) busy-looping processes. Any path-down or system-dead during the
// soak is a false positive; the result names the lowest clean setting for TCP, TTY and DISK.
// The nodes stay scheduled as vigild does (memory locked, SCHED_RR at REALTIME_PRIORITY, default
// 10 like VIGIL_REALTIME_PRIORITY; 0 turns it off to compare). NICE=-10 runs the cluster nodes at
// that niceness. Duration: DURATION_S, else 60 s (the CI size), or 600 s with SOAK=long.
// Prints one JSON object.
//   npx tsx scripts/bench/heartbeat-soak.ts            (or SOAK=long, DURATION_S=150 SETTINGS=100x3,200x3 REALTIME_PRIORITY=0 DISK=1 ...)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PathConfig } from '../../src/cluster/comm-path.js';
import { BenchCluster, freePort, loopbackMesh, waitUntil, type BenchNode } from './cluster-procs.js';

const NAMES = ['alpha', 'bravo', 'charlie'];

interface SoakCluster {
  hbMs: number;
  misses: number;
  bench: BenchCluster;
  nodes: BenchNode[];
  socat?: ChildProcess;
  /** The loop device the DISK paths share (detached at the end). */
  loop?: string;
  startIdx: number[];
  rttMax: number;
  ageMax: number;
}

/** A loop device over a fresh 4 MiB file in `dir` (room for the DISK heartbeat area). */
function attachLoop(dir: string): string {
  const img = join(dir, 'lun.img');
  writeFileSync(img, Buffer.alloc(4 * 1024 * 1024));
  const r = spawnSync('losetup', ['-f', '--show', img], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`losetup failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

async function startCluster(hbMs: number, misses: number, base: number, tty: boolean, disk: boolean, niceness: number, realtimePriority: number): Promise<SoakCluster> {
  const bench = new BenchCluster(niceness, realtimePriority);
  const port = await freePort();
  let socat: ChildProcess | undefined;
  const extra = new Map<string, PathConfig[]>(NAMES.map((n) => [n, []]));
  const loop = disk ? attachLoop(bench.dir) : undefined;
  if (loop) {
    for (const n of NAMES) for (const other of NAMES) if (other !== n) extra.get(n)!.push({ type: 'DISK', otherSystem: other, priority: 20, device: loop });
  }
  if (tty) {
    const a = join(bench.dir, 'ttyA');
    const b = join(bench.dir, 'ttyB');
    // socat stands in for the serial cable (kernel work on real hardware), so it runs at the
    // nodes' niceness; otherwise the busy loops starve the "cable" rather than the agent.
    const socatArgv = ['socat', '-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`];
    socat = niceness === 0 ? spawn(socatArgv[0]!, socatArgv.slice(1), { stdio: 'ignore' }) : spawn('nice', ['-n', String(niceness), ...socatArgv], { stdio: 'ignore' });
    await waitUntil(() => existsSync(a) && existsSync(b), 30_000, 'socat links');
    extra.get('alpha')!.push({ type: 'TTY', otherSystem: 'bravo', priority: 10, device: a, baud: 115200 });
    extra.get('bravo')!.push({ type: 'TTY', otherSystem: 'alpha', priority: 10, device: b, baud: 115200 });
  }
  const nodes = NAMES.map((n) => bench.start(n, [...loopbackMesh(NAMES, n, port, base), ...(extra.get(n) ?? [])], hbMs, misses));
  const c: SoakCluster = { hbMs, misses, bench, nodes, startIdx: [], rttMax: 0, ageMax: 0 };
  if (socat) c.socat = socat;
  if (loop) c.loop = loop;
  const expectedPaths = (n: string) => 4 + (tty && (n === 'alpha' || n === 'bravo') ? 1 : 0) + (disk ? 2 : 0);
  await waitUntil(() => nodes.every((nd) => nd.events('path-up').length >= expectedPaths(nd.name)), 120_000, `cluster ${hbMs}x${misses} up`);
  return c;
}

export async function soak(durationS: number, settings: Array<[number, number]>, busy: number, niceness: number, realtimePriority = 0, disk = false): Promise<Record<string, unknown>> {
  const tty = spawnSync('socat', ['-V']).status === 0;
  if (disk && (process.getuid?.() !== 0 || spawnSync('losetup', ['--version']).status !== 0)) throw new Error('DISK=1 needs root and losetup (a loop device per setting)');
  const clusters: SoakCluster[] = [];
  const busyProcs: ChildProcess[] = [];
  try {
    let base = 80;
    for (const [hb, n] of settings) {
      clusters.push(await startCluster(hb, n, base, tty, disk, niceness, realtimePriority));
      base += 2;
    }
    for (let i = 0; i < busy; i++) busyProcs.push(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
    for (const c of clusters) c.startIdx = c.nodes.map((nd) => nd.lines.length);
    const started = Date.now();
    const load: number[] = [];
    while (Date.now() - started < durationS * 1000) {
      await new Promise((r) => setTimeout(r, Math.min(5000, durationS * 1000)));
      load.push(loadavg()[0]!);
      for (const c of clusters) {
        for (const nd of c.nodes) {
          const s = (await nd.stats()).stats as { paths: Array<{ rttMs: number | null; lastHeartbeatAgeMs: number | null }> };
          for (const p of s.paths) {
            c.rttMax = Math.max(c.rttMax, p.rttMs ?? 0);
            c.ageMax = Math.max(c.ageMax, p.lastHeartbeatAgeMs ?? 0);
          }
        }
      }
    }
    const results: Array<{ heartbeatIntervalMs: number; missedHeartbeats: number; limitMs: number; falsePathDownsByType: Record<string, number>; falseSystemDeaths: number; falsePositiveFree: boolean; [k: string]: unknown }> = [];
    for (const c of clusters) {
      let pathDowns = 0;
      let systemDeaths = 0;
      const byType: Record<string, number> = { TCP: 0, TTY: 0, DISK: 0 };
      const eld: number[] = [];
      for (const [i, nd] of c.nodes.entries()) {
        const during = nd.lines.slice(c.startIdx[i]);
        const downs = during.filter((l) => l.ev === 'membership' && l.type === 'path-down');
        pathDowns += downs.length;
        for (const d of downs) byType[/\/(TTY|DISK)\//.exec(String(d.pathId))?.[1] ?? 'TCP']!++;
        systemDeaths += during.filter((l) => l.ev === 'membership' && l.type === 'system-dead').length;
        eld.push(((await nd.stats()).eventLoopDelayMs as { max: number }).max);
      }
      results.push({
        heartbeatIntervalMs: c.hbMs,
        missedHeartbeats: c.misses,
        limitMs: c.hbMs * c.misses,
        falsePathDowns: pathDowns,
        falsePathDownsByType: byType,
        falseSystemDeaths: systemDeaths,
        falsePositiveFree: pathDowns === 0 && systemDeaths === 0,
        sampledMaxRttMs: Math.round(c.rttMax * 10) / 10,
        sampledMaxHeartbeatAgeMs: c.ageMax,
        eventLoopDelayMaxMsPerNode: eld.map((x) => Math.round(x)),
      });
    }
    const free = results.filter((r) => r.falsePositiveFree).sort((a, b) => a.limitMs - b.limitMs);
    const lowestClean = (type: 'TCP' | 'TTY' | 'DISK'): string | null => {
      const ok = results.filter((r) => r.falsePathDownsByType[type] === 0 && r.falseSystemDeaths === 0).sort((a, b) => a.limitMs - b.limitMs)[0];
      return ok ? `${ok.heartbeatIntervalMs}ms x ${ok.missedHeartbeats}` : null;
    };
    const scheduled = clusters[0]?.nodes[0]?.lines.find((l) => l.ev === 'started')?.scheduled ?? null;
    return {
      durationS,
      busyLoops: busy,
      nodeNiceness: niceness,
      realtimePriority,
      nodeScheduling: scheduled,
      cpus: cpus().length,
      ttyPaths: tty,
      diskPaths: disk ? 'O_DIRECT on a loop device (one per setting, shared by the three nodes)' : false,
      loadavg1mSamples: { min: Math.min(...load), max: Math.max(...load) },
      results,
      lowestFalsePositiveFree: free[0] ? `${free[0].heartbeatIntervalMs}ms x ${free[0].missedHeartbeats}` : null,
      lowestCleanTcp: lowestClean('TCP'),
      lowestCleanTty: tty ? lowestClean('TTY') : null,
      lowestCleanDisk: disk ? lowestClean('DISK') : null,
    };
  } finally {
    for (const p of busyProcs) p.kill('SIGKILL');
    for (const c of clusters) {
      c.socat?.kill('SIGKILL');
      await c.bench.close();
      if (c.loop) spawnSync('losetup', ['-d', c.loop]);
    }
  }
}

export async function bench(): Promise<Record<string, unknown>> {
  const durationS = Number(process.env.DURATION_S ?? (process.env.SOAK === 'long' ? 600 : 60));
  const settings = (process.env.SETTINGS ?? '100x3,200x3,500x3,1000x3').split(',').map((s) => s.split('x').map(Number) as [number, number]);
  return soak(durationS, settings, Number(process.env.BUSY ?? cpus().length), Number(process.env.NICE ?? 0), Number(process.env.REALTIME_PRIORITY ?? 10), process.env.DISK === '1');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  bench().then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`), (e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = 1;
  });
}
