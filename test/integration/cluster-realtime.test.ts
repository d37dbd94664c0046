// vigild stays scheduled for its heartbeats on this host: its event-loop thread runs SCHED_RR at
// VIGIL_REALTIME_PRIORITY with reset-on-fork (what it starts runs normally), its memory is
// locked, and VIGIL_REALTIME_PRIORITY=0 leaves both alone. Needs root (CAP_SYS_NICE, IPC_LOCK).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDaemonBuilt, startVigild, stopAll, writeNodeConfig } from './helpers/vigild-proc.js';

const haveRoot = process.getuid?.() === 0;
const haveChrt = spawnSync('chrt', ['--version']).status === 0;
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
});
