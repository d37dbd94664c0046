// Failover at scale (issue: a 32-node cluster on this host, each node on its own loopback
// address, 1,000 resources spread over it; every hierarchy of a killed node in service elsewhere
// within detection + 1 s). Real vigild processes, node k on 127.90.0.(k+1), one TCP comm path
// between every pair, heartbeats 1 s x 3; resource i (gen/app, trivial programs) has its
// primary on node i mod N and its backup on one of the others (spread, so a dead node's
// hierarchies go to many systems). All are brought in service on their primaries, node 0 is
// killed with SIGKILL. The moments are read afterwards from each backup vigild's own log
// (failover-timeline.ts; one host, one clock): when that backup declared node 0 dead and when
// each of node 0's hierarchies was in service there, with the steps between (witness, engine,
// quorum gate, the kit's restore). The admin sockets are polled meanwhile (sys_list + ins_list)
// only to know when it is over and as a cross-check: a poll of 31 vigilds busy with the death on
// 2 cores takes up to a second, and it stamps what it sees with its start.
// Default size 8 nodes / 200 resources (within CI's budget); the full size with
// VIGIL_BENCH_SCALE_FULL=1 (32 / 1,000), or VIGIL_BENCH_SCALE_FAILOVER_NODES / _RESOURCES.
// Quorum: VIGIL_BENCH_SCALE_QUORUM_MODE (default majority, vigild's default). Under quorum a
// survivor holds every takeover for the survivor hold (src/cluster/quorum/gate.ts: the lost
// system may be the losing side of a partition, given QUORUM_LOSS_ACTION=osu's allowance to stop
// serving, plus two heartbeats); the result gives that hold and each hierarchy's time after it,
// which is the engine's own share. QUORUM_MODE=none shows the failover without the hold.
// Run: `npm run bench -- scale-failover` (VIGIL_BENCH_SCALE_KEEP_LOGS=DIR keeps the vigild logs).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateClusterSecret, writeKeyFile } from '../../src/cluster/cluster-key.js';
import { CommPath, Equivalency, LCD_SCHEMA_VERSION, ResourceInstance, System, type LcdDocument } from '../../src/lcd/schema.js';
import { freePort, percentile } from './cluster-procs.js';
import { failoverTimeline, type HierarchyMoments } from './failover-timeline.js';
import { inBatches, ScaleVigild, script } from './scale-vigild.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const full = process.env.VIGIL_BENCH_SCALE_FULL === '1';
const quorumMode = process.env.VIGIL_BENCH_SCALE_QUORUM_MODE ?? 'majority';
const HB_S = 1;
const QUORUM_TIMEOUT_S = 20;

interface Placement {
  tag: string;
  primary: number;
  backup: number;
}

function layout(nodes: number, resources: number): Placement[] {
  return Array.from({ length: resources }, (_, i) => {
    const primary = i % nodes;
    const backup = (primary + 1 + (Math.floor(i / nodes) % (nodes - 1))) % nodes;
    return { tag: `r${i}`, primary, backup };
  });
}

function documentFor(k: number, names: string[], addr: (k: number) => string, port: number, placements: Placement[], info: Record<string, string>): LcdDocument {
  const me = names[k]!;
  const mine = placements.filter((p) => p.primary === k || p.backup === k);
  return {
    version: LCD_SCHEMA_VERSION,
    generation: 1,
    localSystem: me,
    systems: names.map((name) => System.parse({ name })),
    commPaths: names
      .map((other, j) => ({ other, j }))
      .filter(({ j }) => j !== k)
      .map(({ other, j }) => CommPath.parse({ type: 'TCP', system: me, otherSystem: other, priority: 1, localAddress: addr(k), remoteAddress: addr(j), port })),
    instances: mine.map((p) => ResourceInstance.parse({ system: me, tag: p.tag, id: `/srv/${p.tag}`, app: 'gen', type: 'app', info: JSON.stringify(info) })),
    dependencies: [],
    equivalencies: mine.map((p) => {
      const primaryHere = p.primary === k;
      return Equivalency.parse({
        system: me,
        tag: p.tag,
        otherSystem: names[primaryHere ? p.backup : p.primary]!,
        otherTag: p.tag,
        priority: primaryHere ? 1 : 10,
        otherPriority: primaryHere ? 10 : 1,
      });
    }),
  };
}

export async function bench(): Promise<Record<string, unknown>> {
  const n = Number(process.env.VIGIL_BENCH_SCALE_FAILOVER_NODES ?? (full ? 32 : 8));
  const r = Number(process.env.VIGIL_BENCH_SCALE_FAILOVER_RESOURCES ?? (full ? 1000 : 200));
  const names = Array.from({ length: n }, (_, k) => `node${String(k).padStart(2, '0')}`);
  const addr = (k: number) => `127.90.0.${k + 1}`;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-bench-scale-failover-'));
  const ok = script(path.join(root, 'ok'), 'exit 0');
  const secret = generateClusterSecret();
  const port = await freePort();
  const placements = layout(n, r);
  const vigilds: ScaleVigild[] = [];
  const t0 = Date.now();
  try {
    for (let k = 0; k < n; k++) {
      const dir = path.join(root, names[k]!);
      fs.mkdirSync(dir, { mode: 0o700 });
      writeKeyFile(path.join(dir, 'cluster.key'), secret);
      vigilds.push(
        new ScaleVigild({
          dir,
          name: names[k],
          resources: 0,
          info: () => ({}),
          document: documentFor(k, names, addr, port, placements, { restore: ok, remove: ok }),
          config: { LCMHBEATTIME: HB_S, LCMNUMHBEATS: 3, LKCHECKINTERVAL: 120, VIGIL_LOG_LEVEL: 'info', QUORUM_MODE: quorumMode, QUORUM_TIMEOUT_SECS: QUORUM_TIMEOUT_S, QUORUM_LOSS_ACTION: 'osu' },
        }),
      );
    }
    await Promise.all(vigilds.map((v) => v.ready(120_000)));
    // Formed: every node sees every other alive.
    const allAlive = async (v: ScaleVigild) =>
      ((await v.call('sys_list', {}, [])).data as Array<{ name: string; state: string }> | undefined)?.every((s) => s.name === v.opts.name || s.state === 'ALIVE') ?? false;
    for (const v of vigilds) {
      const until = Date.now() + 120_000;
      while (!(await allAlive(v))) {
        if (Date.now() > until) throw new Error(`${v.opts.name} does not see every node alive: ${JSON.stringify((await v.call('sys_list', {}, [])).data)}\n${fs.readFileSync(v.logFile, 'utf8').slice(-2000)}`);
        await sleep(200);
      }
    }
    const formedS = (Date.now() - t0) / 1000;
    const t1 = Date.now();
    // A node starved of CPU on a loaded host may lose quorum for a moment (its peers' heartbeats
    // late): such an in-service is tried again, and counted.
    let retries = 0;
    await inBatches(placements, 8, async (p) => {
      for (let attempt = 0; ; attempt++) {
        const res = await vigilds[p.primary]!.call('in-service', { t: p.tag, wait: true });
        if (res.exitCode === 0) return;
        if (attempt >= 10 || !/no quorum/.test(res.stderr)) throw new Error(`in-service ${p.tag} on ${names[p.primary]}: ${res.stderr}`);
        retries++;
        await sleep(1000);
      }
    });
    const inServiceAllS = (Date.now() - t1) / 1000;
    // The survivor hold as vigild computes it (lcdstatus --json; no quorum section: no hold).
    const status = (await vigilds[1]!.call('lcdstatus', {}, [])).data as { quorum?: { survivorHoldMs: number } } | undefined;
    const survivorHoldMs = status?.quorum?.survivorHoldMs ?? 0;
    await sleep(3000);
    // Kill node 0; follow its hierarchies on their backups.
    const victim = vigilds[0]!;
    const moving = placements.filter((p) => p.primary === 0);
    const backups = [...new Set(moving.map((p) => p.backup))];
    const detectedAt = new Map<number, number>();
    const ispAt = new Map<string, number>();
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    const until = killedAt + 60_000 + survivorHoldMs;
    while ((detectedAt.size < backups.length || ispAt.size < moving.length) && Date.now() < until) {
      await Promise.all(
        backups.map(async (b) => {
          const v = vigilds[b]!;
          const now = Date.now();
          if (!detectedAt.has(b)) {
            const sys = (await v.call('sys_list', {}, [])).data as Array<{ name: string; state: string }>;
            if (sys.find((s) => s.name === names[0])?.state === 'DEAD') detectedAt.set(b, now);
          }
          const rows = (await v.call('ins_list', {}, [])).data as Array<{ tag: string; state: string }>;
          for (const row of rows) {
            if (row.state === 'ISP' || row.state === 'ISU') {
              const p = moving.find((m) => m.tag === row.tag && m.backup === b);
              if (p && !ispAt.has(p.tag)) ispAt.set(p.tag, now);
            }
          }
        }),
      );
      await sleep(50);
    }
    const loadavg1mAtEnd = os.loadavg()[0];
    // Polled (cross-check): in service on its backup how long after that backup was seen to see node 0 dead.
    const polledAfterDetection = moving.filter((p) => ispAt.has(p.tag) && detectedAt.has(p.backup)).map((p) => ispAt.get(p.tag)! - detectedAt.get(p.backup)!).sort((a, b) => a - b);
    const polledDetections = [...detectedAt.values()].map((t) => t - killedAt).sort((a, b) => a - b);
    // From the logs: each backup's own moments.
    const timelines = new Map(backups.map((b) => [b, failoverTimeline(vigilds[b]!.logFile, names[0]!, moving.filter((p) => p.backup === b).map((p) => p.tag), killedAt)]));
    const rows = moving.map((p) => ({ p, tl: timelines.get(p.backup)!, h: timelines.get(p.backup)!.hierarchies.get(p.tag)! }));
    const stat = (values: Array<number | undefined>) => {
      const s = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
      return s.length ? { n: s.length, min: s[0]!, p50: percentile(s, 50), max: s.at(-1)! } : { n: 0 };
    };
    const between = (from: (x: (typeof rows)[number]) => number | undefined, to: (x: (typeof rows)[number]) => number | undefined) =>
      stat(rows.map((x) => (from(x) !== undefined && to(x) !== undefined ? to(x)! - from(x)! : undefined)));
    const moment = (k: keyof HierarchyMoments) => (x: (typeof rows)[number]) => x.h[k];
    const detected = (x: (typeof rows)[number]) => x.tl.detected;
    const afterDetection = between(detected, moment('inService'));
    return {
      nodes: n,
      resources: r,
      heartbeat: `${HB_S} s x 3`,
      loadavg1mAtEnd,
      formedS,
      inServiceAllS,
      inServiceRetriedForQuorum: retries,
      hierarchiesOfKilledNode: moving.length,
      backupsInvolved: backups.length,
      inServiceElsewhere: rows.filter((x) => x.h.inService !== undefined).length,
      quorumMode,
      survivorHoldMs,
      // From each backup's log. The goal: max at most 1000 beyond the survivor hold.
      detectionMs: stat(backups.map((b) => timelines.get(b)!.detected).map((t) => (t === undefined ? undefined : t - killedAt))),
      // remote_verify waits for the last backup to declare the death: this spread bounds its step.
      detectionSpreadMs: (() => {
        const d = backups.map((b) => timelines.get(b)!.detected).filter((t): t is number => t !== undefined);
        return d.length ? Math.max(...d) - Math.min(...d) : null;
      })(),
      inServiceAfterDetectionMs: afterDetection,
      inServiceAfterHoldMs: afterDetection.n ? { p50: afterDetection.p50! - survivorHoldMs, max: afterDetection.max! - survivorHoldMs } : null,
      // Where the time after detection goes, per hierarchy (ms).
      stepsMs: {
        witness: between(detected, (x) => x.tl.witnessConfirmed),
        witnessToEngine: between((x) => x.tl.witnessConfirmed, moment('engineHeard')),
        engineToRestoring: between(moment('engineHeard'), moment('restoring')),
        restoringToAction: between(moment('restoring'), moment('actionBegins')),
        action: between(moment('actionBegins'), moment('actionEnds')),
        actionToInService: between(moment('actionEnds'), moment('inService')),
      },
      witnessVetoesLogged: backups.reduce((n, b) => n + timelines.get(b)!.witnessVetoes, 0),
      allInServiceAfterKillMs: stat(rows.map((x) => (x.h.inService === undefined ? undefined : x.h.inService - killedAt))).max ?? null,
      // The admin-socket poll, for comparison: each state stamped with the start of the poll round that saw it.
      polled: {
        inServiceElsewhere: ispAt.size,
        detectionMs: { min: polledDetections[0], max: polledDetections.at(-1) },
        inServiceAfterDetectionMs: { p50: percentile(polledAfterDetection, 50), max: polledAfterDetection.at(-1) },
      },
      benchS: (Date.now() - t0) / 1000,
    };
  } finally {
    await Promise.all(vigilds.map((v) => v.stop().catch(() => undefined)));
    // VIGIL_BENCH_SCALE_KEEP_LOGS=DIR keeps every vigild's log (DIR/nodeNN.log) for a closer look.
    const keep = process.env.VIGIL_BENCH_SCALE_KEEP_LOGS;
    if (keep) {
      fs.mkdirSync(keep, { recursive: true });
      for (const v of vigilds) if (fs.existsSync(v.logFile)) fs.copyFileSync(v.logFile, path.join(keep, `${v.opts.name}.log`));
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  bench().then((res) => process.stdout.write(`${JSON.stringify(res, null, 2)}\n`), (e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = 1;
  });
}
