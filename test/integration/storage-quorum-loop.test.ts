// The storage heartbeat of storage quorum and witness on a real block device of this host: a loop
// device (it takes no SG_IO, so the I/O is O_DIRECT with O_DSYNC writes, each on an addon thread
// with a time limit) whose backing file lives on a small ext4 file system of its own (another
// loop device). Two heartbeats, n1 and n2, write their records into the quorum area and read
// each other's; n2 stopped → n1's storage witness confirms it dead once its record stood still
// N x T; the "storage link cut" (`fsfreeze -f` of the backing file system: every write to the
// quorum device hangs in the kernel, as on a dead path) → n1's writes end at their time limit
// and its verdict turns to no quorum after (N-1) x T; `fsfreeze -u` → quorum again. The
// storage metrics built from n1's facts say the same (peer record stopped, own record age past
// (N-1) x T during the cut). (This
// kernel has no device-mapper, so `dmsetup suspend` is not available for the cut.) Persistent
// reservations do not exist on a loop device: they are tested on the memory fabric
// (test/unit/quorum/storage-heartbeat.test.ts) and on the VM cluster's iSCSI LUN.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quorumRecordKey } from '../../src/cluster/disk-record.js';
import { StorageHeartbeat, type StorageRound } from '../../src/cluster/quorum/storage-heartbeat.js';
import { PeerRecordWatch, storageVerdict, type StorageTiming } from '../../src/cluster/quorum/storage-watch.js';
import { StorageWitness } from '../../src/cluster/quorum/storage-witness.js';
import { storageStatus } from '../../src/cluster/quorum/storage-status.js';
import { quorumSnapshotOf } from '../../src/daemon/wire-metrics.js';
import { AgentMetrics } from '../../src/metrics/registry.js';
import { LinuxBlockDevices } from '../../src/platform/linux/block-devices.js';
import { LinuxDirectBlockIo, LinuxScsiGeneric } from '../../src/platform/linux/scsi-generic.js';
import { haveRoot } from './cluster/processes.js';

const haveLosetup = spawnSync('losetup', ['--version']).status === 0;
const haveTools = ['mkfs.ext4', 'fsfreeze', 'mount'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);
const canRun = haveRoot && haveLosetup && haveTools;
const reason = `needs root, losetup, mkfs.ext4, mount and fsfreeze (root=${haveRoot} losetup=${haveLosetup} tools=${haveTools})`;
const TIMING: StorageTiming = { intervalMs: 200, numHbeats: 4 };

function run(cmd: string, ...args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<number> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
  return performance.now();
}

describe.skipIf(!canRun)(canRun ? 'storage heartbeat on a loop device' : `storage heartbeat on a loop device (skipped: ${reason})`, () => {
  let dir = '';
  let outerLoop = '';
  let loop = '';
  let mnt = '';
  let device = '';
  const key = quorumRecordKey(Buffer.alloc(32, 3));
  const platform = { scsi: new LinuxScsiGeneric(), directIo: new LinuxDirectBlockIo(), blockDevices: new LinuxBlockDevices() };
  const beats: StorageHeartbeat[] = [];
  const logs: string[] = [];

  const heartbeat = (name: string, onRound: (r: StorageRound) => void) => {
    const hb = new StorageHeartbeat({
      device, localSystem: name, bootId: BigInt(Date.now()) * 2n + (name === 'n1' ? 1n : 0n), recordKey: key, platform,
      intervalMs: TIMING.intervalMs, onRound, log: (_l, m) => logs.push(`${name}: ${m}`),
    });
    beats.push(hb);
    return hb;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-sq-'));
    const outer = join(dir, 'outer.img');
    writeFileSync(outer, '');
    truncateSync(outer, 32 << 20);
    outerLoop = run('losetup', '-f', '--show', outer).trim();
    run('mkfs.ext4', '-q', '-F', outerLoop);
    mnt = join(dir, 'm');
    mkdirSync(mnt);
    run('mount', outerLoop, mnt);
    const img = join(mnt, 'quorum.img');
    writeFileSync(img, '');
    truncateSync(img, 8 << 20);
    loop = run('losetup', '-f', '--show', img).trim();
    device = loop;
  });

  afterAll(async () => {
    for (const b of beats) b.stop();
    if (mnt) spawnSync('fsfreeze', ['-u', mnt]);
    await sleep(500);
    if (loop) spawnSync('losetup', ['-d', loop]);
    if (mnt) spawnSync('umount', [mnt]);
    if (outerLoop) spawnSync('losetup', ['-d', outerLoop]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('records move, a stopped system is confirmed dead after N x T, a storage cut costs quorum after (N-1) x T', async () => {
    const watch = new PeerRecordWatch('n1');
    let last1: StorageRound | undefined;
    let wrote1: number | undefined;
    const n1 = heartbeat('n1', (r) => {
      last1 = r;
      wrote1 = r.wroteAtMs ?? wrote1; // a failed round keeps the last write (as the gate does)
      if (r.readAtMs !== undefined) watch.observe(r.records, r.readAtMs, Date.now());
    });
    let n2Rounds = 0;
    const n2 = heartbeat('n2', () => n2Rounds++);
    n1.start();
    n2.start();
    const verdict = () => storageVerdict({ nowMs: performance.now(), wroteAtMs: wrote1, fenced: last1?.fenced, lastError: last1?.error }, TIMING);
    // n1's metrics, from the same facts vigild's quorum subsystem keeps (witness only: no gate evictions).
    const metrics = new AgentMetrics({
      version: '1',
      sources: {
        localSystem: () => 'n1',
        quorum: () => {
          const v = verdict();
          const storage = storageStatus({
            nowMs: performance.now(), device, serves: ['witness'], io: n1.describe(), timing: TIMING, lastWroteAtMs: wrote1, lastRound: last1,
            watch, systems: ['n2'], alive: new Set(), suspects: [], gate: undefined,
          });
          return quorumSnapshotOf({
            mode: 'majority', quorum: v?.quorum, votes: v?.votes ?? 0, total: 1, reason: v?.reason ?? '', open: v?.quorum === true, closedReason: '',
            holdUntilMs: 0, survivorHoldMs: 0, quarantineUntilMs: 0, witnesses: [], storage,
          });
        },
      },
    });
    const metric = async (series: string) => {
      const line = (await metrics.scrape()).body.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };

    await until('n1 sees n2 record', () => last1?.records.some((r) => r.system === 'n2') === true && n2Rounds > 3);
    await sleep(1_000);
    expect(n1.describe()).toMatch(/^O_DIRECT: SG_IO does not apply/);
    expect(last1!.error).toBeUndefined();
    expect(verdict()?.quorum).toBe(true);
    // n2's record moves: never stands still longer than about two intervals.
    expect(watch.unchangedFor('n2')!).toBeLessThan(2 * TIMING.intervalMs + 100);

    // n2 stops (crashed): the storage witness confirms it dead once its record stood still N x T.
    const witness = new StorageWitness(TIMING.numHbeats * TIMING.intervalMs);
    n2.stop();
    const stoppedAt = performance.now();
    witness.step({ type: 'suspect', system: 'n2', nowMs: stoppedAt });
    let confirmedAt = 0;
    await until('n2 confirmed dead', () => {
      const out = witness.tick(performance.now(), (s) => watch.unchangedFor(s));
      // (A 'vetoed' may come first: n2's last write, issued before the stop, read after it.)
      if (out.some((o) => o.type === 'confirmed-dead')) confirmedAt = performance.now();
      return confirmedAt > 0;
    });
    const deadMs = confirmedAt - stoppedAt;
    expect(await metric('vigil_quorum_storage_peer_record_state{system="n2",state="stopped"}')).toBe(1);
    expect(await metric('vigil_quorum_storage_peer_record_age_seconds{system="n2"}')).toBeGreaterThanOrEqual((TIMING.numHbeats * TIMING.intervalMs) / 1000);
    expect(await metric(`vigil_quorum_storage_own_record_age_seconds{device="${device}"}`)).toBeLessThan((2 * TIMING.intervalMs) / 1000 + 0.5);
    expect(deadMs).toBeGreaterThanOrEqual(TIMING.numHbeats * TIMING.intervalMs - TIMING.intervalMs);
    // (reads lag under load: a generous upper bound; the lower one is the safety property)
    expect(deadMs).toBeLessThan(TIMING.numHbeats * TIMING.intervalMs + 5 * TIMING.intervalMs);

    // n2 back (a new boot): its record moves again, a new suspicion is vetoed.
    const n2b = heartbeat('n2', () => {});
    n2b.start();
    await until('n2 record moving again', () => (watch.unchangedFor('n2') ?? Infinity) < TIMING.intervalMs);
    expect(await metric('vigil_quorum_storage_peer_record_state{system="n2",state="moving"}')).toBe(1);
    const again = new StorageWitness(TIMING.numHbeats * TIMING.intervalMs);
    again.step({ type: 'suspect', system: 'n2', nowMs: performance.now() });
    let vetoed = false;
    await until('n2 seen alive again', () => {
      const out = again.tick(performance.now(), (s) => watch.unchangedFor(s));
      expect(out.some((o) => o.type === 'confirmed-dead')).toBe(false);
      vetoed ||= out.some((o) => o.type === 'vetoed');
      return vetoed;
    });
    // Still alive for longer than N x T: never confirmed.
    const aliveUntil = performance.now() + 2 * TIMING.numHbeats * TIMING.intervalMs;
    while (performance.now() < aliveUntil) {
      expect(again.tick(performance.now(), (s) => watch.unchangedFor(s)).some((o) => o.type === 'confirmed-dead')).toBe(false);
      await sleep(50);
    }

    // The storage link is cut: every write hangs in the kernel.
    expect(verdict()?.quorum).toBe(true);
    run('fsfreeze', '-f', mnt);
    const cutAt = performance.now();
    const lostAt = await until('n1 loses quorum', () => verdict()?.quorum === false, 5_000);
    const lossMs = lostAt - cutAt;
    expect(verdict()!.reason).toMatch(/own storage record not written/);
    expect(await metric(`vigil_quorum_storage_own_record_age_seconds{device="${device}"}`)).toBeGreaterThan(((TIMING.numHbeats - 1) * TIMING.intervalMs) / 1000);
    expect(await metric('vigil_quorum_present{mode="majority"}')).toBe(0);
    expect(last1!.error).toMatch(/EPROBETIMEOUT|did not return/);
    // No quorum (N-1) x T after the last write that got through (a write in flight at the freeze
    // may still complete), not earlier; and soon after the cut.
    const lastWrite = wrote1!;
    expect(lostAt - lastWrite).toBeGreaterThanOrEqual((TIMING.numHbeats - 1) * TIMING.intervalMs);
    expect(lossMs).toBeLessThan((TIMING.numHbeats - 1) * TIMING.intervalMs + 2 * TIMING.intervalMs);

    run('fsfreeze', '-u', mnt);
    const healedAt = performance.now();
    const backAt = await until('n1 has quorum again', () => verdict()?.quorum === true, 10_000);
    console.log(`storage heartbeat on ${device} (${loop}): T=${TIMING.intervalMs} ms N=${TIMING.numHbeats}: stopped system confirmed dead after ${deadMs.toFixed(0)} ms; storage cut -> no quorum after ${lossMs.toFixed(0)} ms (${(lostAt - lastWrite).toFixed(0)} ms after the last write); quorum back ${(backAt - healedAt).toFixed(0)} ms after the thaw`);
  });
});
