// Resync progress for the commands that wait on a NetRAID resync: the rate over a sliding
// window, the time left, the line's form, and waitForResync's ending (in sync, stopped, never
// started), with a fake clock.
import { describe, expect, it } from 'vitest';

import { formatResyncProgress, ResyncEstimator, waitForResync, type ResyncReading } from '../../src/cli/resync-progress.js';

const MiB_SECTORS = 2048;

describe('ResyncEstimator', () => {
  it('percent from the first sample; rate and time left from two; the rate follows the last window only', () => {
    const e = new ResyncEstimator(10_000);
    const total = 1000 * MiB_SECTORS;
    expect(e.observe(0, 0, total)).toEqual({ percent: 0, doneBytes: 0, totalBytes: 1000 * 2 ** 20 });
    // 10 MiB/s for 10 s.
    const a = e.observe(10_000, 100 * MiB_SECTORS, total);
    expect(a.percent).toBe(10);
    expect(a.bytesPerSecond).toBe(10 * 2 ** 20);
    expect(a.etaSeconds).toBe(90);
    // Then 2 MiB/s: after a whole window at the new pace, the old pace no longer counts.
    e.observe(15_000, 110 * MiB_SECTORS, total);
    const b = e.observe(20_000, 120 * MiB_SECTORS, total);
    expect(b.bytesPerSecond).toBe(2 * 2 ** 20);
    expect(b.etaSeconds).toBe(440);
  });

  it('no progress: a zero rate and no time left; progress going back starts a new estimate', () => {
    const e = new ResyncEstimator();
    e.observe(0, 500, 1000);
    const stuck = e.observe(1000, 500, 1000);
    expect(stuck.bytesPerSecond).toBe(0);
    expect(stuck.etaSeconds).toBeUndefined();
    const restarted = e.observe(2000, 10, 1000);
    expect(restarted.bytesPerSecond).toBeUndefined();
    expect(restarted.percent).toBe(1);
  });
});

describe('formatResyncProgress', () => {
  it('percent, sizes, rate and time left; says so when the rate is not known', () => {
    expect(formatResyncProgress('/dev/md0', { percent: 42, doneBytes: 13.4 * 2 ** 20, totalBytes: 32 * 2 ** 20, bytesPerSecond: 8.2 * 2 ** 20, etaSeconds: 3 })).toBe(
      '/dev/md0 resync 42% (13.4 MiB of 32.0 MiB), 8.2 MiB/s, 3s left',
    );
    expect(formatResyncProgress('/dev/md1', { percent: 5, doneBytes: 50 * 2 ** 30, totalBytes: 1024 * 2 ** 30, bytesPerSecond: 100 * 2 ** 20, etaSeconds: 3 * 3600 + 65 })).toBe(
      '/dev/md1 resync 5% (50.0 GiB of 1.0 TiB), 100.0 MiB/s, 3h01m left',
    );
    expect(formatResyncProgress('/dev/md2', { percent: 0, doneBytes: 0, totalBytes: 2 ** 20 })).toBe('/dev/md2 resync 0% (0.0 KiB of 1.0 MiB), rate not known yet');
    expect(formatResyncProgress('/dev/md2', { percent: 50, doneBytes: 2 ** 19, totalBytes: 2 ** 20, bytesPerSecond: 0 })).toBe(
      '/dev/md2 resync 50% (512.0 KiB of 1.0 MiB), 0.0 KiB/s, time left not known (no progress)',
    );
  });
});

describe('waitForResync', () => {
  /** Readings in turn; the clock moves by the interval at each sleep. */
  function run(readings: ResyncReading[], startGraceMs = 3000) {
    let t = 0;
    let i = 0;
    const lines: string[] = [];
    const done = waitForResync({
      device: '/dev/md3',
      read: async () => readings[Math.min(i++, readings.length - 1)]!,
      progress: (l) => lines.push(l),
      intervalMs: 1000,
      startGraceMs,
      now: () => t,
      sleep: async (ms) => void (t += ms),
    });
    return { done, lines, reads: () => i };
  }
  const resyncing = (done: number): ResyncReading => ({ state: 'resyncing', sync: { completed: { doneSectors: done, totalSectors: 4096 } } });

  it('prints a line per poll while the copy runs and ends when the mirror is in sync', async () => {
    const r = run([{ state: 'degraded' }, resyncing(1024), resyncing(2048), resyncing(3072), { state: 'mirroring' }]);
    expect(await r.done).toEqual({ outcome: 'in-sync', seconds: 4 });
    expect(r.lines).toEqual([
      '/dev/md3 resync 25% (512.0 KiB of 2.0 MiB), rate not known yet',
      '/dev/md3 resync 50% (1.0 MiB of 2.0 MiB), 512.0 KiB/s, 2s left',
      '/dev/md3 resync 75% (1.5 MiB of 2.0 MiB), 512.0 KiB/s, 1s left',
    ]);
  });

  it('a resync that stops (the backup failed) ends as stopped with the state; so does one that never starts', async () => {
    const failed = run([resyncing(1024), { state: 'degraded' }]);
    expect(await failed.done).toEqual({ outcome: 'stopped', state: 'degraded', seconds: 1 });
    const never = run([{ state: 'degraded' }], 3000);
    expect(await never.done).toEqual({ outcome: 'stopped', state: 'degraded', seconds: 4 });
    expect(never.reads()).toBe(5);
    expect(never.lines).toEqual([]);
    const gone = run([{ state: 'absent' }]);
    expect(await gone.done).toMatchObject({ outcome: 'stopped', state: 'absent' });
  });
});
