// The NetRAID utilities over the memory platform: the seeds' messages, netraid_status's numbers
// and refusals with error numbers that change nothing.
import { describe, expect, it } from 'vitest';

import {
  netraidCreate,
  netraidDelete,
  netraidExtend,
  netraidInfo,
  netraidResync,
  netraidStatus,
  resyncAsJson,
  netraidUnextend,
  type NetraidContext,
} from '../../../src/cli/commands/netraid.js';
import { VigilError } from '../../../src/common/errors.js';
import { createMemoryPlatform, type MemoryPlatform } from '../../../src/platform/memory/index.js';
import type { BackupConnection, BackupLink } from '../../../src/replication/backup-link.js';
import { REPLICATION_DEFAULTS } from '../../../src/replication/config.js';
import { NetraidRecords, type RecordStore } from '../../../src/replication/netraid-record.js';

const MiB = 1 << 20;

class Link implements BackupLink {
  up = true;
  constructor(
    readonly address: string,
    readonly sizeBytes: number,
  ) {}
  async connect(): Promise<BackupConnection> {
    if (!this.up) throw new Error('connection refused');
    return { fd: 7, sizeBytes: this.sizeBytes, transmissionFlags: 1, release: () => undefined };
  }
}

function setup(backupBytes = 33 * MiB): { ctx: NetraidContext; p: MemoryPlatform; out: string[]; err: string[]; link: Link } {
  const p = createMemoryPlatform();
  p.kernel.addBlockDevice('/dev/sdb1', { sizeBytes: 32 * MiB, logicalSectorSize: 512, readOnly: false });
  p.replication.addBlockDevice('/dev/sdb1', 32 * MiB);
  const store: RecordStore = {
    durableFiles: p.durableFiles,
    read: async (path) => {
      try {
        return p.kernel.readFile(path).toString();
      } catch {
        return undefined;
      }
    },
    list: async (dir) => p.kernel.list(dir),
    ensureDir: async (dir) => void p.kernel.addDirectory(dir),
    remove: async (path) => void p.kernel.remove(path),
  };
  const out: string[] = [];
  const err: string[] = [];
  const link = new Link('10.0.0.2:10809', backupBytes);
  const modules: string[] = [];
  const config = { ...REPLICATION_DEFAULTS, syncSpeedMaxKiB: 1_000_000, bitmapChunkKiB: 1024 };
  const ctx: NetraidContext = {
    platform: p,
    config,
    records: new NetraidRecords('/var/lib/vigil', store, 1000),
    localSystem: 'server1',
    linkTo: () => link,
    loadModule: async (name) => void modules.push(name),
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  };
  return { ctx, p, out, err, link };
}

async function until(pred: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await pred()); i++) await new Promise((r) => setTimeout(r, 10));
}

const status = netraidStatus;

describe('netraid utilities (memory platform)', () => {
  it('create and extend print the seeds\' lines; status goes from 0 through the resync to 100', async () => {
    const { ctx, out } = setup();
    await netraidCreate(ctx, '/dev/sdb1', 0);
    expect(out).toEqual(['netraid_create: Creating the RAID1 (/dev/md0) device ...', 'netraid_create: /dev/sdb1 is configured to be mirrored through /dev/nbd0']);
    out.length = 0;
    expect(await status(ctx, 0)).toBe(0);
    expect(out).toEqual(['0']);
    out.length = 0;
    await netraidExtend(ctx, { templateServer: 'server1', templatePartition: '/dev/sdb1', targetPartition: '/dev/sdb5', targetAddress: '10.0.0.2', port: 10809, number: 0, targetSystem: 'server2' });
    expect(out[0]).toBe('netraid_extend: Loading NBD module ...');
    expect(out).toContain('netraid_extend: Running the nbd-client on "server1" ...');
    expect(out).toContain('netraid_extend: Extending the RAID1 (/dev/md0) device from "server1" to "server2"...');
    expect(out.at(-1)).toBe('netraid_extend: "server1:/dev/sdb1" is being replicated to "server2:/dev/sdb5"');
    await until(async () => (await netraidStatus(ctx, 0)) === 100);
    out.length = 0;
    expect(await netraidStatus(ctx, 0)).toBe(100);
    await netraidInfo(ctx, 0);
    expect(out).toContain('NetRAID Status: Mirroring');
    expect(out).toContain('Port Number: 10809');
    expect(out).toContain('Remote Server: server2 [10.0.0.2]');
  });

  it('netraid_status: -1 (exit 255) for a device that does not exist', async () => {
    const { ctx, out } = setup();
    expect(await netraidStatus(ctx, 7)).toBe(255);
    expect(out).toEqual(['-1']);
  });

  it('-2 (exit 254) when the primary disk fails with the backup in sync, -3 (253) when it was not', async () => {
    const { ctx, p, out, link } = setup();
    await netraidCreate(ctx, '/dev/sdb1', 1);
    await netraidExtend(ctx, { templateServer: 'server1', templatePartition: '/dev/sdb1', targetPartition: '/dev/sdb5', targetAddress: '10.0.0.2', port: 10810, number: 1 });
    await until(async () => (await netraidStatus(ctx, 1)) === 100);
    p.replication.failDevice('/dev/sdb1');
    out.length = 0;
    expect(await netraidStatus(ctx, 1)).toBe(254);
    expect(out).toEqual(['-2']);

    const second = setup();
    await netraidCreate(second.ctx, '/dev/sdb1', 2);
    second.link.up = link.up;
    await netraidExtend(second.ctx, { templateServer: 'server1', templatePartition: '/dev/sdb1', targetPartition: '/dev/sdb5', targetAddress: '10.0.0.2', port: 10811, number: 2 });
    // Fail the primary while the backup is still being copied to.
    second.p.md.setSyncSpeedMax('/dev/md2', 1, 1000);
    second.p.replication.failDevice('/dev/sdb1');
    second.out.length = 0;
    expect(await netraidStatus(second.ctx, 2)).toBe(253);
    expect(second.out).toEqual(['-3']);
  });

  it('refuses a target smaller than the source with 104012 and leaves the device degraded', async () => {
    const { ctx, p } = setup(16 * MiB);
    await netraidCreate(ctx, '/dev/sdb1', 3);
    const err = await netraidExtend(ctx, { templateServer: 'server1', templatePartition: '/dev/sdb1', targetPartition: '/dev/sdb5', targetAddress: '10.0.0.2', port: 10812, number: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VigilError);
    expect((err as VigilError).number).toBe(104012);
    expect((err as VigilError).format()).toMatch(/^Error 104012: .*less than the source partition/);
    expect((await p.md.arrayInfo('/dev/md3', 1000)).nrDisks).toBe(1);
    expect((await p.nbd.status(3, 1000)).connected).toBe(false);
    // Nothing recorded about a target either.
    expect((await ctx.records.get(3))?.target).toBeUndefined();
  });

  it('refuses extend from the wrong server (104041) and a second create (104010)', async () => {
    const { ctx } = setup();
    await netraidCreate(ctx, '/dev/sdb1', 4);
    await expect(netraidCreate(ctx, '/dev/sdb1', 4)).rejects.toMatchObject({ number: 104010 });
    await expect(
      netraidExtend(ctx, { templateServer: 'server9', templatePartition: '/dev/sdb1', targetPartition: '/dev/sdb5', targetAddress: '10.0.0.2', port: 1, number: 4 }),
    ).rejects.toMatchObject({ number: 104041 });
  });

  it('the speed limit that cannot be set is error 104905 naming the sysfs file', async () => {
    const { ctx, p } = setup();
    p.replication.failWith('/dev/md5', 'EINVAL', 'write sync_speed_max');
    await expect(netraidCreate(ctx, '/dev/sdb1', 5)).rejects.toMatchObject({ number: 104905, message: expect.stringContaining('/sys/block/md5/md/sync_speed_max') });
  });

  it('resync re-adds a dropped backup; unextend and delete take it apart', async () => {
    const { ctx, p, out, link } = setup();
    await netraidCreate(ctx, '/dev/sdb1', 6, 'lkdr6');
    await netraidExtend(ctx, { templateServer: 'server1', templatePartition: '/dev/sdb1', targetPartition: '/dev/sdb5', targetAddress: '10.0.0.2', port: 10816, number: 6 });
    await until(async () => (await netraidStatus(ctx, 6)) === 100);
    link.up = false;
    p.replication.serverGone(6);
    p.replication.write('/dev/md6', 0, MiB);
    expect(await netraidStatus(ctx, 6)).toBe(0);
    link.up = true;
    const before = p.replication.writtenSectors('/dev/nbd6');
    out.length = 0;
    await netraidResync(ctx, 'lkdr6');
    expect(out).toEqual(['Resynchronization of NetRAID device "/dev/md6" of resource "lkdr6" has started'.replace('Resynchronization', 'resynchronization')]);
    await until(async () => (await netraidStatus(ctx, 6)) === 100);
    // Only the 1 MiB chunk written while the backup was away was copied.
    expect(p.replication.writtenSectors('/dev/nbd6') - before).toBe(2048);
    out.length = 0;
    await netraidUnextend(ctx, 10816);
    expect(out).toEqual(['the NetRAID device of resource "lkdr6" was unextended from system "10.0.0.2"']);
    expect((await p.nbd.status(6, 1000)).connected).toBe(false);
    out.length = 0;
    await netraidDelete(ctx, '/dev/sdb1', 6, '10.0.0.2', 10816);
    expect(await p.md.exists('/dev/md6', 1000)).toBe(false);
    expect(await ctx.records.get(6)).toBeUndefined();
  });

  // --wait: progress lines while md copies (16 MiB/s ceiling: a 32 MiB copy takes about 2 s).
  const PROGRESS = /^\/dev\/md(\d) resync (\d+)% \(([\d.]+) (KiB|MiB) of ([\d.]+) MiB\), (?:rate not known yet|([\d.]+) (KiB|MiB)\/s, (\d+)s left)$/;
  const slow = (ctx: NetraidContext, progress: string[]) => {
    ctx.config = { ...ctx.config, syncSpeedMaxKiB: 16 * 1024 };
    ctx.progress = (l) => progress.push(l);
    ctx.progressIntervalMs = 200;
  };

  it('extend --wait follows the full copy with progress lines (percent, rate, time left) and ends in sync', async () => {
    const { ctx, out } = setup();
    const progress: string[] = [];
    slow(ctx, progress);
    await netraidCreate(ctx, '/dev/sdb1', 7);
    out.length = 0;
    await netraidExtend(ctx, { templateServer: 'server1', templatePartition: '/dev/sdb1', targetPartition: '/dev/sdb5', targetAddress: '10.0.0.2', port: 10817, number: 7 }, { wait: true });
    // Returned only once in sync, saying so last.
    const printed = [...out];
    expect(await netraidStatus(ctx, 7)).toBe(100);
    expect(printed.at(-1)).toMatch(/^netraid_extend: resynchronization of NetRAID device "\/dev\/md7" of resource "netraid7" has finished \(\d+\.\d s\)$/);
    expect(progress.length).toBeGreaterThanOrEqual(3);
    const parsed = progress.map((l) => {
      const m = PROGRESS.exec(l);
      expect(m, l).not.toBeNull();
      return { percent: Number(m![2]), totalKiB: Number(m![5]) * 1024, rate: m![6] === undefined ? undefined : Number(m![6]) * (m![7] === 'MiB' ? 1024 : 1), eta: m![8] === undefined ? undefined : Number(m![8]) };
    });
    const percents = parsed.map((p) => p.percent);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
    const rated = parsed.filter((p) => p.rate !== undefined);
    expect(rated.length).toBeGreaterThanOrEqual(2);
    for (const p of rated) {
      // md never copies faster than its ceiling; the time left is what remains at that rate.
      expect(p.rate!).toBeGreaterThan(0);
      expect(p.rate!).toBeLessThanOrEqual(16 * 1024 * 1.05);
      expect(Math.abs(p.eta! - (((100 - p.percent) / 100) * p.totalKiB) / p.rate!)).toBeLessThanOrEqual(1.5);
    }
  });

  it('resync --wait waits for a running copy; --json prints one object and no progress; errors are JSON too', async () => {
    const { ctx, out } = setup();
    const progress: string[] = [];
    slow(ctx, progress);
    await netraidCreate(ctx, '/dev/sdb1', 8, 'lkdr8');
    await netraidExtend(ctx, { templateServer: 'server1', templatePartition: '/dev/sdb1', targetPartition: '/dev/sdb5', targetAddress: '10.0.0.2', port: 10818, number: 8 });
    expect(progress).toEqual([]); // without --wait extend returns at once, as in the seeds
    out.length = 0;
    const r = await netraidResync(ctx, 'lkdr8', { wait: true });
    expect(r).toMatchObject({ device: '/dev/md8', tag: 'lkdr8', state: 'mirroring', percent: 100 });
    expect(r.waitedS).toBeGreaterThan(0);
    expect(out[0]).toMatch(/^resynchronization of NetRAID device "\/dev\/md8" of resource "lkdr8" has started \(\d+% done\)$/);
    expect(out.at(-1)).toBe('resynchronization of NetRAID device "/dev/md8" of resource "lkdr8" has finished');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (const l of progress) expect(l).toMatch(PROGRESS);

    // --json: in sync already, one object; the command's text and progress lines are not printed.
    const written: string[] = [];
    out.length = 0;
    progress.length = 0;
    await resyncAsJson(ctx, 'lkdr8', true, (s) => written.push(s));
    expect(written).toHaveLength(1);
    expect(JSON.parse(written[0]!)).toEqual({ device: '/dev/md8', tag: 'lkdr8', state: 'mirroring', percent: 100, message: 'resynchronization of NetRAID device "/dev/md8" of resource "lkdr8" has finished' });
    expect(process.exitCode).toBe(0);
    written.length = 0;
    await resyncAsJson(ctx, 'nosuch', true, (s) => written.push(s));
    expect(JSON.parse(written[0]!)).toMatchObject({ exitCode: 1, error: { number: 104005 } });
    expect(process.exitCode).toBe(1);
    expect(out).toEqual([]);
    expect(progress).toEqual([]);
    process.exitCode = 0;
  });

  it('resync --wait on a backup that fails during the copy is 104003 with the state it ended in', async () => {
    const { ctx, p, link } = setup();
    const progress: string[] = [];
    slow(ctx, progress);
    await netraidCreate(ctx, '/dev/sdb1', 9, 'lkdr9');
    await netraidExtend(ctx, { templateServer: 'server1', templatePartition: '/dev/sdb1', targetPartition: '/dev/sdb5', targetAddress: '10.0.0.2', port: 10819, number: 9 });
    const waiting = netraidResync(ctx, 'lkdr9', { wait: true });
    await until(async () => progress.length >= 1);
    link.up = false;
    p.replication.serverGone(9);
    p.replication.write('/dev/md9', 0, MiB); // md notices the dead member on the next write
    const e = await waiting.then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(VigilError);
    expect((e as VigilError).number).toBe(104003);
    expect((e as VigilError).message).toMatch(/the resync stopped after \d+\.\d s: the mirror is degraded/);
  });
});
