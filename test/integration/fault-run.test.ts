// A randomized fault run against two real vigild processes in network namespaces plus a TCP
// witness in the hub (issue #15: "double in-service observed = 0"). Two gen/app hierarchies, one
// preferring each node. Seeded faults in random order with random timing, each on a random node:
//   crash   SIGKILL to vigild's process group and to its apps, restart after a random pause;
//   freeze  SIGSTOP to vigild's process group and its apps past the detection time, then SIGCONT;
//   cut     the node's link to the hub down (its peer and the witness at once), then up.
// A sampler reads both nodes' states over their admin sockets every 250 ms throughout; the run
// fails if any sample shows a hierarchy ISP on both nodes, or the journal of where the apps ran
// shows one started while it still ran elsewhere (unless the elder copy was frozen then: a stopped
// process serves nothing). Each fault is reported with its recovery time: from the fault until a
// node that is not itself under a fault has each hierarchy ISP.
//   VIGIL_FAULT_SEED  the seed (printed; set it to replay a run), VIGIL_FAULTS  number of faults (20).
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { LocalCluster } from '../../src/demo/local-cluster.js';
import { adminJson, createApp, logOf, makeCluster, Net, netnsSkipReason, overlapsAt, runningPerJournal, Sampler, WITNESS, type App } from './helpers/netns-cluster.js';
import { prng } from '../helpers/prng.js';

const skip = netnsSkipReason;
if (skip) console.warn(`[fault-run] skipped: ${skip}`);

const SEED = process.env.VIGIL_FAULT_SEED ? Number(process.env.VIGIL_FAULT_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
const FAULTS = Number(process.env.VIGIL_FAULTS ?? 20);
const NODES = ['node1', 'node2'] as const;
const TAGS = ['app', 'app2'];


type Kind = 'crash' | 'freeze' | 'cut';

interface Fault {
  n: number;
  kind: Kind;
  node: string;
  /** What each node had in service when it struck. */
  before: string;
  at: number;
  /** When the node was whole again (restarted, thawed, relinked). */
  end: number;
  durationMs: number;
  /** Per tag: ms from `at` until a node not under the fault had it ISP. */
  recovery: Record<string, number | undefined>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function signalGroup(c: LocalCluster, node: string, sig: NodeJS.Signals): void {
  const pid = c.pid(node);
  if (pid) {
    try {
      process.kill(-pid, sig);
    } catch {
      // The group is gone.
    }
  }
}

/** The pids of the apps running on `node` (the apps run in sessions of their own, outside vigild's group). */
function appPids(apps: App[], node: string): Array<{ app: App; pid: number }> {
  return apps.flatMap((app) => {
    const f = app.pidFile(node);
    if (!existsSync(f)) return [];
    const pid = Number(readFileSync(f, 'utf8').trim());
    return pid > 0 ? [{ app, pid }] : [];
  });
}


/** Whether both nodes answer, see each other, have each hierarchy ISP on exactly one of them, and an open quorum gate. */
async function steady(c: LocalCluster): Promise<boolean> {
  const lists = await Promise.all(NODES.map((n) => adminJson<Array<{ tag: string; state: string }>>(c, n, 'ins_list', 2_000)));
  if (lists.some((l) => !l)) return false;
  for (const t of TAGS) if (lists.filter((l) => l!.find((r) => r.tag === t)?.state === 'ISP').length !== 1) return false;
  const systems = await Promise.all(NODES.map((n) => adminJson<Array<{ name: string; state: string }>>(c, n, 'sys_list', 2_000)));
  if (systems.some((s) => !s || s.filter((x) => x.state === 'ALIVE').length !== NODES.length)) return false;
  // The gate of each node (opened and closed in its log): a takeover must not wait on it.
  return NODES.every((n) => /gate open/.test(logOf(c, n).match(/quorum: gate (open|closed)[^\n]*/g)?.at(-1) ?? ''));
}

/** The node's log without the admin commands (the sampler's ins_list several times a second). */
const eventsOf = (c: LocalCluster, n: string) => logOf(c, n).split('\n').filter((l) => l && !l.includes('"msg":"admin command"'));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};

describe.skipIf(skip !== '')(`fault run: crash, freeze and link cut of real vigild in network namespaces${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let net: Net | undefined;
  let cluster: LocalCluster | undefined;

  afterAll(async () => {
    if (cluster) {
      for (const n of NODES) signalGroup(cluster, n, 'SIGCONT');
      await cluster.destroy(process.env.VIGIL_KEEP_TEST_DIRS === '1');
    }
    net?.destroy();
  });

  it(`${FAULTS} random faults (seed ${SEED}): never a hierarchy in service on both nodes`, { timeout: 90_000 + FAULTS * 30_000 }, async () => {
    const rand = prng(SEED);
    const between = (lo: number, hi: number) => Math.round(lo + rand() * (hi - lo));
    const mode = rand() < 0.5 ? 'majority' : 'tcp_remote';
    console.log(`[fault-run] VIGIL_FAULT_SEED=${SEED} VIGIL_FAULTS=${FAULTS} QUORUM_MODE=${mode}`);
    const runStart = Date.now();
    net = new Net();
    for (const i of [1, 2]) net.addNode(i);
    net.startWitness();
    const c = (cluster = await makeCluster(net, [1, 2], { QUORUM_MODE: mode, QUORUM_HOSTS: WITNESS, QUORUM_TIMEOUT_SECS: '1', ...(process.env.VIGIL_FAULT_LOG_LEVEL ? { VIGIL_LOG_LEVEL: process.env.VIGIL_FAULT_LOG_LEVEL } : {}) }));
    const apps = [await createApp(c, join(c.dir, 'app'), 'node1', ['node2'], 'app'), await createApp(c, join(c.dir, 'app2'), 'node2', ['node1'], 'app2')];
    await c.waitFor(() => steady(c), 30_000, 'both nodes steady');
    const sampler = new Sampler(c, [...NODES], TAGS, { intervalMs: 250, timeoutMs: 1_000 });
    const faults: Fault[] = [];
    const faultStart = Date.now();
    let failure: unknown;
    try {
      for (let k = 1; k <= FAULTS; k++) {
        await sleep(between(200, 1_500));
        const kind = (['crash', 'freeze', 'cut'] as const)[Math.floor(rand() * 3)]!;
        const i = rand() < 0.5 ? 1 : 2;
        const node = `node${i}`;
        // Past the detection time (5 heartbeats of 0.3 s) always; past detection plus the survivor hold (about 5 s) often.
        const durationMs = kind === 'crash' ? between(0, 3_000) : between(1_800, 7_000);
        const states = NODES.map((n) => `${n}:${TAGS.map((t) => sampler.samples.at(-1)?.states[t]![n] ?? '?').join('/')}`);
        const at = Date.now();
        if (kind === 'crash') {
          // killNode ends the node's apps too (they carry its mark). A restore script caught
          // mid-way may still have written its pid file and journal line between a look before
          // the kill and the kill itself, so the app's pids and the journal are read after it.
          c.killNode(node);
          await c.waitExit(node);
          for (const { pid } of appPids(apps, node)) {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              // already ended with its node
            }
          }
          for (const app of apps) {
            // The remove script never ran: the journal learns from here that the app died with its node.
            if (runningPerJournal(app.journal).has(node)) appendFileSync(app.journal, `${Date.now()} stop ${node} (crash)\n`);
          }
          await sleep(durationMs);
          await c.startNode(node);
        } else if (kind === 'freeze') {
          const pids = appPids(apps, node).map((p) => p.pid);
          signalGroup(c, node, 'SIGSTOP');
          for (const p of pids) process.kill(p, 'SIGSTOP');
          await sleep(durationMs);
          signalGroup(c, node, 'SIGCONT');
          for (const p of pids) process.kill(p, 'SIGCONT');
        } else {
          net.isolate(i);
          await sleep(durationMs);
          net.heal(i);
        }
        const fault: Fault = { n: k, kind, node, before: states.join(' '), at, end: Date.now(), durationMs, recovery: {} };
        faults.push(fault);
        await c.waitFor(() => steady(c), 60_000, `the cluster to settle after fault ${k} (${kind} ${node})`);
        // The recovery is read from the samples: wait for one taken after the cluster settled.
        const settled = Date.now();
        await c.waitFor(() => (sampler.samples.at(-1)?.at ?? 0) > settled, 10_000, 'a sample after the cluster settled');
        for (const t of TAGS) {
          const s = sampler.samples.find((x) => x.at >= at && Object.entries(x.states[t]!).some(([n, st]) => st === 'ISP' && (n !== node || x.at > fault.end)));
          fault.recovery[t] = s ? s.at - at : undefined;
        }
        console.log(
          `[fault-run] #${k} ${kind} ${node} for ${durationMs} ms (before: ${fault.before}): recovered ${TAGS.map((t) => `${t} ${fault.recovery[t] ?? '?'} ms`).join(', ')}; doubles so far ${sampler.doubles().length}`,
        );
      }
    } catch (e) {
      failure = e;
    } finally {
      for (const n of NODES) signalGroup(c, n, 'SIGCONT');
      await sampler.stop();
    }
    const runMs = Date.now() - runStart;
    const recoveries = faults.map((f) => Math.max(...TAGS.map((t) => f.recovery[t] ?? Infinity)));
    const byKind = Object.fromEntries((['crash', 'freeze', 'cut'] as const).map((k) => [k, faults.filter((f) => f.kind === k).length]));
    // A start while the elder copy was frozen is no overlap of service: the frozen one served nothing.
    const frozen = (node: string, t: number) => faults.some((f) => f.kind === 'freeze' && f.node === node && f.at <= t && t <= f.end);
    const journalOverlaps = apps.flatMap((a, j) => overlapsAt(a.journal).filter((o) => !o.runningOn.every((n) => frozen(n, o.at))).map((o) => `${TAGS[j]}: ${o.line} while running on ${o.runningOn.join(', ')}`));
    const doubles = sampler.doubles();
    console.log(
      `[fault-run] seed ${SEED}: ${faults.length} faults (${Object.entries(byKind).map(([k, v]) => `${v} ${k}`).join(', ')}) in ${Math.round((Date.now() - faultStart) / 1000)} s ` +
        `(run ${Math.round(runMs / 1000)} s); recovery median ${median(recoveries)} ms, max ${Math.max(...recoveries)} ms; ` +
        `${sampler.samples.length} samples, double in-service observed ${doubles.length}, journal overlaps ${journalOverlaps.length}`,
    );
    for (const d of doubles.slice(0, 10)) console.log(`[fault-run] DOUBLE ${d.tag} at ${d.at}: ${JSON.stringify(d.states)} (faults: ${faults.filter((f) => f.at <= d.at).at(-1)?.n ?? '-'})`);
    if (failure || doubles.length || journalOverlaps.length) for (const n of NODES) console.log(`[fault-run] ${n} log tail:\n${eventsOf(c, n).slice(-80).join('\n')}`);
    if (failure) throw new Error(`${(failure as Error).message} (replay with VIGIL_FAULT_SEED=${SEED})`);
    expect(doubles.map((d) => `${d.tag} ISP on both at ${new Date(d.at).toISOString()}`), `replay with VIGIL_FAULT_SEED=${SEED}`).toEqual([]);
    expect(journalOverlaps, `replay with VIGIL_FAULT_SEED=${SEED}`).toEqual([]);
    expect(faults.length).toBe(FAULTS);
  });
});
