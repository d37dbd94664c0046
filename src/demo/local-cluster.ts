// A cluster of real vigild processes on this machine's loopback addresses (127.0.0.1,
// 127.0.0.2, ...), each with its own state directory, admin socket, log file and
// configuration, sharing one generated cluster key, in a temporary directory. Used by
// `vigil demo` and by the hierarchy integration tests.
//
// Every vigild runs in its own process group and with VIGIL_LOCAL_NODE=<dir>/<name> in its
// environment, which everything it starts inherits; killNode() SIGKILLs the group and every
// process carrying that variable (gen/app's programs and the services they leave running have
// process groups of their own), like a node that lost power.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { generateClusterSecret, writeKeyFile } from '../cluster/cluster-key.js';
import { killProcessesWithEnv } from '../platform/linux/agent-mark.js';

/** The variable that marks every process a node started (its value: the node's directory). */
const NODE_MARK_VAR = 'VIGIL_LOCAL_NODE';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/src/demo -> dist/src; src/demo (tests run from source) -> dist/src of the same checkout. */
// VIGIL_DIST_DIR points at another build output (its src/ directory holds daemon/ and cli/).
const distSrc = process.env.VIGIL_DIST_DIR
  ? resolve(process.env.VIGIL_DIST_DIR, 'src')
  : here.includes(`${join('dist', 'src')}`)
    ? resolve(here, '..')
    : resolve(here, '../../dist/src');
export const VIGILD_JS = join(distSrc, 'daemon', 'main.js');
export const VIGIL_JS = join(distSrc, 'cli', 'main.js');

export interface NodeSpec {
  name: string;
  address: string;
}

export interface LocalClusterOptions {
  nodes: NodeSpec[];
  /** LCMHBEATTIME in seconds. */
  heartbeatSec?: number;
  /** LCMNUMHBEATS. */
  missedHeartbeats?: number;
  /** LKCHECKINTERVAL in seconds. */
  checkIntervalSec?: number;
  /** TCP port of the comm paths (each node listens on its own address). */
  port?: number;
  /** Extra KEY=VALUE lines for every node's configuration. */
  extraConfig?: Record<string, string>;
  /** Parent directory of the temporary directory. */
  baseDir?: string;
  /**
   * Run each vigild in a mount namespace of its own (root only, unshare(1)): its mounts are
   * private to it, and vanish when its process group is killed, as on a node that crashed.
   */
  privateMounts?: boolean;
  /** Run each named node's vigild in this network namespace (root only, `ip netns exec`). */
  netns?: Record<string, string>;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class LocalCluster {
  readonly dir: string;
  readonly keyFile: string;
  private readonly procs = new Map<string, ChildProcess>();
  private readonly exited = new Map<string, boolean>();
  /** vigil CLI commands still running (ended by destroy()). */
  private readonly commands = new Set<ChildProcess>();
  private destroying = false;

  constructor(readonly opts: LocalClusterOptions) {
    if (!existsSync(VIGILD_JS)) throw new Error(`${VIGILD_JS} is missing: run npm run build:ts first`);
    this.dir = mkdtempSync(join(opts.baseDir ?? tmpdir(), 'vigil-demo-'));
    this.keyFile = join(this.dir, 'cluster.key');
    writeKeyFile(this.keyFile, generateClusterSecret());
    for (const n of opts.nodes) {
      const d = this.nodeDir(n.name);
      mkdirSync(join(d, 'state'), { recursive: true, mode: 0o700 });
      const cfg: Record<string, string> = {
        VIGIL_NODE_NAME: n.name,
        VIGIL_STATE_DIR: join(d, 'state'),
        VIGIL_ADMIN_SOCKET: this.socket(n.name),
        VIGIL_KEY_FILE: this.keyFile,
        VIGIL_METRICS_ADDRESS: 'off',
        LCMHBEATTIME: String(opts.heartbeatSec ?? 0.2),
        LCMNUMHBEATS: String(opts.missedHeartbeats ?? 5),
        LKCHECKINTERVAL: String(opts.checkIntervalSec ?? 2),
        QUORUM_MODE: 'none',
        ...opts.extraConfig,
      };
      writeFileSync(join(d, 'vigil.conf'), Object.entries(cfg).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o600 });
    }
  }

  nodeDir(name: string): string {
    return join(this.dir, name);
  }

  socket(name: string): string {
    return join(this.nodeDir(name), 'admin.sock');
  }

  logFile(name: string): string {
    return join(this.nodeDir(name), 'vigild.log');
  }

  spec(name: string): NodeSpec {
    const n = this.opts.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** Starts (or restarts) one vigild and waits until its admin socket answers. */
  async startNode(name: string, timeoutMs = 30_000): Promise<void> {
    if (this.procs.has(name) && !this.exited.get(name)) throw new Error(`${name} is already running`);
    rmSync(this.socket(name), { force: true });
    const log = openSync(this.logFile(name), 'a');
    const argv = [process.execPath, VIGILD_JS, '--config', join(this.nodeDir(name), 'vigil.conf')];
    // unshare execs vigild in place (no fork), so the pid and process group stay vigild's.
    const inMounts = this.opts.privateMounts ? ['unshare', '--mount', '--propagation', 'private', '--', ...argv] : argv;
    // `ip netns exec` also execs in place, so the process group stays vigild's.
    const ns = this.opts.netns?.[name];
    const [cmd, ...args] = ns ? ['ip', 'netns', 'exec', ns, ...inMounts] : inMounts;
    const child = spawn(cmd!, args, {
      detached: true,
      env: { ...process.env, [NODE_MARK_VAR]: this.nodeDir(name) },
      stdio: ['ignore', log, log],
      cwd: this.nodeDir(name),
    });
    closeSync(log);
    this.procs.set(name, child);
    this.exited.set(name, false);
    child.on('exit', () => this.exited.set(name, true));
    await this.waitFor(async () => {
      if (this.exited.get(name)) throw new Error(`vigild ${name} exited during start; see ${this.logFile(name)}:\n${this.tail(name)}`);
      return (await this.vigil(name, ['sys_list'])).code === 0;
    }, timeoutMs, `vigild ${name} to answer on its admin socket`);
  }

  /** Comm paths between every pair (one TCP path each way). */
  async connectAll(): Promise<void> {
    const port = String(this.opts.port ?? 7365);
    for (const a of this.opts.nodes) {
      for (const b of this.opts.nodes) {
        if (a.name === b.name) continue;
        await this.must(a.name, ['net_create', '-S', b.name, '-T', 'TCP', '-l', a.address, '-r', b.address, '-P', port]);
      }
    }
  }

  /** Runs the vigil CLI against one node's admin socket. */
  vigil(name: string, args: string[], input?: string, timeoutMs = 120_000): Promise<RunResult> {
    return new Promise((resolvePromise) => {
      if (this.destroying) {
        resolvePromise({ code: -1, stdout: '', stderr: 'the demo cluster is being torn down\n' });
        return;
      }
      const child = spawn(process.execPath, [VIGIL_JS, '--socket', this.socket(name), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      this.commands.add(child);
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => {
        this.commands.delete(child);
        clearTimeout(timer);
        resolvePromise({ code: code ?? -1, stdout, stderr });
      });
      child.stdin.end(input ?? '');
    });
  }

  /** Commands that took over 5 s, in order, and those still running: what a test that ran out of time was waiting for. */
  private readonly slowCommands: string[] = [];
  private readonly runningCommands = new Map<number, string>();
  private commandSeq = 0;

  /** The slow commands so far and the ones still running, one per line, for a failed test's report. */
  commandReport(): string {
    const running = [...this.runningCommands.values()].map((c) => `${c} (running)`);
    return [...this.slowCommands, ...running].join('\n') || '(no command took over 5 s)';
  }

  /** Like vigil() but throws with the output when the command fails. */
  async must(name: string, args: string[], input?: string): Promise<string> {
    const startedAt = Date.now();
    const what = `${new Date(startedAt).toISOString()} ${name}: vigil ${args.join(' ')}`;
    const seq = ++this.commandSeq;
    this.runningCommands.set(seq, what);
    const r = await this.vigil(name, args, input);
    this.runningCommands.delete(seq);
    const tookMs = Date.now() - startedAt;
    if (tookMs > 5_000) this.slowCommands.push(`${what} took ${tookMs} ms (exit ${r.code})`);
    if (r.code !== 0) throw new Error(`vigil ${args.join(' ')} on ${name} failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  async json<T>(name: string, args: string[]): Promise<T> {
    const out = await this.must(name, [...args, '--json']);
    return JSON.parse(out) as T;
  }

  /** Resource states on one node: tag -> state. */
  async states(name: string): Promise<Record<string, string>> {
    const rows = await this.json<Array<{ tag: string; state: string }>>(name, ['ins_list']);
    return Object.fromEntries(rows.map((r) => [r.tag, r.state]));
  }

  /** SIGKILL to the node's vigild, its process group and every process it started (its services). */
  killNode(name: string): void {
    const p = this.procs.get(name);
    if (p?.pid && !this.exited.get(name)) {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        p.kill('SIGKILL');
      }
    }
    if (p) killProcessesWithEnv(NODE_MARK_VAR, this.nodeDir(name));
  }

  /** The node's vigild process id (undefined when not started). */
  pid(name: string): number | undefined {
    return this.procs.get(name)?.pid;
  }

  running(name: string): boolean {
    return this.procs.has(name) && !this.exited.get(name);
  }

  async waitExit(name: string, timeoutMs = 20_000): Promise<void> {
    await this.waitFor(async () => this.exited.get(name) !== false, timeoutMs, `${name} to exit`);
  }

  tail(name: string, lines = 30): string {
    try {
      return readFileSync(this.logFile(name), 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** Polls `cond` every 100 ms until it is true; throws after timeoutMs naming what it waited for. */
  async waitFor(cond: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        if (await cond()) return;
      } catch (e) {
        last = e;
        if (e instanceof Error && /exited during start/.test(e.message)) throw e;
      }
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops every node (SIGTERM, then SIGKILL to the group) and removes the directory. */
  async destroy(keepDir = false): Promise<void> {
    this.destroying = true;
    for (const c of this.commands) c.kill('SIGKILL');
    for (const [name, p] of this.procs) {
      if (!this.exited.get(name)) p.kill('SIGTERM');
    }
    const end = Date.now() + 10_000;
    while ([...this.procs.keys()].some((n) => !this.exited.get(n)) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    // Also the services of nodes whose vigild already exited.
    for (const name of this.procs.keys()) this.killNode(name);
    if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
