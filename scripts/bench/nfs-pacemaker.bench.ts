// Side by side with Pacemaker on NFS (`npm run bench -- nfs-pacemaker`; docs/peers.md): node1,
// node2 and the NFS server VM; the hierarchy is the export mounted on /mnt/peers with the peers
// benchmark's web server on top (Pacemaker: ocf:heartbeat:Filesystem fstype=nfs + the OCF app in
// a group; Vigil: gen/filesys over the NAS resource + gen/app, extended to node2). Faults: the
// active node's NFS link cut (the hierarchy should move), and the NFS server frozen for a while
// then thawed. Configurations: Vigil at LKNFSTIMEOUT 120 s (the seeds' default) and at a fast
// setting, Pacemaker at Filesystem's default operation timeouts and at timeouts equal to Vigil's
// fast setting. No fencing on either side: there is no shared SCSI LUN in this topology for
// fence_scsi (and a reservation on a disk would not keep a node off an NFS export).
// Each sample starts from freshly booted nodes; the product's logs, configuration and view of
// the resources are kept per sample under PEERS_OUT.
//
// Environment: PEERS_NFS_REPS (3), PEERS_NFS_FAULTS (link-cut,server-freeze), PEERS_NFS_CONFIGS
// (vigil-fast,pacemaker-defaults,vigil-defaults,pacemaker-equal), PEERS_NFS_FREEZE_S (150: longer
// than LKNFSTIMEOUT 120), PEERS_NFS_SETTLE_S (150: after the thaw), PEERS_NFS_WINDOW_S (240: link
// cut), PEERS_NFS_APP_CHECK (process: the app monitor looks at the server process, so that the
// file-system monitors see the NFS loss; http: it reads the file over the mount), PEERS_MONITOR_S
// (5), PEERS_NFS_BUDGET_MIN (600: no sample starts after it), PEERS_OUT.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, vmclusterUnavailableReason } from '../vmcluster/cluster.js';
import type { VmNode } from '../vmcluster/node.js';
import type { AppCheck } from './peers/app.js';
import { LocalProbers } from './peers/local-probers.js';
import { pacemakerNfsEvents, vigilNfsEvents, type EventSpec } from './peers/nfs-events.js';
import { activeNode, linkCut, serverFreeze, type NfsCtx, type NfsFault, type NfsSample } from './peers/nfs-faults.js';
import { PacemakerProduct, type FsResource } from './peers/pacemaker.js';
import type { Product, Setting } from './peers/product.js';
import { summarize } from './peers/stats.js';
import { APP_TAG, FS_TAG, VigilProduct, snapshotBuild } from './peers/vigil.js';

const PACKAGES = ['pacemaker', 'pacemaker-cli-utils', 'corosync', 'resource-agents'];
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const say = (m: string) => process.stderr.write(`[nfs-pacemaker ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const list = (v: string | undefined, d: string) => (v ?? d).split(',').map((x) => x.trim()).filter(Boolean);
/** Both products mount the export the same way: NFSv4.2, hard (the default, and what the NAS kit recommends). */
const NFS_OPTIONS = 'vers=4.2,hard';
const SEGMENTS = ['lan', 'p2p1'];
/** Membership is not what is measured here: Vigil 1 s x 3, Corosync's token the same 3 s (the peers bench's "equal settings"). */
const SETTING: Omit<Setting, 'label'> = { hbSec: 1, hbMisses: 3, tokenMs: 3000 };
const VIGIL_FAST = { LKNFSTIMEOUT: 21, LKNFSSYSCALLTO: 5 }; // 21: the lowest with 5 s calls that passes rule 107009 (3 x 5 + 5 < LKNFSTIMEOUT)

interface Config {
  product: 'pacemaker' | 'vigil';
  describe: string;
  make: (monitorS: number, appCheck: AppCheck, srcDir: string) => Product;
}

/** Filesystem's own defaults (its meta-data: monitor every 20 s with 40 s, start and stop 60 s, OCF_CHECK_LEVEL 0). */
const fsDefaults = (device: string): FsResource => ({ device, fstype: 'nfs', options: NFS_OPTIONS, monitorIntervalS: 20, monitorTimeoutS: 40, startTimeoutS: 60, stopTimeoutS: 60 });

const CONFIGS: Record<string, Config> = {
  'vigil-defaults': {
    product: 'vigil',
    describe: 'Vigil, LKNFSTIMEOUT 120 s and LKNFSSYSCALLTO 5 s (the seeds\' defaults), NAS check every PEERS_MONITOR_S',
    make: (m, appCheck, srcDir) =>
      new VigilProduct({ label: 'vigil-defaults', ...SETTING }, m, srcDir, false, { segments: SEGMENTS, fstype: 'nfs', options: NFS_OPTIONS, appCheck, config: { LKNFSTIMEOUT: '120', LKNFSSYSCALLTO: '5', LKCHECKINTERVAL_GEN_NAS: String(m) } }),
  },
  'vigil-fast': {
    product: 'vigil',
    describe: `Vigil, LKNFSTIMEOUT ${VIGIL_FAST.LKNFSTIMEOUT} s and LKNFSSYSCALLTO ${VIGIL_FAST.LKNFSSYSCALLTO} s, NAS check every PEERS_MONITOR_S`,
    make: (m, appCheck, srcDir) =>
      new VigilProduct({ label: 'vigil-fast', ...SETTING }, m, srcDir, false, {
        segments: SEGMENTS,
        fstype: 'nfs',
        options: NFS_OPTIONS,
        appCheck,
        config: { LKNFSTIMEOUT: String(VIGIL_FAST.LKNFSTIMEOUT), LKNFSSYSCALLTO: String(VIGIL_FAST.LKNFSSYSCALLTO), LKCHECKINTERVAL_GEN_NAS: String(m) },
      }),
  },
  'pacemaker-defaults': {
    product: 'pacemaker',
    describe: 'Pacemaker, Filesystem at its defaults: monitor every 20 s, timeout 40 s, OCF_CHECK_LEVEL 0; start and stop 60 s',
    make: (m, appCheck) => new PacemakerProduct({ label: 'pacemaker-defaults', ...SETTING }, m, false, { segments: SEGMENTS, fs: fsDefaults, appCheck }),
  },
  'pacemaker-equal': {
    product: 'pacemaker',
    describe: `Pacemaker, Filesystem monitor every PEERS_MONITOR_S with timeout ${VIGIL_FAST.LKNFSTIMEOUT} s (= Vigil's fast LKNFSTIMEOUT) and OCF_CHECK_LEVEL 20 (writes and reads a status file on the export, as Vigil's probe goes to the server); start and stop 60 s`,
    make: (m, appCheck) =>
      new PacemakerProduct({ label: 'pacemaker-equal', ...SETTING }, m, false, {
        segments: SEGMENTS,
        fs: (device) => ({ ...fsDefaults(device), monitorIntervalS: m, monitorTimeoutS: VIGIL_FAST.LKNFSTIMEOUT, checkLevel: 20 }),
        appCheck,
      }),
  },
};

function missingPackages(): string | undefined {
  const missing = PACKAGES.filter((p) => {
    try {
      return !execFileSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('install ok installed');
    } catch {
      return true;
    }
  });
  return missing.length ? `Debian packages not installed: ${missing.join(', ')} (apt-get install ${missing.join(' ')})` : undefined;
}

/** Boot both nodes afresh (unless just booted), load the NFS client and start the node-local probers. */
async function freshNodes(nodes: VmNode[], probers: LocalProbers, reboot: boolean): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      if (reboot) {
        await n.crash();
        await n.boot(300_000);
      }
      await n.run('modprobe nfs', { timeoutMs: 60_000 });
    }),
  );
  await probers.start();
}

const pick = (xs: Array<number | undefined>) => xs.filter((x): x is number => x !== undefined);

export function summarizeSamples(xs: NfsSample[]): Record<string, unknown> {
  const count = (f: (s: NfsSample) => boolean) => xs.filter(f).length;
  return {
    n: xs.length,
    decision: summarize(pick(xs.map((s) => s.figures.decisionMs))),
    decidedBy: xs.map((s) => s.figures.decidedBy ?? null),
    released: summarize(pick(xs.map((s) => s.figures.releasedMs))),
    releaseOutcomes: xs.map((s) => s.figures.releaseOutcome ?? null),
    backupMounted: summarize(pick(xs.map((s) => s.figures.backupMountedMs))),
    answeredOnBackup: summarize(pick(xs.map((s) => s.answeredOnBackupMs))),
    movedToBackup: count((s) => s.answeredOnBackupMs !== undefined),
    answeredAfterThaw: summarize(pick(xs.map((s) => s.answeredAfterThawMs))),
    answeredAfterThawOn: xs.map((s) => s.answeredAfterThawOn ?? null),
    blocked: count((s) => s.figures.blockedMs !== undefined),
    fencingRequested: count((s) => s.figures.fencingMs !== undefined),
  };
}

function table(results: Record<string, Record<string, Record<string, any>>>): string {
  const f = (s: { medianMs: number | null; maxMs: number | null; n: number } | undefined) => (s && s.n ? `${(s.medianMs! / 1000).toFixed(1)} / ${(s.maxMs! / 1000).toFixed(1)}` : '-');
  const rows = [
    '| fault | configuration | n | decision s (median / max) | by | mount released on the active node s | release outcome | on the backup: mounted s | answering on the backup s (moved) | answering after the thaw s (where) | blocked / fencing |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [fault, byConfig] of Object.entries(results)) {
    for (const [config, r] of Object.entries(byConfig)) {
      if (!r.n) continue;
      const uniq = (xs: Array<string | null>) => [...new Set(xs.map((x) => x ?? 'none'))].join(', ');
      rows.push(
        `| ${fault} | ${config} | ${r.n} | ${f(r.decision)} | ${uniq(r.decidedBy)} | ${f(r.released)} | ${uniq(r.releaseOutcomes)} | ${f(r.backupMounted)} | ${f(r.answeredOnBackup)} (${r.movedToBackup}/${r.n}) | ${fault === 'server-freeze' ? `${f(r.answeredAfterThaw)} (${uniq(r.answeredAfterThawOn)})` : '-'} | ${r.blocked} / ${r.fencingRequested} |`,
      );
    }
  }
  return rows.join('\n');
}

export async function bench(): Promise<Record<string, unknown>> {
  const unavailable = vmclusterUnavailableReason() ?? missingPackages();
  if (unavailable) return { skipped: unavailable };
  const reps = Number(process.env.PEERS_NFS_REPS ?? 3);
  const faults = list(process.env.PEERS_NFS_FAULTS, 'link-cut,server-freeze') as NfsFault[];
  const configs = list(process.env.PEERS_NFS_CONFIGS, 'vigil-fast,pacemaker-defaults,vigil-defaults,pacemaker-equal');
  const freezeS = Number(process.env.PEERS_NFS_FREEZE_S ?? 150);
  const settleS = Number(process.env.PEERS_NFS_SETTLE_S ?? 150);
  const windowS = Number(process.env.PEERS_NFS_WINDOW_S ?? 240);
  const appCheck = (process.env.PEERS_NFS_APP_CHECK ?? 'process') as AppCheck;
  const monitorS = Number(process.env.PEERS_MONITOR_S ?? 5);
  const budgetMs = Number(process.env.PEERS_NFS_BUDGET_MIN ?? 600) * 60_000;
  for (const c of configs) if (!CONFIGS[c]) throw new Error(`PEERS_NFS_CONFIGS: unknown ${c} (${Object.keys(CONFIGS).join(', ')})`);
  for (const f of faults) if (f !== 'link-cut' && f !== 'server-freeze') throw new Error(`PEERS_NFS_FAULTS: unknown ${f} (link-cut, server-freeze)`);
  if (appCheck !== 'process' && appCheck !== 'http') throw new Error(`PEERS_NFS_APP_CHECK: process or http, got ${appCheck}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = path.resolve(process.env.PEERS_OUT ?? path.join(repoRoot, '.cache', 'bench-nfs-pacemaker-results', stamp));
  fs.mkdirSync(outDir, { recursive: true });
  const build = snapshotBuild(repoRoot);
  const started = Date.now();
  const samples: Record<string, Record<string, NfsSample[]>> = Object.fromEntries(faults.map((f) => [f, Object.fromEntries(configs.map((c) => [c, [] as NfsSample[]]))]));
  const errors: string[] = [];
  const c = await Cluster.start({ nodes: 2, nfs: true, p2p: [['node1', 'node2']] }, { bootDeadlineMs: 300_000, log: say });
  try {
    const nodes = [c.node('node1'), c.node('node2')];
    const source = c.nfsMountSource();
    // No delegations: a node cut off while holding one makes the server wait a whole lease (90 s)
    // before the other node may open the file (docs/nas.md); the same server for both products.
    await c.nfs.run('echo 0 > /proc/sys/fs/leases-enable');
    const probers = new LocalProbers(nodes);
    let booted = true;
    for (let rep = 1; rep <= reps; rep++) {
      for (const fault of faults) {
        for (const name of configs) {
          if (Date.now() - started > budgetMs) {
            errors.push(`${fault} ${name} ${rep}: not started, time budget spent`);
            continue;
          }
          const cfg = CONFIGS[name]!;
          const product = cfg.make(monitorS, appCheck, build.srcDir);
          const events = (a: string, b: string): Record<string, EventSpec> => (cfg.product === 'pacemaker' ? pacemakerNfsEvents(a, b) : vigilNfsEvents(FS_TAG, APP_TAG));
          const ctx: NfsCtx = { cluster: c, nodes, probers, product, events, log: say, windowMs: windowS * 1000, freezeMs: freezeS * 1000, settleMs: settleS * 1000 };
          const dir = path.join(outDir, name, `${fault}-${rep}`);
          fs.mkdirSync(dir, { recursive: true });
          say(`${fault} ${rep}/${reps}: ${cfg.describe}`);
          try {
            await freshNodes(nodes, probers, !booted);
            booted = false;
            await product.setup(nodes, source, 'node1');
            await activeNode(ctx);
            const s = fault === 'link-cut' ? await linkCut(ctx) : await serverFreeze(ctx);
            samples[fault]![name]!.push(s);
            fs.writeFileSync(path.join(dir, 'sample.json'), JSON.stringify(s, null, 2));
          } catch (e) {
            const msg = `${fault} ${name} ${rep}: ${(e as Error).message.split('\n').slice(0, 6).join(' | ')}`;
            say(msg);
            errors.push(msg);
          }
          for (const [k, v] of Object.entries({ ...product.configFiles(), ...(await product.logs(nodes).catch(() => ({}))), ...(await probers.logs().catch(() => ({}))) })) {
            fs.writeFileSync(path.join(dir, k), v);
          }
        }
      }
    }
  } finally {
    await c.teardown();
    build.remove();
  }
  const results = Object.fromEntries(Object.entries(samples).map(([f, byC]) => [f, Object.fromEntries(Object.entries(byC).map(([cn, xs]) => [cn, { ...summarizeSamples(xs), samples: xs }]))]));
  const report = {
    topology: 'node1 + node2 (1 vCPU, 512 MiB, TCG) + the NFS server VM (kernel nfsd, NFSv4.2, delegations off); LAN (carries NFS) + a node1-node2 link; both products have a cluster link on each',
    hierarchy: `the export ${NFS_OPTIONS} on /mnt/peers, busybox httpd on top; app monitor: ${appCheck === 'process' ? 'the server process (the NFS loss is left to the file-system monitors)' : 'an HTTP GET of a file on the export'}, every ${monitorS} s; prober on each node (127.0.0.1) every 250 ms`,
    fencing: 'none on either side: stonith-enabled=false (no shared SCSI LUN in this topology for fence_scsi), Vigil without a fence; a Pacemaker stop that fails therefore blocks the resource instead of fencing the node',
    configurations: Object.fromEntries(configs.map((n) => [n, CONFIGS[n]!.describe])),
    faults: {
      'link-cut': `the active node's LAN link cut (QMP set_link: its NFS path; the cluster keeps the other link); observed until the backup answers or ${windowS} s`,
      'server-freeze': `the NFS server VM frozen (QMP stop) for ${freezeS} s, then thawed; observed until an answer after the thaw (+20 s) or ${settleS} s`,
    },
    repetitionsRequested: reps,
    resultsDir: outDir,
    durationS: Math.round((Date.now() - started) / 1000),
    results,
    errors,
    table: table(results as never),
  };
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(report, null, 2));
  fs.writeFileSync(path.join(outDir, 'table.md'), `${report.table}\n`);
  return report;
}
