// vigild's watchdog subsystem (daemon/wire-watchdog.ts) on the memory platform: nothing armed
// without WATCHDOG_DEVICE; a device that cannot be armed stops the agent's start with the reason;
// armed, the lease it hands the keeper is unbounded while nothing is in service and bounded from
// quorum evidence while something is; a clean stop disarms only with nothing in service.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerCoreCommands } from '../../src/admin/commands/index.js';
import { AdminCommands } from '../../src/admin/registry.js';
import { buildConfig } from '../../src/common/config.js';
import { Agent } from '../../src/daemon/agent.js';
import { attachWatchdog } from '../../src/daemon/wire-watchdog.js';
import type { MemoryWatchdog } from '../../src/platform/memory/watchdog.js';
import { memoryDisk } from '../helpers/memory-disk.js';

let root: string;
let dir: string;
let disk: ReturnType<typeof memoryDisk>;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-watchdog-'));
  dir = path.join(root, 'state');
  disk = memoryDisk(dir);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function agent(extra: Record<string, string>): { a: Agent; wd: MemoryWatchdog } {
  const { config } = buildConfig({ VIGIL_NODE_NAME: 'alpha', VIGIL_STATE_DIR: dir, QUORUM_MODE: 'tcp_remote', QUORUM_HOSTS: '10.0.0.9:7370', QUORUM_TIMEOUT_SECS: '5', LCMHBEATTIME: '1', ...extra });
  return { a: new Agent(config, pino({ level: 'silent' }), { platform: disk.platform }), wd: disk.memory.watchdog };
}

describe('watchdog subsystem', () => {
  it('without WATCHDOG_DEVICE: nothing armed, no hold', async () => {
    const { a, wd } = agent({});
    const w = attachWatchdog(a);
    await a.start();
    expect(w.status()).toMatchObject({ armed: false, leaseRemainingMs: Infinity, reason: 'no watchdog (WATCHDOG_DEVICE empty)' });
    expect(w.selfFenceHoldMs()).toBe(0);
    expect(wd.state().armed).toBe(false);
    await a.stop();
  });

  it('a device that cannot be armed: the start fails, saying why', async () => {
    const { a, wd } = agent({ WATCHDOG_DEVICE: '/dev/watchdog1' });
    attachWatchdog(a);
    await expect(a.start()).rejects.toThrow(/cannot arm the watchdog: WATCHDOG_DEVICE \/dev\/watchdog1: cannot open it \(ENOENT\): no such device/);
    wd.failArmWith = 'EBUSY';
    const b = agent({ WATCHDOG_DEVICE: '/dev/watchdog' });
    attachWatchdog(b.a);
    await expect(b.a.start()).rejects.toThrow(/\(EBUSY\): another process has it open/);
    expect(wd.state().armed).toBe(false);
  });

  it('armed: unbounded while nothing is in service, bounded from the evidence while something is; disarmed at a clean stop', async () => {
    const { a, wd } = agent({ WATCHDOG_DEVICE: '/dev/watchdog', WATCHDOG_TIMEOUT_SECS: '4' });
    const w = attachWatchdog(a);
    let serving = false;
    let evidence: number | undefined = performance.now();
    w.bind({ evidenceAtMs: () => evidence, serving: () => serving });
    await a.start();
    // tcp_remote, probe period 1 s, time limit 5 s, osu allowance 5 s, heartbeat 1 s: lease 13 s;
    // hold 13 + 4 + 2 s.
    expect(w.selfFenceHoldMs()).toBe(19_000);
    expect(wd.state()).toMatchObject({ armed: true, device: '/dev/watchdog', timeoutSecs: 4, leaseDeadlineMs: Infinity });
    expect(w.status()).toMatchObject({ armed: true, serving: false, leaseRemainingMs: Infinity, leaseMs: 13_000 });
    const commands = new AdminCommands();
    registerCoreCommands(commands);
    const lcdstatus = async () => commands.dispatch({ id: 1, command: 'lcdstatus', options: {}, args: [], json: false }, a.context);
    expect((await lcdstatus()).stdout).toMatch(/\nWatchdog: \/dev\/watchdog \(Memory Watchdog\), timeout 4 s, \d+ pets, keeper real-time:\n  lease unbounded: nothing in service here\n/);
    serving = true;
    evidence = performance.now();
    await sleep(250);
    const bounded = wd.state().leaseDeadlineMs!;
    expect(bounded).toBeCloseTo(evidence + 13_000, 0);
    expect(w.status().leaseRemainingMs).toBeGreaterThan(12_000);
    expect(w.status().leaseRemainingMs).toBeLessThanOrEqual(13_000);
    expect((await lcdstatus()).stdout).toMatch(/  lease \d+\.\d s left of 13\.0 s: in service here: renewed from quorum evidence\n/);
    // Newer evidence moves it on; none leaves it where it was.
    evidence = performance.now();
    await sleep(250);
    expect(wd.state().leaseDeadlineMs!).toBeCloseTo(evidence + 13_000, 0);
    const held = wd.state().leaseDeadlineMs!;
    evidence = undefined;
    await sleep(250);
    expect(wd.state().leaseDeadlineMs).toBe(held);
    serving = false;
    await sleep(250);
    expect(wd.state().leaseDeadlineMs).toBe(Infinity);
    await a.stop();
    expect(a.context.watchdog).toBeUndefined();
    expect(wd.disarms).toEqual([{ atMs: expect.any(Number), magicClosed: true }]);
    expect(wd.state().armed).toBe(false);
  });

  it('stopping with something still in service leaves the watchdog armed', async () => {
    const { a, wd } = agent({ WATCHDOG_DEVICE: '/dev/watchdog' });
    const w = attachWatchdog(a);
    w.bind({ evidenceAtMs: () => performance.now(), serving: () => true });
    await a.start();
    await sleep(150);
    await a.stop();
    expect(wd.disarms).toEqual([]);
    expect(wd.state().armed).toBe(true);
    expect(wd.state().leaseDeadlineMs).toBeLessThan(Infinity);
  });
});
