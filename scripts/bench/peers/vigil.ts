// Vigil in the guests: vigild from a snapshot of this checkout's build, configured through
// /etc/default/vigil, its state directory on the node's local disk (so that a node keeps its
// hierarchy across the reboots of the crash scenario, as on real hardware), one TCP comm path on
// the LAN (Corosync's one knet link), gen/filesys on the LUN with gen/app on top, extended to the
// other node. The NFS benchmark passes another layout: a comm path per segment, the export as the
// file system (gen/filesys then puts the NAS resource under it) and its NAS settings.
import fs from 'node:fs';
import path from 'node:path';
import type { VmNode } from '../../vmcluster/node.js';
import { MOUNT, installApp, type AppCheck } from './app.js';
import { guestWallToHost, measureClock, type ClockMap } from './clock.js';
import { firstEvents, firstVigilAfter } from './guest-log.js';
import type { HostEvent, Product, Setting, Timeline } from './product.js';

export const FS_TAG = 'peers-fs';
export const APP_TAG = 'peers-app';
const LOG = '/var/log/vigild.log';
const CONFIG = '/etc/default/vigil';
const SOCK = '/run/vigil/admin.sock';
const PORT = '7366';

/** Copy dist/src, package.json and the addon under .cache, so a rebuild meanwhile cannot change what the guests run. */
export function snapshotBuild(repoRoot: string): { srcDir: string; remove: () => void } {
  const dir = path.join(repoRoot, '.cache', 'bench-peers', String(process.pid));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
  fs.cpSync(path.join(repoRoot, 'dist', 'src'), path.join(dir, 'src'), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, 'package.json'), path.join(dir, 'package.json'));
  fs.copyFileSync(path.join(repoRoot, 'build', 'Release', 'vigil_native.node'), path.join(dir, 'build', 'Release', 'vigil_native.node'));
  return { srcDir: path.join(dir, 'src'), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A node script that sends `create` for N idle gen/app resources over the admin socket in one process (the CLI starts node per call). */
// Eight requests at a time: one at a time, each create waited for its LCD write and the peer's
// copy on the emulated guests (about 3 s each: 98 took over 5 minutes).
const idleCreator = (srcDir: string) => `
import { sendAdminRequest } from '${srcDir}/cli/admin-client.js';
const [from, count] = process.argv.slice(2).map(Number);
let next = from;
await Promise.all(Array.from({ length: 8 }, async () => {
  while (next < from + count) {
    const i = next++;
    const r = await sendAdminRequest('${SOCK}', { id: i, command: 'create', options: { a: 'gen/app', t: 'idle' + i, i: 'idle' + i, restore: '/bin/true', remove: '/bin/true', quickCheck: '/bin/true' }, args: [], json: false });
    if (r.exitCode !== 0) { process.stderr.write(r.stdout + r.stderr); process.exit(1); }
  }
}));
`;

/** What differs between the peers benchmark's layout and another one (the NFS benchmark's). */
export interface VigilLayout {
  /** segments carrying a TCP comm path each (default: the LAN only) */
  segments?: string[];
  /** file-system type and mount options of the device given to setup (default: ext4, no options) */
  fstype?: string;
  options?: string;
  /** more /etc/default/vigil keys (LKNFSTIMEOUT, ...) */
  config?: Record<string, string>;
  /** the application's monitor (default: an HTTP GET) */
  appCheck?: AppCheck;
}

export class VigilProduct implements Product {
  readonly name = 'vigil' as const;
  private nodes: VmNode[] = [];
  private key: Buffer | undefined;
  private readonly clocks = new Map<string, ClockMap>();
  private readonly files: Record<string, string> = {};
  private idle = 0;

  constructor(
    readonly setting: Setting,
    readonly monitorS: number,
    readonly srcDir: string,
    readonly fence: boolean,
    readonly layout: VigilLayout = {},
  ) {}

  private config(n: VmNode): string {
    const c = [
      `VIGIL_NODE_NAME=${n.name}`,
      'VIGIL_STATE_DIR=/var/lib/vigil',
      `VIGIL_ADMIN_SOCKET=${SOCK}`,
      'VIGIL_KEY_FILE=/etc/vigil/cluster.key',
      'VIGIL_METRICS_ADDRESS=off',
      'VIGIL_LOG_LEVEL=info',
      `LCMHBEATTIME=${this.setting.hbSec}`,
      `LCMNUMHBEATS=${this.setting.hbMisses}`,
      `LKCHECKINTERVAL=${this.monitorS}`,
      ...Object.entries(this.layout.config ?? {}).map(([k, v]) => `${k}=${v}`),
    ].join('\n');
    this.files[`${n.name}-default-vigil`] = c;
    return `${c}\n`;
  }

  async vigil(n: VmNode, args: string[], timeoutMs = 180_000): Promise<string> {
    const r = await n.exec(['node', path.join(this.srcDir, 'cli', 'main.js'), ...args], { timeoutMs });
    if (r.code !== 0 || r.timedOut) throw new Error(`${n.name}: vigil ${args.join(' ')} ${r.timedOut ? 'timed out' : `exited ${r.code}`}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  private async systems(n: VmNode): Promise<Array<{ name: string; state: string }>> {
    return JSON.parse(await this.vigil(n, ['sys_list', '--json'])) as Array<{ name: string; state: string }>;
  }

  /** Mount the state disk (formatting it the first time), write the configuration, start vigild and wait for "vigild ready". */
  private async startNode(n: VmNode, first: boolean): Promise<void> {
    await installApp(n, this.layout.appCheck);
    const disk = n.localDisks[0]!;
    await n.run(
      `${first ? `mkfs.ext4 -q -F ${disk} && ` : ''}mkdir -p /var/lib/vigil /run/vigil /etc/vigil /etc/default && mount ${disk} /var/lib/vigil && chmod 700 /var/lib/vigil /run/vigil /etc/vigil && modprobe ext4`,
      { timeoutMs: 120_000 },
    );
    await n.writeFile(CONFIG, this.config(n), 0o600);
    if (this.key) await n.writeFile('/etc/vigil/cluster.key', this.key, 0o600);
    else {
      await this.vigil(n, ['keygen']);
      this.key = await n.readFile('/etc/vigil/cluster.key');
    }
    await n.spawn(['node', path.join(this.srcDir, 'daemon', 'main.js'), '--config', CONFIG], { log: LOG });
    await n.waitFor(async () => (await n.readFile(LOG).catch(() => Buffer.alloc(0))).toString().includes('vigild ready'), { deadlineMs: 180_000, intervalMs: 500, what: 'vigild ready' });
    this.clocks.set(n.name, await measureClock(n));
  }

  async setup(nodes: VmNode[], device: string, first: string): Promise<void> {
    this.nodes = nodes;
    const n1 = nodes.find((n) => n.name === first)!;
    await this.startNode(n1, true);
    await Promise.all(nodes.filter((n) => n !== n1).map((n) => this.startNode(n, true)));
    for (const seg of this.layout.segments ?? ['lan']) {
      for (const a of nodes) for (const b of nodes) if (a !== b) await this.vigil(a, ['net_create', '-S', b.name, '-T', 'TCP', '-l', a.ip(seg), '-r', b.ip(seg), '-P', PORT]);
    }
    await n1.waitFor(async () => (await this.systems(n1)).filter((s) => s.name !== n1.name).every((s) => s.state === 'ALIVE'), { deadlineMs: 120_000, intervalMs: 1000, what: 'Vigil: peers ALIVE' });
    const fsArgs = ['create', '-a', 'gen/filesys', '-t', FS_TAG, '-i', MOUNT, '--device', device, '--fstype', this.layout.fstype ?? 'ext4', ...(this.layout.options ? ['--options', this.layout.options] : []), '--switchback', 'intelligent', ...(this.fence ? ['--info', 'fence=scsi'] : [])];
    const appArgs = ['create', '-a', 'gen/app', '-t', APP_TAG, '-i', APP_TAG, '--restore', '/usr/local/bin/peers-app-start', '--remove', '/usr/local/bin/peers-app-stop', '--quick-check', '/usr/local/bin/peers-app-check', '--recover', '/usr/local/bin/peers-app-start', '--switchback', 'intelligent'];
    this.files['hierarchy.sh'] = [
      `vigil ${fsArgs.join(' ')}`,
      `vigil ${appArgs.join(' ')}`,
      `vigil dep create -p ${APP_TAG} -c ${FS_TAG}`,
      ...nodes.filter((n) => n !== n1).map((n) => `vigil extend -t ${APP_TAG} -s ${n.name} --accept-defaults`),
    ].join('\n');
    await this.vigil(n1, fsArgs);
    await this.vigil(n1, appArgs);
    await this.vigil(n1, ['dep', 'create', '-p', APP_TAG, '-c', FS_TAG]);
    for (const n of nodes) if (n !== n1) await this.vigil(n1, ['extend', '-t', APP_TAG, '-s', n.name, '--accept-defaults']);
  }

  async rejoin(node: VmNode): Promise<void> {
    await this.startNode(node, false);
    const other = this.nodes.find((n) => n.name !== node.name)!;
    await other.waitFor(async () => (await this.systems(other)).find((s) => s.name === node.name)?.state === 'ALIVE', { deadlineMs: 120_000, intervalMs: 1000, what: `Vigil: ${node.name} ALIVE again` });
    // The returning node's LCD must know the hierarchy's state before the next fault.
    await node.waitFor(async () => {
      const rows = JSON.parse(await this.vigil(node, ['ins_list', '--json'])) as Array<{ tag: string; state: string }>;
      return rows.some((r) => r.tag === APP_TAG && r.state === 'OSU');
    }, { deadlineMs: 120_000, intervalMs: 1000, what: `Vigil: ${APP_TAG} OSU on ${node.name}` });
  }

  async switchover(to: string): Promise<void> {
    await this.vigil(this.nodes.find((n) => n.name === to)!, ['in-service', '-t', APP_TAG]);
  }

  async afterSwitchover(): Promise<void> {}

  private async read(node: VmNode): Promise<string> {
    return (await node.readFile(LOG).catch(() => Buffer.alloc(0))).toString();
  }

  async takeoverTimeline(node: VmNode, afterMs: number): Promise<Timeline> {
    const clock = this.clocks.get(node.name)!;
    const after = afterMs + clock.wallOffsetMs - 1000;
    const log = await this.read(node);
    const at = (re: RegExp) => {
      const g = firstVigilAfter(log, re, after);
      return g === undefined ? undefined : guestWallToHost(clock, g);
    };
    return {
      // vigild prefixes each message with its subsystem ("cluster: system dead", "hierarchy: ...").
      detectedAt: at(/\bsystem dead$/),
      decidedAt: at(new RegExp(`hierarchy .* fails over to ${node.name}`)),
      fencedAt: this.fence ? at(/\bfence: holding/) : undefined,
      mountedAt: at(new RegExp(`\\brestore ${FS_TAG} succeeded`)),
      startedAt: at(new RegExp(`\\brestore ${APP_TAG} succeeded`)),
    };
  }

  async monitorFailedAt(node: VmNode, afterMs: number): Promise<number | undefined> {
    const clock = this.clocks.get(node.name)!;
    const g = firstVigilAfter(await this.read(node), new RegExp(`quickCheck of ${APP_TAG} failed`), afterMs + clock.wallOffsetMs - 1000);
    return g === undefined ? undefined : guestWallToHost(clock, g);
  }

  async agentPids(node: VmNode): Promise<number[]> {
    const out = await node.exec("pgrep -f 'daemon/main.js --config'");
    return out.stdout.trim().split('\n').filter(Boolean).map(Number);
  }

  async addIdleResources(node: VmNode, count: number): Promise<void> {
    const script = '/tmp/peers-idle.mjs';
    await node.writeFile(script, idleCreator(this.srcDir));
    await node.run(['node', script, String(this.idle), String(count)], { timeoutMs: 1_800_000 });
    this.idle += count;
  }

  configFiles(): Record<string, string> {
    return { ...this.files };
  }

  async logEvents(node: VmNode, patterns: Record<string, RegExp>, afterMs: number): Promise<Record<string, HostEvent>> {
    const clock = this.clocks.get(node.name)!;
    const found = firstEvents(await this.read(node), 'vigil', patterns, afterMs + clock.wallOffsetMs - 1000);
    return Object.fromEntries(Object.entries(found).map(([k, e]) => [k, { atMs: guestWallToHost(clock, e.atGuestMs), line: e.line }]));
  }

  async status(node: VmNode): Promise<string> {
    const r = await node.exec(['node', path.join(this.srcDir, 'cli', 'main.js'), 'ins_list'], { timeoutMs: 120_000 });
    return `${r.stdout}${r.stderr}`.trim();
  }

  async logs(nodes: VmNode[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const n of nodes) if (n.state === 'running') out[`${n.name}-vigild.log`] = await this.read(n);
    return out;
  }
}
