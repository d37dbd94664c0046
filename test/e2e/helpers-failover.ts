// Helpers of the shared-disk failover e2e test: a snapshot of this checkout's build for the guests
// to run (so a rebuild by someone else during the test cannot change the code under the VMs'
// feet), vigild started inside a VM with its configuration in /etc/default/vigil on the guest's
// tmpfs overlay, the real vigil CLI run in the guest, and the offset of a guest's wall clock
// from the host's (guest timestamps such as stateChangedAt are turned into host times with it).
import fs from 'node:fs';
import path from 'node:path';
import { ensureBuilt } from '../integration/helpers/core-build.js';
import type { Cluster } from '../../scripts/vmcluster/cluster.js';
import { DEFAULT_ADMIN_SOCKET, type AdminReply, type AdminRequest } from '../../src/admin/protocol.js';
import { repoRoot, useCluster, type TopologySpec, type VmNode } from './helpers/vmcluster.js';

/**
 * The shared-disk test's cluster: helpers/vmcluster.ts useCluster with a longer boot deadline,
 * because on a machine shared by CPU-hungry jobs a TCG boot can take minutes.
 */
export function useFailoverCluster(spec: TopologySpec, bootDeadlineMs = 300_000): () => Cluster {
  return useCluster(spec, { bootDeadlineMs });
}

/**
 * Build dist/ if stale and copy dist/src, package.json and the native addon to a directory inside
 * the checkout (under .cache, so node_modules is still found by walking up; the addon loader
 * finds the copied build/Release next to the copied package.json). Other helpers rebuild dist/
 * and the addon while tests run; the guests must not see those files vanish or change.
 * Returns the snapshot's src directory (holding daemon/ and cli/) and a function that removes it.
 */
export function snapshotBuild(): { srcDir: string; remove: () => void } {
  ensureBuilt(['dist/src/daemon/main.js', 'dist/src/cli/main.js']);
  const dir = path.join(repoRoot, '.cache', 'failover-e2e', String(process.pid));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
  fs.cpSync(path.join(repoRoot, 'dist', 'src'), path.join(dir, 'src'), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, 'package.json'), path.join(dir, 'package.json'));
  const addon = path.join(repoRoot, 'build', 'Release', 'vigil_native.node');
  // A rebuild of the addon removes build/ for a while: wait for it to come back.
  const until = Date.now() + 180_000;
  for (;;) {
    try {
      fs.copyFileSync(addon, path.join(dir, 'build', 'Release', 'vigil_native.node'));
      break;
    } catch (e) {
      if (Date.now() > until) throw new Error(`cannot copy the native addon ${addon}: ${(e as Error).message}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  for (const f of ['src/daemon/main.js', 'src/cli/main.js']) {
    if (!fs.existsSync(path.join(dir, f))) throw new Error(`snapshot of dist/ lacks ${f}`);
  }
  return { srcDir: path.join(dir, 'src'), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** vigild and the vigil CLI of one VM node, configured through the guest's /etc/default/vigil. */
export class GuestVigil {
  static readonly configFile = '/etc/default/vigil';
  static readonly log = '/var/log/vigild.log';
  pid: number | undefined;

  constructor(
    readonly node: VmNode,
    readonly srcDir: string,
  ) {}

  get vigildJs(): string {
    return path.join(this.srcDir, 'daemon', 'main.js');
  }

  get vigilJs(): string {
    return path.join(this.srcDir, 'cli', 'main.js');
  }

  /** Write /etc/default/vigil (the guest's / is an overlay on tmpfs: nothing reaches the host). */
  async configure(values: Record<string, string>): Promise<void> {
    await this.node.run('mkdir -p /etc/default /var/lib/vigil /run/vigil /etc/vigil && chmod 700 /var/lib/vigil /etc/vigil /run/vigil');
    // Mode 0600: vigild refuses a configuration that group or others may write.
    await this.node.writeFile(GuestVigil.configFile, Object.entries(values).map(([k, v]) => `${k}=${v}\n`).join(''), 0o600);
  }

  /** Start vigild in the guest and wait until it logs that it is ready and its CLI answers. */
  async start(deadlineMs = 180_000): Promise<void> {
    const p = await this.node.spawn(['node', this.vigildJs, '--config', GuestVigil.configFile], { log: GuestVigil.log });
    this.pid = p.pid;
    let exited = '';
    await this.node.waitFor(
      async () => {
        if (exited) return true;
        const me = (await this.node.procs()).find((x) => x.pid === p.pid);
        if (me?.exited) {
          exited = `vigild exited (${me.code ?? me.signal}):\n${await this.logTail()}`;
          return true;
        }
        return (await this.node.readFile(GuestVigil.log)).toString().includes('vigild ready');
      },
      { deadlineMs, intervalMs: 500, what: 'vigild ready' },
    );
    if (exited) throw new Error(`${this.node.name}: ${exited}`);
  }

  /** Run `vigil ARGS` in the guest (node startup under TCG takes seconds: generous limit). */
  async vigil(args: string[], timeoutMs = 120_000): Promise<CliResult> {
    const r = await this.node.exec(['node', this.vigilJs, ...args], { timeoutMs });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut };
  }

  /** Like vigil() but throws with the output unless the command exits 0. */
  async must(args: string[], timeoutMs?: number): Promise<string> {
    const r = await this.vigil(args, timeoutMs);
    if (r.code !== 0 || r.timedOut) {
      throw new Error(`${this.node.name}: vigil ${args.join(' ')} ${r.timedOut ? 'timed out' : `exited ${r.code}`}:\n${r.stdout}${r.stderr}`);
    }
    return r.stdout;
  }

  async json<T>(args: string[]): Promise<T> {
    return JSON.parse(await this.must([...args, '--json'])) as T;
  }

  /**
   * One admin request straight to vigild's socket, for the queries the tests poll: its structured
   * result, or an error with vigild's text unless it succeeded. The guest agent's @unix-line
   * built-in sends it (milliseconds, where the vigil CLI costs 1.5-3 s of guest CPU under TCG and
   * so slows the very agent being measured); the CLI itself is exercised by every vigil() call.
   */
  async query<T>(command: string, options: AdminRequest['options'] = {}, timeoutMs = 60_000): Promise<T> {
    const req: AdminRequest = { id: 1, command, options, args: [], json: true };
    const r = await this.node.exec(['@unix-line', DEFAULT_ADMIN_SOCKET], { timeoutMs, input: JSON.stringify(req) + '\n' });
    if (r.code !== 0 || r.timedOut) throw new Error(`${this.node.name}: ${command}: ${r.timedOut ? 'timed out' : r.stderr.trim()}`);
    const reply = JSON.parse(r.stdout) as AdminReply;
    if (reply.exitCode !== 0) throw new Error(`${this.node.name}: ${command} exited ${reply.exitCode}: ${reply.stderr}`);
    return reply.data as T;
  }

  /** tag -> state of the resources this node's LCD holds for itself. */
  async states(): Promise<Record<string, string>> {
    const rows = await this.query<Array<{ tag: string; state: string }>>('ins_list');
    return Object.fromEntries(rows.map((r) => [r.tag, r.state]));
  }

  async systems(): Promise<Array<{ name: string; state: string; stateChangedAt: number }>> {
    return this.query('sys_list');
  }

  async events(): Promise<Array<{ at: number; msg: string }>> {
    return this.query('hier_events', { n: '500' });
  }

  /**
   * Host time of the first line of vigild's JSON log at or after host time `from` whose msg
   * matches; `offsetMs` is the guest clock's offset from the host's (guestClockOffset).
   */
  async logTime(re: RegExp, from: number, offsetMs: number): Promise<number | undefined> {
    for (const line of (await this.logTail(10_000_000)).split('\n')) {
      if (!line.startsWith('{')) continue;
      const j = JSON.parse(line) as { time: number; msg: string };
      if (j.time - offsetMs >= from && re.test(j.msg)) return Math.round(j.time - offsetMs);
    }
    return undefined;
  }

  async logTail(chars = 4000): Promise<string> {
    try {
      return (await this.node.readFile(GuestVigil.log)).toString().slice(-chars);
    } catch (e) {
      return `(no vigild log: ${(e as Error).message})`;
    }
  }
}

/**
 * Two nodes' vigild made one cluster: `a` makes the cluster key and `b` gets a copy, both start,
 * each gets a TCP comm path to the other on each segment, and both see each other ALIVE. Returns
 * the key (a node that loses its / in a crash needs it again).
 */
export async function startConnectedPair(a: GuestVigil, b: GuestVigil, port: string, segments: readonly string[] = ['lan', 'p2p1']): Promise<Buffer> {
  await a.must(['keygen']);
  const key = await a.node.readFile('/etc/vigil/cluster.key');
  await b.node.writeFile('/etc/vigil/cluster.key', key, 0o600);
  await Promise.all([a.start(), b.start()]);
  for (const [x, y] of [[a, b], [b, a]] as const) {
    for (const seg of segments) await x.must(['net_create', '-S', y.node.name, '-T', 'TCP', '-l', x.node.ip(seg), '-r', y.node.ip(seg), '-P', port]);
  }
  const sees = async (v: GuestVigil, peer: string) => (await v.systems()).find((s) => s.name === peer)?.state === 'ALIVE';
  await a.node.waitFor(async () => (await sees(a, b.node.name)) && (await sees(b, a.node.name)), { deadlineMs: 120_000, intervalMs: 1000, what: 'both ALIVE' });
  return key;
}

/**
 * Offset of the guest's wall clock from the host's, in ms (guest - host), from the sample with
 * the shortest round trip; `uncertaintyMs` is half that round trip.
 */
export async function guestClockOffset(node: VmNode, samples = 5): Promise<{ offsetMs: number; uncertaintyMs: number }> {
  let best: { offsetMs: number; uncertaintyMs: number } | undefined;
  for (let i = 0; i < samples; i++) {
    const t0 = Date.now();
    const out = await node.run('date +%s%3N', { timeoutMs: 30_000 });
    const t1 = Date.now();
    const guest = Number(out.trim());
    if (!Number.isFinite(guest)) throw new Error(`${node.name}: date printed ${JSON.stringify(out)}`);
    const cand = { offsetMs: guest - (t0 + t1) / 2, uncertaintyMs: (t1 - t0) / 2 };
    if (!best || cand.uncertaintyMs < best.uncertaintyMs) best = cand;
  }
  return best!;
}
