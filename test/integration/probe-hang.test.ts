// A real kernel hang (FUSE getattr held by the fusehang daemon) against the Linux TimedStat:
// probes reject on time while a plain fs stat stays blocked, the event loop and ordinary file
// I/O keep going under 20 hung probes, the per-mount bound refuses fast, and every parked
// thread is reclaimed after release. The numbers are printed so they can be quoted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FuseHang, fuseUnavailableReason } from '../fixtures/fusehang/harness.js';
import { runProbeHangScenario, type ProbeHangResult } from '../fixtures/fusehang/probe-hang-scenario.js';
import { createLinuxPlatform } from '../../src/platform/linux/index.js';

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
