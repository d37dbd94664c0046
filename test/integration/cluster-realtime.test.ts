// vigild stays scheduled for its heartbeats on this host: its event-loop thread runs SCHED_RR at
// VIGIL_REALTIME_PRIORITY with reset-on-fork (what it starts runs normally), its memory is
// locked, and VIGIL_REALTIME_PRIORITY=0 leaves both alone; an event loop that stays busy is
// demoted for a while, so that the normal threads on its CPU (ksoftirqd, the NBD server) still run.
// Needs root (CAP_SYS_NICE, IPC_LOCK).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDaemonBuilt, startVigild, stopAll, writeNodeConfig } from './helpers/vigild-proc.js';
import { addonCandidates } from '../../src/platform/linux/addon-loader.js';

const haveRoot = process.getuid?.() === 0;
const haveChrt = spawnSync('chrt', ['--version']).status === 0;
const haveTaskset = spawnSync('taskset', ['--version']).status === 0;
if (!haveRoot || !haveChrt) console.warn('cluster-realtime: skipped, needs root and chrt (util-linux)');

function lockedKiB(pid: number): number {
  return Number(/^VmLck:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

describe.skipIf(!haveRoot || !haveChrt)('vigild real-time scheduling and locked memory (needs root, chrt)', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-rt-'));
    ensureDaemonBuilt();
  });
  afterAll(async () => {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs its event loop SCHED_RR|SCHED_RESET_ON_FORK at priority 10 with memory locked by default', async () => {
    const h = await startVigild('rt', join(dir, 'rt'), writeNodeConfig(join(dir, 'rt'), 'rt'));
    const chrt = spawnSync('chrt', ['-p', String(h.proc.pid)], { encoding: 'utf8' }).stdout;
    expect(chrt).toMatch(/current scheduling policy: SCHED_RR\|SCHED_RESET_ON_FORK/);
    expect(chrt).toMatch(/current scheduling priority: 10/);
    expect(lockedKiB(h.proc.pid!)).toBeGreaterThan(1000);
    expect(h.output()).toContain('staying scheduled for heartbeats');
  });

  it('VIGIL_REALTIME_PRIORITY=0 leaves the scheduling and memory alone', async () => {
    const h = await startVigild('nort', join(dir, 'nort'), writeNodeConfig(join(dir, 'nort'), 'nort', { VIGIL_REALTIME_PRIORITY: '0' }));
    expect(spawnSync('chrt', ['-p', String(h.proc.pid)], { encoding: 'utf8' }).stdout).toMatch(/current scheduling policy: SCHED_OTHER/);
    expect(lockedKiB(h.proc.pid!)).toBe(0);
  });

  // Measured in the VM cluster: the SCHED_RR event loop busy for ~1 s kept ksoftirqd (the network
  // receive path of the heartbeats) and the NBD server thread off the one CPU until the kernel's RT
  // throttling cut in at 950 ms; both nodes lost heartbeats and served. Without the budget guard
  // the normal thread below is stalled for the same ~950 ms.
  it.skipIf(!haveTaskset)('a real-time event loop that stays busy is demoted so that normal threads on its CPU still run, and is real-time again when idle', () => {
    const child = spawnSync('taskset', ['-c', '0', process.execPath, fileURLToPath(new URL('./helpers/rt-burst-child.cjs', import.meta.url)), addonCandidates()[0]!], { encoding: 'utf8', timeout: 30_000 });
    expect(child.status, child.stderr).toBe(0);
    const out = JSON.parse(child.stdout.trim()) as { maxGapMs: number; state: { policy: string; priority: number; budgetDemotions: number } };
    expect(out.state.budgetDemotions).toBeGreaterThanOrEqual(1);
    expect(out.maxGapMs).toBeLessThan(500);
    expect(out.state).toMatchObject({ policy: 'rr', priority: 10 });
  });
});
