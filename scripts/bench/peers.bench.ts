// Side by side with Pacemaker + Corosync (`npm run bench -- peers`): the same ext4-on-iSCSI
// hierarchy with a web server on top, on the same two-node VM cluster (plus the storage VM), run
// first under Pacemaker/Corosync and then under Vigil, at each heartbeat setting and pairing, with
// crash, freeze, switchover, monitor failure and idle cost measured the same way for both (see
// docs/peers.md). Prints one JSON object with every figure and the ratios Vigil / Pacemaker; the
// generated configurations and both products' logs are kept under PEERS_OUT.
//
// Environment: PEERS_REPS (default 10), PEERS_SETTINGS (fast,default), PEERS_PAIRINGS
// (equal-settings,equal-detection), PEERS_MEASURES (crash,freeze,switchover,monitor,idle),
// PEERS_IDLE_COUNTS (1,100,1000), PEERS_IDLE_WINDOW_S (30), PEERS_MONITOR_S (5), PEERS_FENCE
// (scsi: fence_scsi / Vigil's fence=scsi; none), PEERS_PRODUCTS (pacemaker,vigil), PEERS_BUDGET_MIN (600: split evenly between the
// product runs; a repetition starts only inside its run's share), PEERS_OUT.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, vmclusterUnavailableReason } from '../vmcluster/cluster.js';
import type { VmNode } from '../vmcluster/node.js';
import { PacemakerProduct } from './peers/pacemaker.js';
import { Prober } from './peers/prober.js';
import type { Product, Setting } from './peers/product.js';
import { activeNode, idle, monitorFailure, nodeFailure, recoverAfterFailure, switchover, type Ctx, type FailoverSample, type IdleSample, type MonitorSample } from './peers/scenarios.js';
import { ratio, summarize } from './peers/stats.js';
import { VigilProduct, snapshotBuild } from './peers/vigil.js';

/** The Debian packages the Pacemaker side needs (installed on the host; the guests see its /). */
export const PEER_PACKAGES = ['pacemaker', 'pacemaker-cli-utils', 'corosync', 'resource-agents', 'fence-agents'];

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const say = (m: string) => process.stderr.write(`[peers ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const list = (v: string | undefined, d: string) => (v ?? d).split(',').map((x) => x.trim()).filter(Boolean);

function missingPackages(): string | undefined {
  const missing = PEER_PACKAGES.filter((p) => {
    try {
      return !execFileSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('install ok installed');
    } catch {
      return true;
    }
  });
  return missing.length ? `Debian packages not installed: ${missing.join(', ')} (apt-get install ${missing.join(' ')})` : undefined;
}

/** Heartbeat settings: Vigil's LCMHBEATTIME x LCMNUMHBEATS; Corosync's token per pairing. */
const HB: Record<string, { hbSec: number; hbMisses: number }> = {
  fast: { hbSec: 1, hbMisses: 3 },
  default: { hbSec: 5, hbMisses: 3 },
};
function tokenFor(hbSec: number, hbMisses: number, pairing: string): number {
  const vigilMs = hbSec * hbMisses * 1000;
  // Corosync forms the new membership after token + consensus (1.2 x token by default) = 2.2 x token.
  if (pairing === 'equal-detection') return Math.round(vigilMs / 2.2);
  if (pairing === 'equal-settings') return vigilMs;
  throw new Error(`unknown pairing ${pairing} (equal-settings or equal-detection)`);
}

interface ProductRun {
  setting: Setting;
  crash?: FailoverSample[];
  freeze?: FailoverSample[];
  switchover?: FailoverSample[];
  monitor?: MonitorSample[];
  idle?: IdleSample[];
  errors: string[];
}

async function cleanReboot(c: Cluster, nodes: VmNode[], device: string): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      await n.crash();
      await n.boot(300_000);
      const [dev] = await c.iscsiLogin(n);
      if (dev !== device) throw new Error(`${n.name} sees the LUN as ${dev}, not ${device}`);
    }),
  );
  // The target keeps persistent reservations across the initiators' reboots: the product that
  // ran before would leave its keys and its reservation on the LUN for the next one. Cleared
  // with a key of the benchmark's own (register-and-ignore, then CLEAR drops every key).
  await nodes[0]!.run(`sg_persist --out --register-ignore --param-sark=0xbe4c ${device} && sg_persist --out --clear --param-rk=0xbe4c ${device}`, { timeoutMs: 60_000 });
}

/** Failed repetitions of one kind (crash or freeze) after which the kind is given up. */
const MAX_FAILURES = 3;

async function runProduct(ctx: Ctx, measures: string[], reps: number, idleCounts: number[], idleWindowS: number, cleanupMonitor: () => Promise<void>, stopAt: number): Promise<Omit<ProductRun, 'setting'>> {
  const out: Omit<ProductRun, 'setting'> = { errors: [] };
  // PEERS_BUDGET_MIN: no repetition starts after this product's share of the budget is spent.
  const inBudget = (what: string) => {
    if (Date.now() < stopAt) return true;
    out.errors.push(`${what}: not started, time budget spent`);
    return false;
  };
  const guard = async <T>(what: string, f: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await f();
    } catch (e) {
      const msg = `${what}: ${(e as Error).message.split('\n').slice(0, 6).join(' | ')}`;
      say(`${ctx.product.name}: ${msg}`);
      out.errors.push(msg);
      return undefined;
    }
  };
  if (measures.includes('switchover')) {
    out.switchover = [];
    for (let i = 0; i < reps && inBudget(`switchover ${i + 1}`); i++) {
      const s = await guard(`switchover ${i + 1}`, () => switchover(ctx));
      if (!s) break;
      out.switchover.push(s);
    }
  }
  if (measures.includes('monitor')) {
    out.monitor = [];
    for (let i = 0; i < reps && inBudget(`monitor failure ${i + 1}`); i++) {
      const s = await guard(`monitor failure ${i + 1}`, () => monitorFailure(ctx, cleanupMonitor));
      if (!s) break;
      out.monitor.push(s);
    }
  }
  // Crash and freeze alternate, so that a spent budget leaves both with the same count.
  const kinds = (['crash', 'freeze'] as const).filter((k) => measures.includes(k));
  for (const k of kinds) out[k] = [];
  // A repetition in which the survivor never answered is a result too (counted in the errors);
  // the failed node is booted again and the next repetition tried, unless the cluster stays
  // broken (MAX_FAILURES of a kind, or no node answering at all).
  const failures = new Map<string, number>();
  for (let i = 0; i < reps; i++) {
    for (const kind of kinds) {
      if ((failures.get(kind) ?? 0) >= MAX_FAILURES || !inBudget(`${kind} ${i + 1}`)) continue;
      const s = await guard(`${kind} ${i + 1}`, () => nodeFailure(ctx, kind));
      if (s) {
        out[kind]!.push(s);
        continue;
      }
      failures.set(kind, (failures.get(kind) ?? 0) + 1);
      const back = await guard(`${kind} ${i + 1}: bringing the failed node back`, () => recoverAfterFailure(ctx));
      if (back === undefined) failures.set(kind, MAX_FAILURES);
    }
  }
  if (measures.includes('idle') && idleCounts.length) {
    out.idle = [];
    // "N resources configured": the benchmark's hierarchy (file system + application) is 2 of them.
    let have = 2;
    for (const target of idleCounts) {
      const add = Math.max(0, target - have);
      const ok = await guard(`idle with ${target}`, async () => {
        if (add > 0) await ctx.product.addIdleResources(await activeNode(ctx), add);
        have += add;
        await new Promise((r) => setTimeout(r, 10_000)); // let the new monitors settle
        out.idle!.push(await idle(ctx, have, idleWindowS));
        return true;
      });
      if (!ok) break;
    }
  }
  return out;
}

const pick = (xs: Array<number | undefined>) => xs.filter((x): x is number => x !== undefined);

function summarizeRun(r: ProductRun): Record<string, unknown> {
  const fo = (xs: FailoverSample[] | undefined) =>
    xs && {
      total: summarize(xs.map((x) => x.totalMs)),
      detection: summarize(pick(xs.map((x) => x.detectionMs))),
      rest: summarize(pick(xs.map((x) => x.restMs))),
      timelineMedianMs: Object.fromEntries(
        [...new Set(xs.flatMap((x) => Object.keys(x.timelineMs)))].map((k) => [k, summarize(pick(xs.map((x) => x.timelineMs[k]))).medianMs]),
      ),
      samples: xs,
    };
  return {
    setting: r.setting,
    crash: fo(r.crash),
    freeze: fo(r.freeze),
    switchover: r.switchover && { total: summarize(r.switchover.map((x) => x.totalMs)), samples: r.switchover },
    monitor: r.monitor && {
      total: summarize(r.monitor.map((x) => x.totalMs)),
      detection: summarize(pick(r.monitor.map((x) => x.detectionMs))),
      rest: summarize(pick(r.monitor.map((x) => x.restMs))),
      restartedLocally: r.monitor.filter((x) => x.answeredOn === x.node).length,
      samples: r.monitor,
    },
    idle: r.idle,
    errors: r.errors,
  };
}

type Summ = ReturnType<typeof summarizeRun> & Record<string, any>;

function ratios(v: Summ, p: Summ): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const m of ['crash', 'freeze', 'monitor'] as const) {
    for (const part of ['total', 'detection', 'rest'] as const) {
      out[`${m}.${part}.median`] = ratio(v[m]?.[part]?.medianMs, p[m]?.[part]?.medianMs);
      out[`${m}.${part}.max`] = ratio(v[m]?.[part]?.maxMs, p[m]?.[part]?.maxMs);
    }
  }
  out['switchover.total.median'] = ratio(v.switchover?.total?.medianMs, p.switchover?.total?.medianMs);
  out['switchover.total.max'] = ratio(v.switchover?.total?.maxMs, p.switchover?.total?.maxMs);
  for (const vi of (v.idle as IdleSample[] | undefined) ?? []) {
    const pi = ((p.idle as IdleSample[] | undefined) ?? []).find((x) => x.resources === vi.resources);
    if (!pi) continue;
    const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    out[`idle.${vi.resources}.cpuWithChildren`] = ratio(sum(vi.agentCpuWithChildrenPct), sum(pi.agentCpuWithChildrenPct));
    out[`idle.${vi.resources}.rss`] = ratio(sum(vi.agentRssMiB), sum(pi.agentRssMiB));
  }
  return out;
}

function table(results: Record<string, { vigil: Summ; pacemaker: Record<string, Summ> }>): string {
  const f = (x: number | null | undefined) => (x == null ? '-' : String(x));
  const rows = ['| setting | pairing (token ms) | measure | Vigil median / max ms | Pacemaker median / max ms | ratio median |', '|---|---|---|---|---|---|'];
  for (const [setting, r] of Object.entries(results)) {
    for (const [pairing, p] of Object.entries(r.pacemaker)) {
      const token = (p.setting as Setting).tokenMs;
      for (const m of ['crash', 'freeze', 'switchover', 'monitor'] as const) {
        for (const part of m === 'switchover' ? (['total'] as const) : (['total', 'detection', 'rest'] as const)) {
          const vs = r.vigil[m]?.[part];
          const ps = p[m]?.[part];
          if (!vs && !ps) continue;
          rows.push(`| ${setting} | ${pairing} (${token}) | ${m} ${part} | ${f(vs?.medianMs)} / ${f(vs?.maxMs)} (n=${vs?.n ?? 0}) | ${f(ps?.medianMs)} / ${f(ps?.maxMs)} (n=${ps?.n ?? 0}) | ${f(ratio(vs?.medianMs, ps?.medianMs))} |`);
        }
      }
      for (const vi of (r.vigil.idle as IdleSample[] | undefined) ?? []) {
        const pi = ((p.idle as IdleSample[] | undefined) ?? []).find((x) => x.resources === vi.resources);
        if (!pi) continue;
        const cpu = (s: IdleSample) => Object.values(s.agentCpuWithChildrenPct).join(' + ');
        const rss = (s: IdleSample) => Object.values(s.agentRssMiB).join(' + ');
        rows.push(`| ${setting} | ${pairing} (${token}) | idle ${vi.resources} res: CPU % (node1 + node2) | ${cpu(vi)} | ${cpu(pi)} | - |`);
        rows.push(`| ${setting} | ${pairing} (${token}) | idle ${vi.resources} res: RSS MiB (node1 + node2) | ${rss(vi)} | ${rss(pi)} | - |`);
      }
    }
  }
  return rows.join('\n');
}

export async function bench(): Promise<Record<string, unknown>> {
  const unavailable = vmclusterUnavailableReason() ?? missingPackages();
  if (unavailable) return { skipped: unavailable };
  const reps = Number(process.env.PEERS_REPS ?? 10);
  const settings = list(process.env.PEERS_SETTINGS, 'fast,default');
  const pairings = list(process.env.PEERS_PAIRINGS, 'equal-settings,equal-detection');
  const measures = list(process.env.PEERS_MEASURES, 'crash,freeze,switchover,monitor,idle');
  const idleCounts = list(process.env.PEERS_IDLE_COUNTS, '1,100,1000').map(Number);
  const idleWindowS = Number(process.env.PEERS_IDLE_WINDOW_S ?? 30);
  const monitorS = Number(process.env.PEERS_MONITOR_S ?? 5);
  // PEERS_PRODUCTS: both by default; one of them only to repeat a product run that failed.
  const products = list(process.env.PEERS_PRODUCTS, 'pacemaker,vigil');
  const budgetMs = Number(process.env.PEERS_BUDGET_MIN ?? 600) * 60_000;
  for (const s of settings) if (!HB[s]) throw new Error(`PEERS_SETTINGS: unknown setting ${s} (fast, default)`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = path.resolve(process.env.PEERS_OUT ?? path.join(repoRoot, '.cache', 'bench-peers-results', stamp));
  fs.mkdirSync(outDir, { recursive: true });
  const build = snapshotBuild(repoRoot);
  const fence = (process.env.PEERS_FENCE ?? 'scsi') === 'scsi';
  if (!['scsi', 'none'].includes(process.env.PEERS_FENCE ?? 'scsi')) throw new Error(`PEERS_FENCE: scsi or none, got ${process.env.PEERS_FENCE}`);
  const fencing = fence
    ? 'SCSI-3 persistent reservation on the LUN on both sides: fence_scsi (stonith-action off, unfencing on join) for Pacemaker, fence=scsi on gen/filesys for Vigil'
    : 'none on either side (PEERS_FENCE=none): stonith-enabled=false for Pacemaker, no fence=scsi for Vigil; a node whose takeover was measured is killed and rebooted instead, as a fence would';
  const started = Date.now();
  const c = await Cluster.start({ nodes: 2, iscsiLunsMb: [64], iscsiReplacementTimeoutS: 60 }, { bootDeadlineMs: 300_000, log: say });
  const results: Record<string, { vigil: Summ; pacemaker: Record<string, Summ> }> = {};
  try {
    const nodes = [c.node('node1'), c.node('node2')];
    const device = c.iscsiDisk('node1');
    if (c.iscsiDisk('node2') !== device) throw new Error('the nodes name the LUN differently');
    await nodes[0]!.run(`modprobe ext4 && mkfs.ext4 -q -F -L peers ${device}`, { timeoutMs: 120_000 });
    const prober = new Prober(c.storage, new Map(nodes.map((n) => [n.name, n.ip()])));
    await prober.start();
    const keep = (dir: string, files: Record<string, string>) => {
      fs.mkdirSync(dir, { recursive: true });
      for (const [k, v] of Object.entries(files)) fs.writeFileSync(path.join(dir, k), v);
    };
    let firstPhase = true;
    for (const name of settings) {
      const hb = HB[name]!;
      const phases: Array<{ pairing: string; make: (s: Setting) => Product }> = [
        ...(products.includes('pacemaker') ? pairings.map((pairing) => ({ pairing, make: (s: Setting) => new PacemakerProduct(s, monitorS, fence) as Product })) : []),
        ...(products.includes('vigil') ? [{ pairing: 'vigil', make: (s: Setting) => new VigilProduct(s, monitorS, build.srcDir, fence) as Product }] : []),
      ];
      const entry: { vigil: Summ; pacemaker: Record<string, Summ> } = { vigil: {} as Summ, pacemaker: {} };
      for (const ph of phases) {
        const setting: Setting = { label: `${name}/${ph.pairing}`, ...hb, tokenMs: ph.pairing === 'vigil' ? 0 : tokenFor(hb.hbSec, hb.hbMisses, ph.pairing) };
        const product = ph.make(setting);
        if (!firstPhase) await cleanReboot(c, nodes, device);
        firstPhase = false;
        say(`${setting.label}: ${product.name} (token ${setting.tokenMs} ms, Vigil ${hb.hbSec} s x ${hb.hbMisses})`);
        const ctx: Ctx = { cluster: c, nodes, device, prober, product, log: say, answerDeadlineMs: 240_000 };
        const run: ProductRun = { setting, errors: [] };
        try {
          await product.setup(nodes, device, 'node1');
          await activeNode(ctx);
          const cleanupMonitor = product instanceof PacemakerProduct ? () => product.cleanup() : async () => {};
          // Only node failures depend on the token: switchover, monitor and idle are measured under
          // the first pairing and shared with the others.
          const first = ph.pairing === 'vigil' || ph.pairing === pairings[0];
          const mine = first ? measures : measures.filter((m) => m === 'crash' || m === 'freeze');
          const share = budgetMs / (settings.length * phases.length);
          Object.assign(run, await runProduct(ctx, mine, reps, idleCounts, idleWindowS, cleanupMonitor, Date.now() + share));
        } catch (e) {
          run.errors.push((e as Error).message.split('\n').slice(0, 8).join(' | '));
          say(`${setting.label}: ${(e as Error).stack}`);
        }
        const dir = path.join(outDir, name, ph.pairing);
        keep(dir, product.configFiles());
        keep(dir, await product.logs(nodes).catch(() => ({})));
        const summ = summarizeRun(run) as Summ;
        fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(summ, null, 2));
        if (ph.pairing === 'vigil') entry.vigil = summ;
        else entry.pacemaker[ph.pairing] = summ;
      }
      // Switchover, monitor and idle are measured under the first pairing only; shared for the ratios.
      const base = entry.pacemaker[pairings[0]!];
      for (const p of Object.values(entry.pacemaker)) {
        p.idle ??= base?.idle;
        p.switchover ??= base?.switchover;
        p.monitor ??= base?.monitor;
      }
      results[name] = entry;
    }
  } finally {
    await c.teardown();
    build.remove();
  }
  const ratioTable = Object.fromEntries(
    Object.entries(results).map(([s, r]) => [s, Object.fromEntries(Object.entries(r.pacemaker).map(([p, pm]) => [p, ratios(r.vigil, pm)]))]),
  );
  const report = {
    fencing,
    repetitionsRequested: reps,
    budgetMin: budgetMs / 60_000,
    monitorIntervalS: monitorS,
    topology: 'node1 + node2 (1 vCPU, 512 MiB, TCG) + storage VM exporting a 64 MiB iSCSI LUN (LIO); one LAN; ext4 on the LUN; busybox httpd on top; client on the storage VM',
    resultsDir: outDir,
    durationS: Math.round((Date.now() - started) / 1000),
    results,
    ratiosVigilOverPacemaker: ratioTable,
    table: table(results),
  };
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(report, null, 2));
  fs.writeFileSync(path.join(outDir, 'table.md'), `${report.table}\n`);
  return report;
}
