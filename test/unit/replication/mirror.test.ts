// Mirror faults over the memory platform: each ends in a defined, reported state and nothing
// waits for ever.
import { describe, expect, it } from 'vitest';

import { ProbeTimeoutError } from '../../../src/platform/errors.js';
import { createMemoryPlatform } from '../../../src/platform/memory/index.js';
import type { BackupConnection, BackupLink } from '../../../src/replication/backup-link.js';
import { REPLICATION_DEFAULTS } from '../../../src/replication/config.js';
import { Mirror, RECONNECT_CONNECT_LIMIT_MS } from '../../../src/replication/mirror.js';
import type { MirrorView } from '../../../src/replication/mirror-state.js';

const MiB = 1 << 20;

class Link implements BackupLink {
  readonly address = 'backup:10809';
  up = true;
  async connect(_timeoutMs?: number, _options?: { connectLimitMs?: number }): Promise<BackupConnection> {
    if (!this.up) throw new Error('unreachable');
    return { fd: 9, sizeBytes: 16 * MiB, transmissionFlags: 1, release: () => undefined };
  }
}

async function inSyncMirror(callTimeoutMs = 1000) {
  const p = createMemoryPlatform();
  p.kernel.addBlockDevice('/dev/sdc', { sizeBytes: 16 * MiB, logicalSectorSize: 512, readOnly: false });
  p.replication.addBlockDevice('/dev/sdc', 16 * MiB);
  const link = new Link();
  const mirror = new Mirror(p, { number: 1, localPartition: '/dev/sdc', localSystem: 'a', backupSystem: 'b' }, { ...REPLICATION_DEFAULTS, bitmapChunkKiB: 1024, syncSpeedMaxKiB: 1_000_000, callTimeoutMs }, link);
  const states: MirrorView[] = [];
  const errors: Error[] = [];
  mirror.on('state', (v) => states.push(v));
  mirror.on('error', (e) => errors.push(e));
  await mirror.create();
  await mirror.watch();
  await mirror.attachBackup();
  await until(() => states.at(-1)?.state === 'mirroring');
  return { p, link, mirror, states, errors };
}

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Mirror faults', () => {
  it('primary disk failure: reported as primary-failed, the backup is kept and stays current', async () => {
    const { p, mirror, states } = await inSyncMirror();
    p.replication.failDevice('/dev/sdc');
    await until(() => states.at(-1)?.state === 'primary-failed');
    expect(states.at(-1)).toMatchObject({ local: 'failed', backup: 'in-sync' });
    expect(mirror.backupIsCurrent).toBe(true);
    expect((await p.nbd.status(1, 1000)).connected).toBe(true);
    // Writes now go to the backup alone.
    p.replication.write('/dev/md1', 0, MiB);
    mirror.close();
  });

  it('backup lost (server killed, link cut, its disk dead): degraded, stale, dropped, writes go on; re-added once reachable', async () => {
    const { p, link, mirror, states } = await inSyncMirror();
    link.up = false;
    p.replication.serverGone(1);
    await until(() => states.at(-1)?.state === 'degraded');
    expect(mirror.backupIsCurrent).toBe(false);
    await until(() => !p.replication.members('/dev/md1').some((m) => m.name === 'nbd1'));
    expect((await p.nbd.status(1, 1000)).connected).toBe(false);
    p.replication.write('/dev/md1', 3 * MiB, MiB);
    link.up = true;
    await until(() => states.at(-1)?.state === 'mirroring', 15_000);
    expect(mirror.backupIsCurrent).toBe(true);
    mirror.close();
  });

  it('a backup whose system returns is re-added at once, not at the end of the back-off its absence built up', async () => {
    const { p, link, mirror, states } = await inSyncMirror();
    let attempts = 0;
    const connect = link.connect.bind(link);
    link.connect = () => {
      attempts++;
      return connect();
    };
    link.up = false;
    p.replication.serverGone(1);
    await until(() => states.at(-1)?.state === 'degraded');
    // Two failed attempts (after 1 s and 2 s more): the next one is 4 s away.
    await until(() => attempts === 2, 10_000);
    await new Promise((r) => setTimeout(r, 50));
    link.up = true;
    const returnedAt = Date.now();
    mirror.backupReturned();
    await until(() => states.at(-1)?.state === 'mirroring', 10_000);
    expect(Date.now() - returnedAt).toBeLessThan(2500);
    expect(mirror.backupIsCurrent).toBe(true);
    mirror.close();
  });

  it('a reconnect whose connect went into the dead link gives up after the connect limit: a returning backup is re-added within seconds, not after the call limit', { timeout: 20_000 }, async () => {
    const { p, link, mirror, states } = await inSyncMirror(30_000);
    // A link that is down swallows the SYN: the connect waits for as long as it is allowed to,
    // even when the link comes back meanwhile (the lost SYN is retransmitted only much later).
    let inFlight = 0;
    let blackhole = true;
    const connect = link.connect.bind(link);
    link.connect = (timeoutMs: number, options?: { connectLimitMs?: number }) => {
      if (!blackhole) return connect();
      inFlight++;
      const waitMs = Math.min(timeoutMs, options?.connectLimitMs ?? timeoutMs);
      return new Promise<BackupConnection>((_, reject) => setTimeout(() => {
        inFlight--;
        reject(new Error(`no connection within ${waitMs} ms`));
      }, waitMs));
    };
    p.replication.serverGone(1);
    await until(() => states.at(-1)?.state === 'degraded');
    await until(() => inFlight === 1, 10_000);
    // The link is back while that attempt still waits; membership sees the backup's system again.
    blackhole = false;
    const returnedAt = Date.now();
    mirror.backupReturned();
    await until(() => states.at(-1)?.state === 'mirroring', 10_000);
    expect(Date.now() - returnedAt).toBeLessThan(RECONNECT_CONNECT_LIMIT_MS + 2_000);
    mirror.close();
  });

  it('an md call stuck in the kernel during a refresh is reported as an error; the mirror keeps its last state', async () => {
    const { p, mirror, states, errors } = await inSyncMirror(200);
    const seen = states.length;
    p.replication.hang('/dev/md1');
    p.replication.failDevice('/dev/sdc');
    await until(() => errors.length > 0);
    expect(errors[0]).toBeInstanceOf(ProbeTimeoutError);
    expect(states.length).toBe(seen);
    p.replication.release('/dev/md1');
    mirror.close();
  });
});

describe('Mirror resyncs', () => {
  it('reports each resync by kind (full at the first add, partial for the returning backup) with its duration, and md\'s rate while it runs', async () => {
    const p = createMemoryPlatform();
    p.kernel.addBlockDevice('/dev/sdc', { sizeBytes: 16 * MiB, logicalSectorSize: 512, readOnly: false });
    p.replication.addBlockDevice('/dev/sdc', 16 * MiB);
    const link = new Link();
    // 16 MiB at 16 MiB/s: the full copy runs about a second, long enough to read its rate.
    const mirror = new Mirror(p, { number: 1, localPartition: '/dev/sdc', localSystem: 'a', backupSystem: 'b' }, { ...REPLICATION_DEFAULTS, bitmapChunkKiB: 1024, syncSpeedMaxKiB: 16_384, callTimeoutMs: 1000 }, link);
    const states: MirrorView[] = [];
    const started: string[] = [];
    const done: Array<{ kind: string; ms: number }> = [];
    mirror.on('state', (v) => states.push(v));
    mirror.on('resync-started', (r) => started.push(r.kind));
    mirror.on('resync-done', (r) => done.push(r));
    await mirror.create();
    await mirror.watch();
    expect(await mirror.resyncRate()).toBe(0);
    const t0 = Date.now();
    expect(await mirror.attachBackup()).toBe('added');
    expect(started).toEqual(['full']);
    await until(() => states.at(-1)?.state === 'resyncing');
    await new Promise((r) => setTimeout(r, 200));
    const rate = await mirror.resyncRate();
    // md's sync_speed over whole seconds: what it copied so far in the first second, in bytes/s.
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThanOrEqual(16 * MiB);
    await until(() => done.length === 1, 10_000);
    expect(done[0]!.kind).toBe('full');
    expect(done[0]!.ms).toBeGreaterThanOrEqual(500);
    expect(done[0]!.ms).toBeLessThanOrEqual(Date.now() - t0);
    expect(await mirror.resyncRate()).toBe(0);
    // The backup goes and comes back: re-added from the bitmap, a partial resync.
    link.up = false;
    p.replication.serverGone(1);
    await until(() => states.at(-1)?.state === 'degraded');
    p.replication.write('/dev/md1', 3 * MiB, MiB);
    link.up = true;
    mirror.backupReturned();
    await until(() => done.length === 2, 10_000);
    expect(started).toEqual(['full', 'partial']);
    expect(done[1]!.kind).toBe('partial');
    // One dirty 1 MiB chunk at 16 MiB/s, against the whole 16 MiB before.
    expect(done[1]!.ms).toBeLessThan(done[0]!.ms);
    mirror.close();
  });
});
