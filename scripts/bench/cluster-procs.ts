// Helpers for the cluster benches: start ClusterNode processes (cluster-node-proc), follow their
// JSON-line reports, build loopback meshes, and clean everything up. Works both from the
// sources (run through tsx) and from dist/ (compiled JavaScript).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateClusterSecret, writeKeyFile } from '../../src/cluster/cluster-key.js';
import type { PathConfig } from '../../src/cluster/comm-path.js';
import { freePort } from '../lib/free-port.js';
import { waitFor } from '../lib/wait.js';

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');
const ENTRY = join(here, fromSource ? 'cluster-node-proc.ts' : 'cluster-node-proc.js');

export interface Line { ev: string; t: number; [k: string]: unknown }

export class BenchNode {
  readonly lines: Line[] = [];
  readonly child: ChildProcess;
  exited = false;
  constructor(readonly name: string, configFile: string, niceness = 0) {
    const args = fromSource ? ['--import', 'tsx', ENTRY, configFile] : [ENTRY, configFile];
    // A niceness other than 0 runs the node like a unit with Nice= set (negative needs root).
    this.child = niceness === 0
      ? spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn('nice', ['-n', String(niceness), process.execPath, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.on('exit', () => (this.exited = true));
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as Line);
      } catch {
        // not a report line
      }
    });
  }
  events(type: string, match: Record<string, unknown> = {}): Line[] {
    return this.lines.filter((l) => l.ev === 'membership' && l.type === type && Object.entries(match).every(([k, v]) => l[k] === v));
  }
  async stats(): Promise<Line> {
    const n = this.lines.filter((l) => l.ev === 'stats').length;
    this.child.stdin!.write('stats\n');
    await waitUntil(() => this.lines.filter((l) => l.ev === 'stats').length > n, 30_000, `${this.name} stats`);
    return this.lines.filter((l) => l.ev === 'stats').at(-1)!;
  }
  async kill(sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.exited) this.child.kill(sig);
    await waitUntil(() => this.exited, 30_000, `${this.name} exit`);
  }
}

/** Poll every 5 ms (detection times are measured with it). */
export function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return waitFor(cond, { deadlineMs: timeoutMs, intervalMs: 5, what });
}

export { freePort };

/** A temp dir with a key file; nodes started from it are tracked for cleanup. */
export class BenchCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  readonly keyFile = join(this.dir, 'cluster.key');
  readonly nodes: BenchNode[] = [];
  /** `realtimePriority`: what the nodes ask for as vigild does with VIGIL_REALTIME_PRIORITY (0: nothing). */
  constructor(readonly niceness = 0, readonly realtimePriority = 0) {
    writeKeyFile(this.keyFile, generateClusterSecret());
  }
  start(name: string, paths: PathConfig[], heartbeatIntervalMs: number, missedHeartbeats: number): BenchNode {
    const file = join(this.dir, `${name}-${this.nodes.length}.json`);
    writeFileSync(file, JSON.stringify({ localSystem: name, keyFile: this.keyFile, heartbeatIntervalMs, missedHeartbeats, paths, realtimePriority: this.realtimePriority }));
    const n = new BenchNode(name, file, this.niceness);
    this.nodes.push(n);
    return n;
  }
  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill().catch(() => undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Two TCP paths between every pair; node k uses 127.<base+i>.0.<k+1> for its i-th path. */
export function loopbackMesh(names: string[], self: string, port: number, base: number): PathConfig[] {
  const k = names.indexOf(self);
  const out: PathConfig[] = [];
  names.forEach((other, j) => {
    if (other === self) return;
    for (const i of [0, 1]) {
      out.push({ type: 'TCP', otherSystem: other, priority: i + 1, localAddress: `127.${base + i}.0.${k + 1}`, remoteAddress: `127.${base + i}.0.${j + 1}`, port });
    }
  });
  return out;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summary(values: number[]): Record<string, number> {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, minMs: s[0]!, p50Ms: percentile(s, 50), p90Ms: percentile(s, 90), maxMs: s.at(-1)!, meanMs: Math.round(s.reduce((a, b) => a + b, 0) / s.length) };
}
