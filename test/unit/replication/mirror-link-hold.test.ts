// The link hold over the memory platform: when the replication link dies, a write through the
// mirror is not acknowledged until the backup recorded itself out of date, or membership
// declared it dead; a link that comes back first gets the device a new connection and nothing
// degrades; with nobody deciding, the kernel's bound ends the hold (and says so).
import { afterEach, describe, expect, it } from 'vitest';

import { createMemoryPlatform } from '../../../src/platform/memory/index.js';
import type { BackupConnection, BackupLink } from '../../../src/replication/backup-link.js';
import { REPLICATION_DEFAULTS } from '../../../src/replication/config.js';
import { Mirror, type BackupFence } from '../../../src/replication/mirror.js';
import type { MirrorView } from '../../../src/replication/mirror-state.js';
import type { HoldEnd } from '../../../src/replication/outdate-gate.js';

const MiB = 1 << 20;

class Link implements BackupLink {
  readonly address = 'backup:10809';
  up = true;
  connects = 0;
  async connect(): Promise<BackupConnection> {
    if (!this.up) throw new Error('unreachable');
    this.connects++;
    return { fd: 9, sizeBytes: 16 * MiB, transmissionFlags: 1, release: () => undefined };
  }
}

/** The backup's record as the fence sees it; outdate() answers only when told to. */
class Fence implements BackupFence {
  outOfDate = false;
  dead = false;
  reachable = true;
  asked = 0;
  currentTold = 0;
  private pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** When false, outdate() waits for answer(). */
  autoAnswer = false;
  outdate(): Promise<void> {
    this.asked++;
    if (!this.reachable) return Promise.reject(new Error('backup unreachable'));
    if (this.autoAnswer) {
      this.outOfDate = true;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }
  /** The backup's fsync completed: it is recorded out of date and says so. */
  answer(): void {
    for (const p of this.pending.splice(0)) {
      this.outOfDate = true;
      p.resolve();
    }
  }
  async current(): Promise<void> {
    this.currentTold++;
    this.outOfDate = false;
  }
  declaredDead(): boolean {
    return this.dead;
  }
}

const mirrors: Mirror[] = [];
afterEach(() => {
  for (const m of mirrors.splice(0)) m.close();
});

async function heldMirror(linkHoldSec = 30) {
  const p = createMemoryPlatform();
  p.kernel.addBlockDevice('/dev/sdc', { sizeBytes: 16 * MiB, logicalSectorSize: 512, readOnly: false });
  p.replication.addBlockDevice('/dev/sdc', 16 * MiB);
  const link = new Link();
  const fence = new Fence();
  const mirror = new Mirror(
    p,
    { number: 1, localPartition: '/dev/sdc', localSystem: 'a', backupSystem: 'b' },
    { ...REPLICATION_DEFAULTS, bitmapChunkKiB: 1024, syncSpeedMaxKiB: 1_000_000, callTimeoutMs: 1000, linkHoldSec },
    link,
    fence,
  );
  mirrors.push(mirror);
  const states: MirrorView[] = [];
  const ends: Array<{ how: HoldEnd; heldMs: number }> = [];
  const notices: string[] = [];
  mirror.on('state', (v) => states.push(v));
  mirror.on('hold-ended', (h) => ends.push(h));
  mirror.on('notice', (n) => notices.push(`${n.level}: ${n.message}`));
  await mirror.create();
  await mirror.watch();
  await mirror.attachBackup();
  await until(() => states.at(-1)?.state === 'mirroring');
  return { p, link, fence, mirror, states, ends, notices };
}

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A write through the array, and whether md acknowledged it yet. */
function write(p: ReturnType<typeof createMemoryPlatform>, offset: number) {
  const w = { acked: false, at: 0 };
  void p.replication.submitWrite('/dev/md1', offset, 4096).then(() => {
    w.acked = true;
    w.at = Date.now();
  });
  return w;
}

describe('Mirror link hold', () => {
  it('the device is connected with the hold bound as its dead-connection time-out', async () => {
    const { p } = await heldMirror(42);
    // A dead link holds instead of failing at once (today's behaviour without the hold).
    p.replication.linkDead(1);
    expect(p.replication.isHeld(1)).toBe(true);
  });

  it('a write issued after the link died is acknowledged only once the backup recorded itself out of date', async () => {
    const { p, link, fence, mirror, states, ends } = await heldMirror();
    link.up = false;
    p.replication.linkDead(1);
    const w = write(p, 0);
    await until(() => fence.asked > 0);
    await sleep(300);
    expect(w.acked).toBe(false);
    expect(mirror.holding).toBe(true);
    expect(fence.outOfDate).toBe(false);
    const answeredAt = Date.now();
    fence.answer();
    await until(() => w.acked);
    expect(w.at).toBeGreaterThanOrEqual(answeredAt);
    expect(fence.outOfDate).toBe(true);
    await until(() => states.at(-1)?.state === 'degraded');
    expect(ends).toEqual([{ how: 'backup-acknowledged', heldMs: expect.any(Number) }]);
    expect(mirror.holding).toBe(false);
    // Writes go on at once on the local half.
    const w2 = write(p, 8192);
    await until(() => w2.acked, 500);
  });

  it('backup unreachable: the write waits until membership declares the backup dead', async () => {
    const { p, link, fence, states, ends } = await heldMirror();
    link.up = false;
    fence.reachable = false;
    p.replication.linkDead(1);
    const w = write(p, 0);
    await sleep(1500);
    // Asked more than once (retried), never answered, never released.
    expect(fence.asked).toBeGreaterThan(1);
    expect(w.acked).toBe(false);
    fence.dead = true;
    await until(() => w.acked);
    await until(() => states.at(-1)?.state === 'degraded');
    expect(ends.map((e) => e.how)).toEqual(['backup-dead']);
  });

  it('the link comes back first: the device gets a new connection, the write reaches both halves, nothing degrades', async () => {
    const { p, link, fence, mirror, states, ends } = await heldMirror();
    link.up = false;
    const seen = states.length;
    p.replication.linkDead(1);
    const before = p.replication.writtenSectors('/dev/nbd1');
    const w = write(p, 0);
    await until(() => fence.asked > 0);
    await sleep(200);
    expect(w.acked).toBe(false);
    link.up = true;
    await until(() => w.acked);
    expect(ends.map((e) => e.how)).toEqual(['reconnected']);
    expect(p.replication.writtenSectors('/dev/nbd1')).toBeGreaterThan(before);
    expect(states.slice(seen)).toEqual([]);
    expect(states.at(-1)?.state).toBe('mirroring');
    expect(mirror.backupIsCurrent).toBe(true);
    // An out-of-date request may have reached the backup: it is told it is current again.
    await until(() => fence.currentTold === 1);
    // A late answer to the old request releases nothing.
    fence.answer();
    await sleep(100);
    expect(p.replication.isHeld(1)).toBe(false);
    expect(p.replication.members('/dev/md1').find((m) => m.name === 'nbd1')?.faulty).toBe(false);
  });

  it('nobody decides within the bound: the kernel fails the leg, reported as kernel-timeout', async () => {
    const { p, link, fence, notices, ends } = await heldMirror(1);
    link.up = false;
    fence.reachable = false;
    p.replication.linkDead(1);
    const w = write(p, 0);
    await until(() => w.acked, 3000);
    await until(() => ends.length > 0);
    expect(ends.map((e) => e.how)).toEqual(['kernel-timeout']);
    expect(notices.some((n) => n.startsWith('error:') && n.includes('may still believe it is current'))).toBe(true);
  });

  it('a backup that is not current (resync running) is released at once', async () => {
    const { p, link, fence, mirror, states, ends } = await heldMirror();
    // Degrade and re-add slowly so a resync runs.
    await p.md.setSyncSpeedMax('/dev/md1', 1, 1000);
    link.up = false;
    fence.autoAnswer = true;
    p.replication.linkDead(1);
    await until(() => ends.length === 1);
    expect(ends[0]!.how).toBe('backup-acknowledged');
    link.up = true;
    await until(() => states.at(-1)?.backup === 'syncing', 15_000);
    expect(mirror.backupIsCurrent).toBe(false);
    link.up = false;
    const asked = fence.asked;
    p.replication.linkDead(1);
    const w = write(p, 0);
    await until(() => w.acked, 1000);
    expect(ends.map((e) => e.how)).toEqual(['backup-acknowledged', 'backup-not-current']);
    expect(fence.asked).toBe(asked);
  });
});
