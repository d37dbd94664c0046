// The md/NBD contract: one scenario of named steps that the memory platform (on this host, see
// replication.contract.test.ts) and the Linux platform (inside a VM, see
// test/e2e/guest/replication-contract.ts) must both pass. It uses node:assert rather than
// vitest's expect so the guest can run it without a test runner; steps share one mirror and run
// in order, and a failed step stops the scenario.
import assert from 'node:assert/strict';

import { waitFor as poll } from '../../scripts/lib/wait.js';
import { VigilError } from '../../src/common/errors.js';
import { ProbeTimeoutError, SysError } from '../../src/platform/errors.js';
import { mdDataSizeBytes } from '../../src/platform/md-layout.js';
import type { BackupLink } from '../../src/replication/backup-link.js';
import type { ReplicationConfig } from '../../src/replication/config.js';
import { Mirror, type MirrorPlatform } from '../../src/replication/mirror.js';
import { netraidStatusCode } from '../../src/replication/mirror-state.js';

export interface ReplicationSubject {
  platform: MirrorPlatform;
  /** NetRAID number N (/dev/mdN, /dev/nbdN). */
  number: number;
  localDisk: string;
  localDiskBytes: number;
  /** The backup's export (at least as large as the local disk). */
  link: BackupLink;
  /** An export smaller than the local disk, or why there is none. */
  smallLink: BackupLink | string;
  config: ReplicationConfig;
  /** Writes `bytes` of fresh data through /dev/mdN at `offset`. */
  write(offset: number, bytes: number): Promise<void>;
  /** Sectors written to a block device so far (the block layer's counter). */
  writtenSectors(device: string): Promise<number>;
  /** The backup's server goes away (killed); I/O to it fails. */
  backupDown(): Promise<void>;
  backupUp(): Promise<void>;
  /** Makes md calls on /dev/mdN hang until the returned function is called, or why it cannot. */
  hangMd: (() => () => void) | string;
  /** How long a full resync of the local disk may take here. */
  resyncDeadlineMs: number;
}

export interface ScenarioContext {
  mirror: Mirror;
  events: { states: string[]; progress: number[]; stale: number; current: number; errors: Error[]; resyncs: string[]; resyncsDone: string[] };
}

export interface ContractStep {
  name: string;
  /** Set when this subject cannot run the step: the reason. */
  skip?: (s: ReplicationSubject) => string | undefined;
  run(s: ReplicationSubject, ctx: ScenarioContext): Promise<void>;
}

/** Polls `probe` until it returns a value (the shared polling loop), and returns that value. */
async function waitFor<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  let value: T | undefined;
  await poll(async () => (value = await probe()) !== undefined, { deadlineMs, intervalMs: 100, what });
  return value!;
}

async function statusCode(mirror: Mirror): Promise<number> {
  return netraidStatusCode(await mirror.status());
}

function expectVigilError(err: unknown, number: number): true {
  assert.ok(err instanceof VigilError, `expected VigilError ${number}, got ${String(err)}`);
  assert.equal(err.number, number, err.message);
  return true;
}

export const REPLICATION_CONTRACT: readonly ContractStep[] = [
  {
    name: 'creates a degraded RAID1 (metadata 1.0) with an internal write-intent bitmap and the configured speed limit',
    async run(s, ctx) {
      await ctx.mirror.create();
      const info = await s.platform.md.arrayInfo(ctx.mirror.md, 5000);
      assert.equal(info.level, 1);
      assert.equal(info.raidDisks, 2);
      assert.equal(info.activeDisks, 1);
      assert.equal(info.metadata, '1.0');
      // The size the kit's fit check for an existing file system predicts (platform/md-layout.ts).
      assert.equal(info.sizeKiB * 1024, mdDataSizeBytes(s.localDiskBytes), `md size ${info.sizeKiB} KiB over ${s.localDiskBytes} bytes`);
      const bitmap = await s.platform.md.bitmap(ctx.mirror.md, 5000);
      assert.notEqual(bitmap.location, 'none');
      assert.equal(bitmap.chunkBytes, s.config.bitmapChunkKiB * 1024);
      const sync = await s.platform.md.syncStatus(ctx.mirror.md, 5000);
      assert.equal(sync.speedMaxKiB, s.config.syncSpeedMaxKiB);
      assert.equal(sync.degraded, 1);
      const status = await ctx.mirror.status();
      assert.equal(status.state, 'degraded');
      assert.equal(status.backup, 'missing');
      assert.equal(netraidStatusCode(status), 0);
    },
  },
  {
    name: 'refuses to create the same NetRAID device twice (104010) and leaves it alone',
    async run(s, ctx) {
      await assert.rejects(ctx.mirror.create(), (err) => expectVigilError(err, 104010));
      assert.equal((await s.platform.md.arrayInfo(ctx.mirror.md, 5000)).activeDisks, 1);
    },
  },
  {
    name: 'refuses a target smaller than the source partition (104012) without touching the array',
    skip: (s) => (typeof s.smallLink === 'string' ? s.smallLink : undefined),
    async run(s, ctx) {
      const small = new Mirror(s.platform, { number: s.number, localPartition: s.localDisk, localSystem: 'primary' }, s.config, s.smallLink as BackupLink);
      await assert.rejects(small.attachBackup(), (err) => expectVigilError(err, 104012) && /less than the source/.test((err as Error).message));
      assert.equal((await s.platform.md.arrayInfo(ctx.mirror.md, 5000)).nrDisks, 1);
      assert.equal((await s.platform.nbd.status(ctx.mirror.nbdIndex, 5000)).connected, false);
    },
  },
  {
    name: 'attaches the backup over NBD and copies the whole partition to it, reporting progress',
    async run(s, ctx) {
      await ctx.mirror.watch();
      const how = await ctx.mirror.attachBackup();
      assert.equal(how, 'added');
      assert.deepEqual(ctx.events.resyncs, ['full']);
      const nbd = await s.platform.nbd.status(ctx.mirror.nbdIndex, 5000);
      assert.equal(nbd.connected, true);
      assert.ok((nbd.sizeBytes ?? 0) >= s.localDiskBytes, `NBD size ${nbd.sizeBytes} < ${s.localDiskBytes}`);
      assert.equal(typeof nbd.pid, 'number');
      // md's rate (sync_speed) while the copy runs: a whole number of KiB/s, read often enough
      // to catch the copy running however short it is here.
      const rates: number[] = [];
      await poll(
        async () => {
          const sync = await s.platform.md.syncStatus(ctx.mirror.md, 5000);
          if (sync.speedKiB !== undefined) rates.push(sync.speedKiB);
          return sync.action === 'idle' && (await statusCode(ctx.mirror)) === 100;
        },
        { deadlineMs: s.resyncDeadlineMs, intervalMs: 20, what: 'the mirror in sync' },
      );
      assert.ok(rates.length > 0, 'sync_speed never read a rate while the copy ran');
      assert.ok(rates.every((r) => Number.isInteger(r) && r >= 0), `sync_speed: ${rates.join(', ')}`);
      assert.ok(rates.some((r) => r > 0), `sync_speed never above 0: ${rates.join(', ')}`);
      assert.equal((await s.platform.md.syncStatus(ctx.mirror.md, 5000)).speedKiB, undefined, 'sync_speed with no resync running');
      assert.equal(await ctx.mirror.resyncRate(), 0);
      await waitFor('the mirroring state reported', 10_000, async () => (ctx.events.states.includes('mirroring') ? true : undefined));
      assert.ok(ctx.events.progress.length > 0, 'no progress event');
      await waitFor('the resync reported done', 10_000, async () => (ctx.events.resyncsDone.length > 0 ? true : undefined));
      assert.deepEqual(ctx.events.resyncsDone, ['full']);
      assert.ok(ctx.mirror.slot, 'backup slot not recorded');
      assert.ok((await s.platform.md.memberState(ctx.mirror.md, `nbd${s.number}`, 5000)).includes('failfast'), 'the backup is not failfast');
    },
  },
  {
    name: 'a vanished backup degrades the mirror, marks it stale, and writes go on',
    async run(s, ctx) {
      const staleBefore = ctx.events.stale;
      await s.backupDown();
      // The write that finds the backup gone completes once md has failed the backup.
      await s.write(0, 1 << 20);
      await waitFor('the backup marked failed', (s.config.nbdIoTimeoutSec + 20) * 1000, async () => {
        const st = await ctx.mirror.status();
        return st.backup !== 'in-sync' && st.local === 'in-sync' ? st : undefined;
      });
      await waitFor('a backup-stale event', 10_000, async () => (ctx.events.stale > staleBefore ? true : undefined));
      assert.equal(ctx.mirror.backupIsCurrent, false);
      // More writes while degraded, in a second region: both must be copied later.
      await s.write(s.config.bitmapChunkKiB * 1024 * 4, 1 << 20);
      assert.equal(await statusCode(ctx.mirror), 0);
    },
  },
  {
    name: 'the returning backup is re-added and only the chunks written meanwhile are copied',
    async run(s, ctx) {
      const nbd = `/dev/nbd${s.number}`;
      const currentBefore = ctx.events.current;
      const before = await s.writtenSectors(nbd);
      await s.backupUp();
      await waitFor('the backup re-attached', 60_000, async () => ((await s.platform.nbd.status(s.number, 5000)).connected ? true : undefined));
      await waitFor('the mirror in sync again', s.resyncDeadlineMs, async () => ((await statusCode(ctx.mirror)) === 100 ? true : undefined));
      const copied = (await s.writtenSectors(nbd)) - before;
      const chunkSectors = (s.config.bitmapChunkKiB * 1024) / 512;
      // Two regions of 1 MiB were written: at most two chunks each (plus one for md's own
      // bookkeeping), far below the whole partition.
      assert.ok(copied > 0, 'the re-add copied nothing');
      assert.ok(copied <= 5 * chunkSectors, `re-add copied ${copied} sectors; the bitmap allows ${5 * chunkSectors}`);
      // The watcher sees md's events a moment after the status read above: wait for its verdict.
      await waitFor('a backup-current event', 10_000, async () => (ctx.events.current > currentBefore ? true : undefined));
      assert.equal(ctx.mirror.backupIsCurrent, true);
      // What Vigil asked md for: a re-add, counted as a partial resync, and reported done.
      assert.deepEqual(ctx.events.resyncs, ['full', 'partial']);
      assert.deepEqual(ctx.events.resyncsDone, ['full', 'partial']);
    },
  },
  {
    // A system returning after a takeover carries this array's superblock, but may hold writes of
    // its own that never reached the array: without a re-add request it must be copied in full.
    name: 'a former member added without a re-add request (back after a takeover) is copied in full, not from the bitmap',
    async run(s, ctx) {
      const nbd = `/dev/nbd${s.number}`;
      // The old mirror stops following md (it would re-add the backup in its old role).
      ctx.mirror.close();
      await ctx.mirror.dropBackup();
      await s.write(0, 1 << 20);
      const fresh = new Mirror(s.platform, { number: s.number, localPartition: s.localDisk, localSystem: 'primary', backupSystem: 'backup' }, s.config, s.link);
      ctx.mirror = fresh;
      const before = await s.writtenSectors(nbd);
      assert.equal(await fresh.attachBackup(), 'added');
      await waitFor('the mirror in sync again', s.resyncDeadlineMs, async () => ((await statusCode(fresh)) === 100 ? true : undefined));
      const copied = (await s.writtenSectors(nbd)) - before;
      const sync = await s.platform.md.syncStatus(fresh.md, 5000);
      assert.equal(sync.action, 'idle');
      // md copies the whole data area (the partition less md's superblock and bitmap at its end).
      const dataSectors = (await s.platform.md.arrayInfo(fresh.md, 5000)).sizeKiB * 2;
      assert.ok(copied >= dataSectors, `the add copied ${copied} sectors of ${dataSectors}: taken back from the bitmap, not copied in full`);
    },
  },
  {
    name: 'failed kernel calls carry errno, syscall and path',
    async run(s) {
      await assert.rejects(s.platform.md.arrayInfo('/dev/md250', 5000), (err) => {
        assert.ok(err instanceof SysError, String(err));
        assert.ok(['ENOENT', 'ENODEV', 'ENXIO'].includes(err.code), err.code);
        assert.ok(err.errno > 0);
        assert.match(err.syscall, /open|ioctl\(GET_ARRAY_INFO\)/);
        assert.equal(err.path, '/dev/md250');
        return true;
      });
    },
  },
  {
    name: 'an md call that hangs in the kernel settles at its time limit',
    skip: (s) => (typeof s.hangMd === 'string' ? s.hangMd : undefined),
    async run(s, ctx) {
      const release = (s.hangMd as () => () => void)();
      try {
        const t0 = Date.now();
        await assert.rejects(s.platform.md.arrayInfo(ctx.mirror.md, 300), (err) => err instanceof ProbeTimeoutError);
        assert.ok(Date.now() - t0 < 2000);
      } finally {
        release();
      }
    },
  },
  {
    name: 'delete stops the array and frees the NBD device',
    async run(s, ctx) {
      await ctx.mirror.delete();
      assert.equal(await s.platform.md.exists(ctx.mirror.md, 5000), false);
      assert.equal((await s.platform.nbd.status(ctx.mirror.nbdIndex, 5000)).connected, false);
      assert.equal(await statusCode(ctx.mirror), -1);
    },
  },
];

export function newScenario(s: ReplicationSubject): ScenarioContext {
  const mirror = new Mirror(s.platform, { number: s.number, localPartition: s.localDisk, localSystem: 'primary', backupSystem: 'backup' }, s.config, s.link);
  const events: ScenarioContext['events'] = { states: [], progress: [], stale: 0, current: 0, errors: [], resyncs: [], resyncsDone: [] };
  mirror.on('resync-started', (r) => events.resyncs.push(r.kind));
  mirror.on('resync-done', (r) => events.resyncsDone.push(r.kind));
  mirror.on('state', (v) => events.states.push(v.state));
  mirror.on('progress', (p) => events.progress.push(p.percent));
  mirror.on('backup-stale', () => events.stale++);
  mirror.on('backup-current', () => events.current++);
  mirror.on('error', (e) => events.errors.push(e));
  return { mirror, events };
}

export interface StepResult {
  name: string;
  outcome: 'passed' | 'failed' | 'skipped' | 'not-run';
  detail?: string;
  ms: number;
}

/** Runs the scenario in order (for the guest runner); a failure stops it. */
export async function runScenario(s: ReplicationSubject): Promise<StepResult[]> {
  const ctx = newScenario(s);
  const results: StepResult[] = [];
  let failed = false;
  for (const step of REPLICATION_CONTRACT) {
    const t0 = Date.now();
    const why = step.skip?.(s);
    if (failed || why) {
      results.push({ name: step.name, outcome: failed ? 'not-run' : 'skipped', detail: why, ms: 0 });
      continue;
    }
    try {
      await step.run(s, ctx);
      results.push({ name: step.name, outcome: 'passed', ms: Date.now() - t0 });
    } catch (err) {
      failed = true;
      results.push({ name: step.name, outcome: 'failed', detail: (err as Error).stack ?? String(err), ms: Date.now() - t0 });
    }
  }
  ctx.mirror.close();
  return results;
}
