// A randomized fault run against two real vigild processes in network namespaces plus a TCP
// witness in the hub (issue #15: "double in-service observed = 0"). Two gen/app hierarchies, one
// preferring each node. Besides a TCP comm path each way, the nodes share a "LUN" (one disk image
// seen by each node through its own fusehang mount and loop device, helpers/shared-lun.ts) that
// carries a DISK comm path, so a node's network and its storage link fail apart. Seeded faults in
// random order with random timing, each on a random node:
//   crash      SIGKILL to vigild's process group and to its apps, restart after a random pause;
//   freeze     SIGSTOP to vigild's process group and its apps past the detection time, then SIGCONT;
//   cut        the node's link to the hub down (its peer and the witness at once), then up: network
//              only. The DISK path still joins the nodes, so neither declares the other dead and no
//              hierarchy moves to the peer (majority). With tcp_remote the cut node loses quorum,
//              since it cannot reach the witness, takes its hierarchies out and says "yielding" on
//              the DISK path; the peer then counts it gone and may take them over after its hold
//              (only the double in-service check applies to where they go);
//   partition  cut and the node's storage link at once: every path between the nodes is dead and
//              the witness decides, exactly one side in service (what `cut` was before the DISK path);
//   storage    the node's storage link alone (every call of its fusehang mount hangs, so its loop
//              device's I/O hangs in the kernel), then released: the DISK path to and from it goes
//              DEAD and comes back ALIVE, nothing else happens (no hierarchy moves, and its vigild
//              keeps answering its admin socket while its I/O hangs).
// A sampler reads both nodes' states over their admin sockets every 250 ms throughout, and during
// a cut, partition or storage fault both nodes' comm paths too; the run fails if any sample shows a
// hierarchy ISP on both nodes, or the journal of where the apps ran shows one started while it
// still ran elsewhere (unless the elder copy was frozen then: a stopped process serves nothing), or
// a cut or storage fault moved a hierarchy, or a storage fault did not take the DISK path down, or
// the cut node's admin socket never answered while its DISK path was DEAD, or a hierarchy stays in
// service nowhere for 15 s after a fault while both nodes are up and see each other over every
// path (stranded: the run then puts it back with vigil in-service to go on). Each fault is reported
// with its recovery time: from the fault until each hierarchy is ISP on a node that is not itself
// under the fault (crash, freeze, partition); for cut and storage, which need not stop the node's
// service, on any node (0 ms: never out of service).
//   VIGIL_FAULT_SEED  the seed (printed; set it to replay a run), VIGIL_FAULTS  number of faults (20).
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { LocalCluster } from '../../src/demo/local-cluster.js';
import { adminJson, createApp, logOf, makeCluster, Net, netnsSkipReason, overlapsAt, runningPerJournal, Sampler, WITNESS, type App, type Sample } from './helpers/netns-cluster.js';
import { SharedLun, sharedLunSkipReason } from './helpers/shared-lun.js';
import { prng } from '../helpers/prng.js';

const skip = netnsSkipReason || sharedLunSkipReason();
if (skip) console.warn(`[fault-run] skipped: ${skip}`);

const SEED = process.env.VIGIL_FAULT_SEED ? Number(process.env.VIGIL_FAULT_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
const FAULTS = Number(process.env.VIGIL_FAULTS ?? 20);
const NODES = ['node1', 'node2'] as const;
const TAGS = ['app', 'app2'];


const KINDS = ['crash', 'freeze', 'cut', 'partition', 'storage'] as const;
type Kind = (typeof KINDS)[number];
/** Faults after which the hierarchies should stay where they were (on the peer, anyway: see the header). */
const STAYING: readonly Kind[] = ['cut', 'storage'];

interface PathSample {
  at: number;
  /** node -> "TCP"/"DISK" -> state of its path to the other node (undefined: the node did not answer). */
  paths: Record<string, Record<string, string> | undefined>;
}

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
  /** Per tag: ms from `at` until a node not under the fault had it ISP (any node, for cut and storage). */
  recovery: Record<string, number | undefined>;
  /** Where each hierarchy was ISP when it struck. */
  owners: Record<string, string | undefined>;
  /** Comm path samples from the fault until the cluster settled (cut, partition, storage). */
  paths: PathSample[];
  /** The checks of this fault's kind that failed. */
  problems: string[];
  /** What the checks of its kind measured, for the report. */
  notes: string[];
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


type PathRow = { system: string; otherSystem: string; type: string; state: string };

/** node's own comm paths by type ("TCP", "DISK") with their states, or undefined when it does not answer. */
async function pathStates(c: LocalCluster, node: string, timeoutMs: number): Promise<Record<string, string> | undefined> {
  const rows = await adminJson<PathRow[]>(c, node, 'net_list', timeoutMs);
  return rows && Object.fromEntries(rows.filter((r) => r.system === node).map((r) => [r.type, r.state]));
}

/** Whether both nodes answer, see each other over every comm path, have each hierarchy ISP on exactly one of them, and an open quorum gate. */
async function steady(c: LocalCluster): Promise<boolean> {
  const lists = await Promise.all(NODES.map((n) => adminJson<Array<{ tag: string; state: string }>>(c, n, 'ins_list', 2_000)));
  if (lists.some((l) => !l)) return false;
  for (const t of TAGS) if (lists.filter((l) => l!.find((r) => r.tag === t)?.state === 'ISP').length !== 1) return false;
  const systems = await Promise.all(NODES.map((n) => adminJson<Array<{ name: string; state: string }>>(c, n, 'sys_list', 2_000)));
  if (systems.some((s) => !s || s.filter((x) => x.state === 'ALIVE').length !== NODES.length)) return false;
  // Each fault starts from every path up: a DISK path still DEAD from the last one would turn a cut into a partition.
  const paths = await Promise.all(NODES.map((n) => pathStates(c, n, 2_000)));
  if (paths.some((p) => !p || p.TCP !== 'ALIVE' || p.DISK !== 'ALIVE')) return false;
  // The gate of each node (opened and closed in its log): a takeover must not wait on it.
  return NODES.every((n) => /gate open/.test(logOf(c, n).match(/quorum: gate (open|closed)[^\n]*/g)?.at(-1) ?? ''));
}

/** The node's log without the admin commands (the sampler's ins_list several times a second). */
const eventsOf = (c: LocalCluster, n: string) => logOf(c, n).split('\n').filter((l) => l && !l.includes('"msg":"admin command"'));

/** Where `tag` is ISP in a sample (undefined: nowhere, or only on nodes that did not answer). */
const ownerIn = (s: Sample | undefined, tag: string) => (s ? NODES.find((n) => s.states[tag]![n] === 'ISP') : undefined);

/** Samples both nodes' comm paths every intervalMs until stop() (during a cut, partition or storage fault). */
function watchPaths(c: LocalCluster, into: PathSample[], intervalMs = 250): { stop: () => Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const rows = await Promise.all(NODES.map((n) => pathStates(c, n, 1_000)));
      into.push({ at: Date.now(), paths: Object.fromEntries(NODES.map((n, i) => [n, rows[i]])) });
      const wait = started + intervalMs - Date.now();
      if (wait > 0) await sleep(wait);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};

/** How long a hierarchy may stay in service nowhere, with both nodes answering and every path up, before it counts as stranded. */
const STRANDED_MS = 15_000;

/**
 * Waits up to 60 s for steady(). A hierarchy that stays in service nowhere for STRANDED_MS while
 * both nodes answer and see each other over every path is stranded: no node will bring it back
 * by itself. That fails the fault, and the hierarchy is put back in service on its preferred node
 * (vigil in-service) so that the run goes on and reports the rest.
 */
async function settle(c: LocalCluster, f: Fault): Promise<void> {
  const nowhereSince: Record<string, number | undefined> = {};
  await c.waitFor(async () => {
    if (await steady(c)) return true;
    const lists = await Promise.all(NODES.map((n) => adminJson<Array<{ tag: string; state: string }>>(c, n, 'ins_list', 2_000)));
    const paths = await Promise.all(NODES.map((n) => pathStates(c, n, 2_000)));
    const connected = lists.every(Boolean) && paths.every((p) => p && p.TCP === 'ALIVE' && p.DISK === 'ALIVE');
    for (const [j, t] of TAGS.entries()) {
      const nowhere = connected && lists.every((l) => !['ISP', 'ISU'].includes(l!.find((r) => r.tag === t)?.state ?? ''));
      if (!nowhere) {
        nowhereSince[t] = undefined;
        continue;
      }
      nowhereSince[t] ??= Date.now();
      if (Date.now() - nowhereSince[t]! < STRANDED_MS) continue;
      const states = NODES.map((n, i) => `${n} ${lists[i]!.find((r) => r.tag === t)?.state}`).join(', ');
      const preferred = NODES[j]!;
      let on = preferred;
      let r = await c.vigil(on, ['in-service', '-t', t]);
      if (r.code !== 0) r = await c.vigil((on = NODES.find((n) => n !== preferred)!), ['in-service', '-t', t]);
      f.problems.push(`${t} stranded: in service nowhere (${states}) for ${STRANDED_MS / 1000} s with both nodes up and every path ALIVE; vigil in-service on ${on}: exit ${r.code} ${r.stderr.trim()}`);
      console.log(`[fault-run] #${f.n} ${f.kind} ${f.node}: ${f.problems.at(-1)}`);
      nowhereSince[t] = undefined;
    }
    return false;
  }, 60_000, `the cluster to settle after fault ${f.n} (${f.kind} ${f.node})`);
}

/** The checks of a cut or storage fault on the samples taken from the fault until the cluster settled. */
function checkStaying(f: Fault, samples: Sample[], settledAt: number, mode: string): void {
  const peer = NODES.find((n) => n !== f.node)!;
  const during = (x: { at: number }) => x.at >= f.at && x.at <= f.end;
  // With tcp_remote a cut node loses quorum, gives its hierarchies up and yields on the DISK path,
  // so the peer may take them over: where they go is the engine's choice (the double in-service
  // and stranding checks still apply).
  const yields = f.kind === 'cut' && mode === 'tcp_remote';
  const watched = yields ? [] : samples.filter((x) => x.at >= f.at && x.at <= settledAt);
  for (const t of TAGS) {
    const moved = watched.find((x) => ownerIn(x, t) !== undefined && ownerIn(x, t) !== f.owners[t]);
    if (moved) f.problems.push(`${t} moved from ${f.owners[t] ?? 'nowhere'} to ${ownerIn(moved, t)} ${moved.at - f.at} ms after the ${f.kind} of ${f.node}`);
  }
  const seen = (n: string, type: string, state: string) => f.paths.find((p) => p.at >= f.at && p.paths[n]?.[type] === state);
  if (f.kind === 'storage') {
    const peerDead = seen(peer, 'DISK', 'DEAD');
    const ownDead = seen(f.node, 'DISK', 'DEAD');
    if (!peerDead) f.problems.push(`${peer} never saw the DISK path to ${f.node} DEAD during its storage cut`);
    if (!ownDead) f.problems.push(`${f.node} never saw its DISK path DEAD during its storage cut`);
    const tcpDown = f.paths.find((p) => NODES.some((n) => p.paths[n] && p.paths[n]!.TCP !== 'ALIVE'));
    if (tcpDown) f.problems.push(`a TCP path left ALIVE during the storage cut of ${f.node}: ${JSON.stringify(tcpDown.paths)}`);
    // Its vigild must keep its event loop while its DISK I/O hangs in the kernel.
    const deadAt = Math.min(peerDead?.at ?? Infinity, ownDead?.at ?? Infinity);
    const answers = [...samples.filter((x) => during(x) && TAGS.some((t) => x.states[t]![f.node] !== undefined)), ...f.paths.filter((p) => during(p) && p.paths[f.node])];
    const inCut = samples.filter(during).length + f.paths.filter(during).length;
    if (!answers.some((x) => x.at > deadAt)) f.problems.push(`${f.node}'s admin socket never answered while its DISK path was DEAD`);
    const alive = f.paths.find((p) => p.at > f.end && NODES.every((n) => p.paths[n]?.DISK === 'ALIVE'));
    f.notes.push(
      `DISK DEAD on ${peer} after ${peerDead ? peerDead.at - f.at : '?'} ms, on ${f.node} after ${ownDead ? ownDead.at - f.at : '?'} ms; ` +
        `ALIVE again ${alive ? alive.at - f.end : '?'} ms after the release; ${f.node} answered ${answers.length}/${inCut} admin requests during the cut`,
    );
  } else if (yields) {
    const tcpDead = seen(peer, 'TCP', 'DEAD');
    const diskDead = seen(peer, 'DISK', 'DEAD');
    // The cut node itself keeps hearing its peer over the disk: only its own records yield.
    const ownDown = f.paths.find((p) => during(p) && p.paths[f.node] && p.paths[f.node]!.DISK !== 'ALIVE');
    if (ownDown) f.problems.push(`${f.node} lost its DISK path during its network cut: ${JSON.stringify(ownDown.paths)}`);
    const moved = TAGS.filter((t) => f.owners[t] === f.node && samples.some((x) => during(x) && ownerIn(x, t) === peer));
    f.notes.push(`TCP DEAD on ${peer} after ${tcpDead ? tcpDead.at - f.at : '?'} ms; ${f.node} yielded: DISK DEAD on ${peer} ${diskDead ? `after ${diskDead.at - f.at} ms` : 'not within the cut'}; taken over during the cut: ${moved.join(', ') || 'none'}`);
  } else {
    const tcpDead = seen(peer, 'TCP', 'DEAD');
    const diskDown = f.paths.find((p) => NODES.some((n) => p.paths[n] && p.paths[n]!.DISK !== 'ALIVE'));
    if (diskDown) f.problems.push(`a DISK path left ALIVE during the network cut of ${f.node}: ${JSON.stringify(diskDown.paths)}`);
    f.notes.push(`TCP DEAD on ${peer} after ${tcpDead ? tcpDead.at - f.at : '?'} ms, DISK ALIVE throughout`);
  }
}

describe.skipIf(skip !== '')(`fault run: crash, freeze, link cut, partition and storage link cut of real vigild in network namespaces${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let net: Net | undefined;
  let cluster: LocalCluster | undefined;
  let lun: SharedLun | undefined;

  afterAll(async () => {
    if (cluster) {
      for (const n of NODES) signalGroup(cluster, n, 'SIGCONT');
      await cluster.destroy(process.env.VIGIL_KEEP_TEST_DIRS === '1');
    }
    lun?.destroy();
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
    lun = await SharedLun.open([...NODES]);
    const c = (cluster = await makeCluster(net, [1, 2], { QUORUM_MODE: mode, QUORUM_HOSTS: WITNESS, QUORUM_TIMEOUT_SECS: '1', ...(process.env.VIGIL_FAULT_LOG_LEVEL ? { VIGIL_LOG_LEVEL: process.env.VIGIL_FAULT_LOG_LEVEL } : {}) }));
    // A DISK comm path each way, each node writing and reading the LUN through its own loop device.
    for (const [me, other] of [['node1', 'node2'], ['node2', 'node1']] as const) await c.must(me, ['net_create', '-S', other, '-T', 'DISK', '-D', lun.device(me)]);
    console.log(`[fault-run] shared LUN (DISK path): ${lun.describe()}`);
    const apps = [await createApp(c, join(c.dir, 'app'), 'node1', ['node2'], 'app'), await createApp(c, join(c.dir, 'app2'), 'node2', ['node1'], 'app2')];
    await c.waitFor(() => steady(c), 30_000, 'both nodes steady');
    const sampler = new Sampler(c, [...NODES], TAGS, { intervalMs: 250, timeoutMs: 1_000 });
    const faults: Fault[] = [];
    const faultStart = Date.now();
    let failure: unknown;
    try {
      for (let k = 1; k <= FAULTS; k++) {
        await sleep(between(200, 1_500));
        const kind = KINDS[Math.floor(rand() * KINDS.length)]!;
        const i = rand() < 0.5 ? 1 : 2;
        const node = `node${i}`;
        // Past the detection time (5 heartbeats of 0.3 s) always; past detection plus the survivor
        // hold (about 5 s) often. A storage cut lasts long enough for the DISK path to be seen DEAD.
        const durationMs = kind === 'crash' ? between(0, 3_000) : kind === 'storage' ? between(2_500, 7_000) : between(1_800, 7_000);
        const last = sampler.samples.at(-1);
        const states = NODES.map((n) => `${n}:${TAGS.map((t) => last?.states[t]![n] ?? '?').join('/')}`);
        const owners = Object.fromEntries(TAGS.map((t) => [t, ownerIn(last, t)]));
        const paths: PathSample[] = [];
        const watch = kind === 'cut' || kind === 'partition' || kind === 'storage' ? watchPaths(c, paths) : undefined;
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
        } else if (kind === 'cut') {
          net.isolate(i);
          await sleep(durationMs);
          net.heal(i);
        } else if (kind === 'partition') {
          net.isolate(i);
          lun.cut(node);
          await sleep(durationMs);
          lun.heal(node);
          net.heal(i);
        } else {
          lun.cut(node);
          await sleep(durationMs);
          lun.heal(node);
        }
        const fault: Fault = { n: k, kind, node, before: states.join(' '), at, end: Date.now(), durationMs, recovery: {}, owners, paths, problems: [], notes: [] };
        faults.push(fault);
        await settle(c, fault);
        // The recovery is read from the samples: wait for one taken after the cluster settled.
        const settled = Date.now();
        await c.waitFor(() => (sampler.samples.at(-1)?.at ?? 0) > settled, 10_000, 'a sample after the cluster settled');
        await watch?.stop();
        const window = sampler.samples.filter((x) => x.at >= at && x.at <= settled);
        for (const t of TAGS) {
          if (STAYING.includes(kind)) {
            // Out of service from the last sample without it ISP anywhere until the next one with it; 0: never out.
            const gaps = window.filter((x) => !ownerIn(x, t));
            const back = gaps.length ? window.find((x) => x.at > gaps.at(-1)!.at && ownerIn(x, t)) : undefined;
            fault.recovery[t] = !gaps.length ? 0 : back ? back.at - at : undefined;
          } else {
            const s = sampler.samples.find((x) => x.at >= at && Object.entries(x.states[t]!).some(([n, st]) => st === 'ISP' && (n !== node || x.at > fault.end)));
            fault.recovery[t] = s ? s.at - at : undefined;
          }
        }
        if (STAYING.includes(kind)) checkStaying(fault, window, settled, mode);
        else if (kind === 'partition') {
          const peer = NODES.find((n) => n !== node)!;
          const dead = (type: string) => paths.find((p) => p.paths[peer]?.[type] === 'DEAD');
          fault.notes.push(`on ${peer}: TCP DEAD after ${dead('TCP') ? dead('TCP')!.at - at : '?'} ms, DISK DEAD after ${dead('DISK') ? dead('DISK')!.at - at : '?'} ms`);
        }
        console.log(
          `[fault-run] #${k} ${kind} ${node} for ${durationMs} ms (before: ${fault.before}): recovered ${TAGS.map((t) => `${t} ${fault.recovery[t] ?? '?'} ms`).join(', ')}; ` +
            `${fault.notes.length ? `${fault.notes.join('; ')}; ` : ''}doubles so far ${sampler.doubles().length}${fault.problems.length ? `; PROBLEMS: ${fault.problems.join('; ')}` : ''}`,
        );
      }
    } catch (e) {
      failure = e;
    } finally {
      for (const n of NODES) signalGroup(c, n, 'SIGCONT');
      for (const n of NODES) if (lun.isCut(n)) lun.heal(n);
      await sampler.stop();
    }
    const runMs = Date.now() - runStart;
    const worst = (f: Fault) => Math.max(...TAGS.map((t) => f.recovery[t] ?? Infinity));
    const recoveries = faults.map(worst);
    const byKind = Object.fromEntries(KINDS.map((k) => [k, faults.filter((f) => f.kind === k)]));
    // A start while the elder copy was frozen is no overlap of service: the frozen one served nothing.
    const frozen = (node: string, t: number) => faults.some((f) => f.kind === 'freeze' && f.node === node && f.at <= t && t <= f.end);
    const journalOverlaps = apps.flatMap((a, j) => overlapsAt(a.journal).filter((o) => !o.runningOn.every((n) => frozen(n, o.at))).map((o) => `${TAGS[j]}: ${o.line} while running on ${o.runningOn.join(', ')}`));
    const doubles = sampler.doubles();
    const problems = faults.flatMap((f) => f.problems.map((p) => `#${f.n} ${f.kind} ${f.node}: ${p}`));
    console.log(
      `[fault-run] seed ${SEED}: ${faults.length} faults (${KINDS.map((k) => `${byKind[k]!.length} ${k}`).join(', ')}) in ${Math.round((Date.now() - faultStart) / 1000)} s ` +
        `(run ${Math.round(runMs / 1000)} s); recovery median ${median(recoveries)} ms, max ${Math.max(...recoveries)} ms; ` +
        `${sampler.samples.length} samples, double in-service observed ${doubles.length}, journal overlaps ${journalOverlaps.length}, fault checks failed ${problems.length}`,
    );
    for (const k of KINDS) {
      const r = byKind[k]!.map(worst);
      if (r.length) console.log(`[fault-run]   ${k}: ${r.length} faults, recovery median ${median(r)} ms, max ${Math.max(...r)} ms (${r.join(', ')})`);
    }
    for (const d of doubles.slice(0, 10)) console.log(`[fault-run] DOUBLE ${d.tag} at ${d.at}: ${JSON.stringify(d.states)} (faults: ${faults.filter((f) => f.at <= d.at).at(-1)?.n ?? '-'})`);
    if (failure) {
      // A settle that timed out: where each hierarchy was in the last samples (nowhere: stranded).
      for (const x of sampler.samples.slice(-3)) console.log(`[fault-run] last sample ${new Date(x.at).toISOString()}: ${TAGS.map((t) => `${t} ${ownerIn(x, t) ?? 'in service nowhere'} ${JSON.stringify(x.states[t])}`).join(', ')}`);
    }
    if (failure || doubles.length || journalOverlaps.length || problems.length) for (const n of NODES) console.log(`[fault-run] ${n} log tail:\n${eventsOf(c, n).slice(-80).join('\n')}`);
    if (failure) throw new Error(`${(failure as Error).message} (replay with VIGIL_FAULT_SEED=${SEED})`);
    expect(doubles.map((d) => `${d.tag} ISP on both at ${new Date(d.at).toISOString()}`), `replay with VIGIL_FAULT_SEED=${SEED}`).toEqual([]);
    expect(journalOverlaps, `replay with VIGIL_FAULT_SEED=${SEED}`).toEqual([]);
    expect(problems, `replay with VIGIL_FAULT_SEED=${SEED}`).toEqual([]);
    expect(faults.length).toBe(FAULTS);
  });
});
