// Teardown of qemu processes: each qemu runs in its own process group under
// `setpriv --pdeathsig KILL` (dies with the harness process even on SIGKILL), is tracked here and
// killed on normal exit and fatal signals; cleanupStrays() finds leftovers by the marker in their
// command line (`-name vigil-vmc:<owner pid>-<n>:<node>`).
import fs from 'node:fs';
import path from 'node:path';
import { qemuMarker, runRoot } from './paths.js';
import { processAlive } from '../../src/common/process-alive.js';

const live = new Set<number>();
let hooked = false;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const pid of live) killGroup(pid);
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      for (const pid of live) killGroup(pid);
      // Re-raise the default behaviour only if nobody else handles the signal.
      if (process.listenerCount(sig) === 1) process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

export function track(pid: number): void {
  hook();
  live.add(pid);
}

export function untrack(pid: number): void {
  live.delete(pid);
}

export function killTracked(pid: number): void {
  killGroup(pid);
  live.delete(pid);
}

export interface StrayQemu {
  pid: number;
  owner: number;
  cluster: string;
  node: string;
}

/** qemu processes carrying our marker. */
export function listMarkedQemus(): StrayQemu[] {
  const out: StrayQemu[] = [];
  for (const ent of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${ent}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!argv[0]?.includes('qemu-system')) continue;
    const name = argv[argv.indexOf('-name') + 1] ?? '';
    const m = new RegExp(`^${qemuMarker}:((\\d+)-[^:]+):(.+)$`).exec(name);
    if (m) out.push({ pid: Number(ent), owner: Number(m[2]), cluster: m[1]!, node: m[3]! });
  }
  return out;
}


/**
 * Kill marked qemus. By default only those whose owning harness process is gone (so a developer's
 * `cli.ts up` cluster survives a test run); all=true kills every one.
 */
export function cleanupStrays(all = false): StrayQemu[] {
  const victims = listMarkedQemus().filter((q) => all || !processAlive(q.owner) || q.owner === process.pid);
  for (const q of victims) killGroup(q.pid);
  removeStaleRunDirs(all);
  return victims;
}

/** Run directories (<owner pid>-<n>) whose owner is gone (all=true: every one without a live qemu). */
function removeStaleRunDirs(all: boolean): void {
  let dirs: string[];
  try {
    dirs = fs.readdirSync(runRoot);
  } catch {
    return;
  }
  const withQemu = new Set(listMarkedQemus().map((q) => q.cluster));
  for (const d of dirs) {
    const owner = Number(d.split('-')[0]);
    if (withQemu.has(d)) continue;
    if (all || !Number.isInteger(owner) || !processAlive(owner)) fs.rmSync(path.join(runRoot, d), { recursive: true, force: true });
  }
}
