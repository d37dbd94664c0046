// Test helper: run real vigild processes (from dist/) with a temp config and state dir, and run
// the real `vigil` CLI against them. Every process started here is killed by stopAll().
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { waitFor as poll } from '../../../scripts/lib/wait.js';
import { generateClusterSecret, writeKeyFile } from '../../../src/cluster/cluster-key.js';
import { ensureBuilt, repoRoot } from './core-build.js';

export const VIGILD = path.join(repoRoot, 'dist/src/daemon/main.js');
export const VIGIL = path.join(repoRoot, 'dist/src/cli/main.js');

export function ensureDaemonBuilt(): void {
  ensureBuilt(['dist/src/daemon/main.js', 'dist/src/cli/main.js']);
}

export interface VigildHandle {
  name: string;
  dir: string;
  configFile: string;
  socket: string;
  stateDir: string;
  proc: ChildProcess;
  /** Everything the daemon wrote to stdout/stderr so far. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/** Poll `cond` (every 50 ms) until it holds; fails naming `what` after `timeoutMs`. */
export function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  return poll(cond, { deadlineMs: timeoutMs, intervalMs: 50, what });
}

export function canConnect(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/**
 * Write a config for node `name` under `dir` (state in dir/state, socket in dir/run). Unless
 * `extra` names another VIGIL_KEY_FILE, the node gets its own cluster key in dir/cluster.key, as
 * after `vigil keygen` (comm paths cannot be created without one); nodes that must talk to each
 * other are given one shared key file by their test.
 */
export function writeNodeConfig(dir: string, name: string, extra: Record<string, string> = {}): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const values: Record<string, string> = {
    VIGIL_NODE_NAME: name,
    VIGIL_STATE_DIR: path.join(dir, 'state'),
    VIGIL_ADMIN_SOCKET: path.join(dir, 'run', 'admin.sock'),
    VIGIL_KEY_FILE: path.join(dir, 'cluster.key'),
    VIGIL_METRICS_ADDRESS: 'off',
    VIGIL_LOG_LEVEL: 'debug',
    ...extra,
  };
  if (extra.VIGIL_KEY_FILE === undefined && !fs.existsSync(values.VIGIL_KEY_FILE!)) writeKeyFile(values.VIGIL_KEY_FILE!, generateClusterSecret());
  const file = path.join(dir, 'vigil.conf');
  // vigild refuses a configuration that group or others may write.
  fs.writeFileSync(file, Object.entries(values).map(([k, v]) => `${k}="${v}"`).join('\n') + '\n', { mode: 0o600 });
  return file;
}

/** Start vigild with `configFile` (and `args`); resolves once its admin socket accepts connections. */
export async function startVigild(name: string, dir: string, configFile: string, waitReady = true, args: string[] = []): Promise<VigildHandle> {
  const text = fs.readFileSync(configFile, 'utf8');
  const get = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1] ?? '';
  const proc = spawn(process.execPath, [VIGILD, '--config', configFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      running.delete(proc);
      resolve({ code, signal });
    }),
  );
  const h: VigildHandle = {
    name,
    dir,
    configFile,
    socket: get('VIGIL_ADMIN_SOCKET'),
    stateDir: get('VIGIL_STATE_DIR'),
    proc,
    output: () => out,
    exited,
  };
  if (waitReady) {
    let gone = false;
    void exited.then(() => (gone = true));
    await waitFor(async () => {
      if (gone) throw new Error(`vigild ${name} exited during start:\n${out}`);
      return canConnect(h.socket);
    }, `vigild ${name} admin socket`);
  }
  return h;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run the vigil CLI (optionally through a wrapper such as setpriv, with another node binary and
 * CLI file, from another working directory: see unprivileged-cli.ts).
 */
export function runVigil(
  socket: string,
  args: string[],
  opts: { wrapper?: string[]; argv0?: string; node?: string; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const cmd = [...(opts.wrapper ?? []), opts.node ?? process.execPath, opts.argv0 ?? VIGIL, ...args];
    const p = spawn(cmd[0]!, cmd.slice(1), { cwd: opts.cwd, env: { ...process.env, VIGIL_ADMIN_SOCKET: socket }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Kill every vigild this helper started that is still running. */
export async function stopAll(): Promise<void> {
  const waits = [...running].map(
    (p) =>
      new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGKILL');
      }),
  );
  await Promise.all(waits);
}
