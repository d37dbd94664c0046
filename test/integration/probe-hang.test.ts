// A real kernel hang (FUSE getattr held by the fusehang daemon) against the Linux TimedStat:
// probes reject on time while a plain fs stat stays blocked, the event loop and ordinary file
// I/O keep going under 20 hung probes, the per-mount bound refuses fast, and every parked
// thread is reclaimed after release. The numbers are printed so they can be quoted.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FuseHang, fuseUnavailableReason } from '../fixtures/fusehang/harness.js';
import { runProbeHangScenario, type ProbeHangResult } from '../fixtures/fusehang/probe-hang-scenario.js';
import { addonCandidates, createLinuxPlatform } from '../../src/platform/linux/index.js';

const skipReason = fuseUnavailableReason();
if (skipReason) console.log(`probe-hang integration skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)(`statWithTimeout on a hung FUSE mount${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let fuse: FuseHang | undefined;
  let result: ProbeHangResult;

  beforeAll(async () => {
    fuse = await FuseHang.mount();
    result = await runProbeHangScenario(fuse, createLinuxPlatform().timedStat);
    console.log(`probe-hang measurements: ${JSON.stringify(result)}`);
  });

  afterAll(() => {
    fuse?.unmount();
  });

  it('rejects with ProbeTimeoutError within limit + 100 ms while a plain fs.promises.stat is still blocked', () => {
    expect(result.singleErrorName).toBe('ProbeTimeoutError');
    expect(result.singleElapsedMs).toBeGreaterThanOrEqual(result.singleTimeoutMs - 1);
    expect(result.singleOvershootMs).toBeLessThan(100);
    expect(result.plainStatPendingAfterTimeout).toBe(true);
  });

  it('times out every one of 20 concurrent hung probes on time and parks them', () => {
    expect(result.concurrentTimeoutErrors).toBe(result.concurrentProbes);
    expect(result.concurrentMaxOvershootMs).toBeLessThan(100);
    expect(result.parkedPeak).toBe(result.concurrentProbes + 1);
  });

  it('keeps ordinary file I/O and the event loop responsive meanwhile', () => {
    expect(result.fileIoOps).toBeGreaterThanOrEqual(5);
    expect(result.fileIoMaxMs).toBeLessThan(1000);
    expect(result.eventLoopDelayP99Ms).toBeLessThan(50);
  });

  it('refuses a probe past the per-mount bound at once with ProbeCapacityError', () => {
    expect(result.capacityErrorName).toBe('ProbeCapacityError');
    expect(result.capacityRejectMs).toBeLessThan(50);
  });

  it('reclaims every parked thread after release, and the plain stat completes', () => {
    expect(result.parkedAfterRelease).toBe(0);
    expect(result.reclaimedDuringRun).toBe(result.concurrentProbes + 1);
    expect(result.plainStatSettledAfterRelease).toBe(true);
  });
});

function processThreads(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}

// A worker_thread that loaded the addon ends while its probes are parked (and some still in
// flight) in the kernel. Node unloads a worker's addons at teardown; the probe threads returning
// afterwards must neither run unmapped code nor touch the dead environment's TSFN.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.addon);
const parked = [1, 2, 3].map(() => addon.statWithTimeout(workerData.path, 100, 'w').catch((e) => e.code));
Promise.all(parked).then((codes) => {
  for (let i = 0; i < 2; i++) addon.statWithTimeout(workerData.path, 600000, 'w').catch(() => {});
  parentPort.postMessage({ codes, counters: addon.probeCounters() });
});
`;

// A process whose only remaining work is a parked probe must still exit on its own.
const PARKED_ONLY = `
const addon = require(process.argv[1]);
addon.statWithTimeout(process.argv[2], 200, 'p').catch((e) => {
  console.log(JSON.stringify({ code: e.code, counters: addon.probeCounters() }));
});
`;

describe.skipIf(skipReason !== undefined)(`probe thread lifetime${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let fuse: FuseHang | undefined;
  afterAll(() => fuse?.unmount());

  // Only the process's own part is observable here: FUSE waits out a request the daemon has
  // already picked up in uninterruptible sleep, so the kernel keeps the exiting process (a
  // zombie main thread) until the stuck thread returns. NFS waits are killable and let it go.
  it('does not keep the event loop alive when only parked probes remain', async () => {
    fuse ??= await FuseHang.mount();
    fuse.hang();
    try {
      const child = spawn(process.execPath, ['-e', PARKED_ONLY, addonCandidates()[0]!, fuse.probePath], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? String(signal))));
      const mainThreadState = () => {
        try {
          return readFileSync(`/proc/${child.pid}/task/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0];
        } catch {
          return 'gone';
        }
      };
      const start = Date.now();
      while (!['Z', 'X', 'gone'].includes(mainThreadState()!) && Date.now() - start < 20_000) await new Promise((r) => setTimeout(r, 20));
      const state = mainThreadState();
      if (state !== 'Z' && state !== 'X' && state !== 'gone') child.kill('SIGKILL');
      expect(['Z', 'X', 'gone']).toContain(state);
      expect(JSON.parse(out)).toMatchObject({ code: 'EPROBETIMEOUT', counters: { parked: 1, inFlight: 0 } });
      fuse.release();
      expect(await exited).toBe(0);
    } finally {
      fuse.release();
    }
  });

  it('finish harmlessly after the worker environment is gone', async () => {
    fuse ??= await FuseHang.mount();
    const timedStat = createLinuxPlatform().timedStat;
    await timedStat.stat(fuse.probePath, 5000); // starts this environment's deadline thread
    const baseline = processThreads();
    fuse.hang();
    const worker = new Worker(WORKER, { eval: true, workerData: { addon: addonCandidates()[0], path: fuse.probePath } });
    const report = await new Promise<{ codes: string[]; counters: { parked: number; inFlight: number } }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(report.codes).toEqual(['EPROBETIMEOUT', 'EPROBETIMEOUT', 'EPROBETIMEOUT']);
    expect(report.counters).toMatchObject({ parked: 3, inFlight: 2 });
    await worker.terminate();
    fuse.release();
    // The five probe threads return from the kernel into the (pinned) addon and exit.
    const start = Date.now();
    while (processThreads() > baseline && Date.now() - start < 30_000) await new Promise((r) => setTimeout(r, 20));
    expect(processThreads()).toBeLessThanOrEqual(baseline);
    expect((await timedStat.stat(fuse.probePath, 5000)).size).toBeGreaterThan(0);
  });
});
