// Child-process helpers for the cluster integration tests: ClusterNode processes (node-main.ts),
// socat pty pairs, and network namespaces, each tracked so afterAll/afterEach removes them even
// when a test fails.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { generateClusterSecret, writeKeyFile } from '../../../src/cluster/cluster-key.js';
import type { PathConfig } from '../../../src/cluster/comm-path.js';
import { waitFor } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
export const NODE_MAIN = join(here, '../../../scripts/bench/cluster-node-proc.ts');

export const haveRoot = process.getuid?.() === 0;
export const haveSocat = spawnSync('socat', ['-V']).status === 0;
export const haveIp = spawnSync('ip', ['-V']).status === 0;

export interface NodeLine { ev: string; t: number; [k: string]: unknown }

export class NodeProc {
  readonly lines: NodeLine[] = [];
  readonly child: ChildProcess;
  exited = false;
  constructor(readonly name: string, configFile: string, netns?: string) {
    const argv = [process.execPath, '--import', 'tsx', NODE_MAIN, configFile];
    const [cmd, ...args] = netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv;
    this.child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.on('exit', () => (this.exited = true));
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as NodeLine);
      } catch {
        // Not ours (a library printing): ignore.
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => process.stderr.write(`[${name}] ${d.toString()}`));
  }
  /** Membership outputs of `type` matching `match`, from line index `from` on (see mark()). */
  events(type: string, match: Record<string, unknown> = {}, from = 0): NodeLine[] {
    return this.lines.slice(from).filter((l) => l.ev === 'membership' && l.type === type && Object.entries(match).every(([k, v]) => l[k] === v));
  }
  /** A position in the report stream: events after it exclude start-up verdicts. */
  mark(): number {
    return this.lines.length;
  }
  async stats(): Promise<{ stats: { paths: Array<Record<string, unknown>>; systems: Array<Record<string, unknown>>; counters: Record<string, unknown> }; eventLoopDelayMs: { max: number; p99: number } }> {
    const before = this.lines.filter((l) => l.ev === 'stats').length;
    this.child.stdin!.write('stats\n');
    await waitFor(() => this.lines.filter((l) => l.ev === 'stats').length > before, 20_000, `${this.name} stats`);
    return this.lines.filter((l) => l.ev === 'stats').at(-1) as never;
  }
  kill(sig: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.child.kill(sig);
  }
  async waitExit(): Promise<void> {
    await waitFor(() => this.exited, 20_000, `${this.name} exit`);
  }
}

export class Socat {
  readonly child: ChildProcess;
  exited = false;
  constructor(readonly linkA: string, readonly linkB: string) {
    this.child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${linkA}`, `pty,raw,echo=0,link=${linkB}`], { stdio: 'ignore' });
    this.child.on('exit', () => (this.exited = true));
  }
  async ready(): Promise<void> {
    await waitFor(() => existsSync(this.linkA) && existsSync(this.linkB), 20_000, 'socat pty links');
  }
  async kill(): Promise<void> {
    if (!this.exited) this.child.kill('SIGKILL');
    await waitFor(() => this.exited, 20_000, 'socat exit');
    // socat cannot remove its links after SIGKILL; stale links would point at gone ptys.
    rmSync(this.linkA, { force: true });
    rmSync(this.linkB, { force: true });
  }
}

/** Everything a test started, removed in reverse order. */
export class Scene {
  readonly dir = mkdtempSync(join(tmpdir(), 'vigil-cluster-'));
  readonly keyFile = join(this.dir, 'cluster.key');
  readonly nodes: NodeProc[] = [];
  readonly socats: Socat[] = [];
  private readonly cleanups: Array<() => void> = [];

  constructor() {
    writeKeyFile(this.keyFile, generateClusterSecret());
  }
  startNode(name: string, paths: PathConfig[], hbMs: number, misses: number, netns?: string): NodeProc {
    const file = join(this.dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({ localSystem: name, keyFile: this.keyFile, heartbeatIntervalMs: hbMs, missedHeartbeats: misses, paths }));
    const p = new NodeProc(name, file, netns);
    this.nodes.push(p);
    return p;
  }
  startSocat(): Socat {
    const s = new Socat(join(this.dir, 'ttyA'), join(this.dir, 'ttyB'));
    this.socats.push(s);
    return s;
  }
  onCleanup(fn: () => void): void {
    this.cleanups.push(fn);
  }
  async cleanup(): Promise<void> {
    for (const n of this.nodes) n.kill('SIGKILL');
    for (const s of this.socats) if (!s.exited) s.child.kill('SIGKILL');
    for (const fn of this.cleanups.reverse()) {
      try {
        fn();
      } catch {
        // Keep cleaning the rest.
      }
    }
    await Promise.all(this.nodes.map((n) => n.waitExit().catch(() => undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
