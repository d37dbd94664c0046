// The storage heartbeat against the memory SCSI fabric (persistent reservations with SPC-4
// rules): two systems register and write their records into the quorum area; when both evict
// each other at once exactly one wins; the loser is fenced, stops writing its record (the
// winner's reads see it stand still) and registers again only after it rejoined; a LUN that
// stops answering ends each command at its time limit and the round reports no write.
import { describe, expect, it } from 'vitest';
import { QUORUM_AREA_OFFSET, quorumRecordKey } from '../../../src/cluster/disk-record.js';
import { StorageHeartbeat, type StorageRound } from '../../../src/cluster/quorum/storage-heartbeat.js';
import { PeerRecordWatch } from '../../../src/cluster/quorum/storage-watch.js';
import { fenceKeyFor } from '../../../src/fencing/fence-key.js';
import { ScsiFence } from '../../../src/fencing/scsi-fence.js';
import type { BlockDevices } from '../../../src/platform/platform.js';
import { MemoryScsiFabric } from '../../../src/platform/memory/scsi-lun.js';

const LUN = '/dev/sdq';
const key = quorumRecordKey(Buffer.alloc(32, 7));
const noBlockDevices: BlockDevices = { list: async () => [], info: async () => { throw new Error('not used: the memory LUN takes SG_IO'); } };

function node(fabric: MemoryScsiFabric, name: string, clock: { now: number }, member: { since: number | undefined }) {
  const scsi = fabric.initiator(name);
  const fence = new ScsiFence(scsi, { system: name, commandTimeoutMs: 200, memberSince: () => member.since });
  const rounds: StorageRound[] = [];
  const hb = new StorageHeartbeat({
    device: LUN, localSystem: name, bootId: BigInt(name.length * 1000 + name.charCodeAt(1)), recordKey: key,
    platform: { scsi, directIo: fabric.directIo(), blockDevices: noBlockDevices },
    intervalMs: 400, fence, onRound: (r) => rounds.push(r), log: () => {}, now: () => clock.now,
  });
  return { hb, fence, rounds };
}

describe('storage heartbeat on a LUN with persistent reservations (memory fabric)', () => {
  it('both write and see each other; of two systems evicting each other at once exactly one wins; the loser stops writing until it rejoined', async () => {
    const fabric = new MemoryScsiFabric();
    const lun = fabric.addLun(LUN, { blocks: 4096, blockSize: 512 });
    const clock = { now: 0 };
    const m1 = { since: 0 };
    const m2 = { since: 0 };
    const a = node(fabric, 'n1', clock, m1);
    const b = node(fabric, 'n2', clock, m2);
    const watch = new PeerRecordWatch('n1');
    for (let i = 0; i < 3; i++) {
      clock.now += 400;
      const ra = (await a.hb.round())!;
      const rb = (await b.hb.round())!;
      expect([ra.error, rb.error, ra.fenced, rb.fenced]).toEqual([undefined, undefined, undefined, undefined]);
      expect(ra.wroteAtMs).toBe(clock.now);
      watch.observe(ra.records, ra.readAtMs!, Date.now());
    }
    expect(a.rounds.at(-1)!.records.map((r) => r.system)).toEqual(['n2']);
    expect(b.rounds.at(-1)!.records.map((r) => r.system)).toEqual(['n1']);
    expect(watch.unchangedFor('n2')).toBe(0);
    // Both registered; one WRITE EXCLUSIVE – REGISTRANTS ONLY reservation is held.
    expect([...lun.registeredKeys().values()].sort()).toEqual([fenceKeyFor('n1'), fenceKeyFor('n2')].sort());
    // The records live in the quorum area (768 KiB on), not in the comm path's.
    expect(lun.data.subarray(QUORUM_AREA_OFFSET, QUORUM_AREA_OFFSET + 8).toString('latin1')).toBe('VIGILDSK');
    expect(lun.data.subarray(512 * 1024, 512 * 1024 + 8).every((x) => x === 0)).toBe(true);

    // Partition: both evict the other at the same moment.
    const [ea, eb] = await Promise.all([a.fence.evict(LUN, 'n2'), b.fence.evict(LUN, 'n1')]);
    const outcomes = [ea.outcome, eb.outcome].sort();
    expect(outcomes).toEqual(['lost', 'won']);
    const winner = ea.outcome === 'won' ? a : b;
    const loser = ea.outcome === 'won' ? b : a;
    const winnerName = winner === a ? 'n1' : 'n2';
    const loserName = winner === a ? 'n2' : 'n1';
    expect([...lun.registeredKeys().values()]).toEqual([fenceKeyFor(winnerName)]);

    // From now on the loser writes nothing and says it is fenced; the winner sees its record stand still.
    const w = new PeerRecordWatch(winnerName);
    const evictedAt = clock.now;
    for (let i = 0; i < 5; i++) {
      clock.now += 400;
      const rl = (await loser.hb.round())!;
      expect(rl.wroteAtMs).toBeUndefined();
      expect(rl.fenced).toMatch(/no longer registered|RESERVATION CONFLICT|preempted/);
      const rw = (await winner.hb.round())!;
      expect(rw.wroteAtMs).toBe(clock.now);
      w.observe(rw.records, rw.readAtMs!, Date.now());
    }
    expect(w.unchangedFor(loserName)).toBe(clock.now - evictedAt - 400);
    // The LUN itself refuses the loser's writes now (not registered, registrants-only reservation).
    const loserScsi = fabric.initiator(loserName);
    await expect(loserScsi.write(LUN, QUORUM_AREA_OFFSET / 512, Buffer.alloc(512), 512, { timeoutMs: 200 })).rejects.toThrow(/RESERVATION CONFLICT/i);

    // Rejoined the cluster (a peer came alive after the fence): it registers again and writes.
    (loser === a ? m1 : m2).since = Date.now() + 1;
    clock.now += 400;
    const back = (await loser.hb.round())!;
    expect(back.fenced).toBeUndefined();
    expect(back.wroteAtMs).toBe(clock.now);
    expect([...lun.registeredKeys().values()].sort()).toEqual([fenceKeyFor('n1'), fenceKeyFor('n2')].sort());
  });

  it('evicted while cut off, back in the cluster before the storage link: the fence counts from when the key was last seen, so it registers again', async () => {
    const fabric = new MemoryScsiFabric();
    const lun = fabric.addLun(LUN, { blocks: 4096, blockSize: 512 });
    const clock = { now: 0 };
    const m1 = { since: 0 as number | undefined };
    const a = node(fabric, 'n1', clock, m1);
    const b = node(fabric, 'n2', clock, { since: 0 });
    clock.now = 400;
    await a.hb.round();
    await b.hb.round();
    // n1's link to the LUN is cut; n2 evicts it meanwhile.
    const release = lun.hang({ initiator: 'n1' });
    clock.now = 800;
    expect((await a.hb.round())!.wroteAtMs).toBeUndefined();
    expect((await b.fence.evict(LUN, 'n1')).outcome).toBe('won');
    // The comm paths come back first: n1 sees n2 alive again (a rejoin), then its storage link.
    await new Promise((r) => setTimeout(r, 5));
    m1.since = Date.now();
    release();
    clock.now = 1_200;
    const noticed = (await a.hb.round())!;
    expect(noticed.fenced).toMatch(/no longer registered/);
    expect(noticed.wroteAtMs).toBeUndefined();
    clock.now = 1_600;
    const back = (await a.hb.round())!;
    expect(back.fenced).toBeUndefined();
    expect(back.wroteAtMs).toBe(1_600);
    expect(lun.registeredKeys().get('n1')).toBe(fenceKeyFor('n1'));
  });

  it('evicted while it still sees the winner alive (the race of a partition): no register until a later rejoin', async () => {
    const fabric = new MemoryScsiFabric();
    const lun = fabric.addLun(LUN, { blocks: 4096, blockSize: 512 });
    const clock = { now: 0 };
    const m2 = { since: Date.now() - 10_000 as number | undefined };
    const a = node(fabric, 'n1', clock, { since: 0 });
    const b = node(fabric, 'n2', clock, m2);
    clock.now = 400;
    await a.hb.round();
    await b.hb.round();
    expect((await a.fence.evict(LUN, 'n2')).outcome).toBe('won');
    for (const t of [800, 1_200, 1_600]) {
      clock.now = t;
      const r = (await b.hb.round())!;
      expect(r.fenced).toBeDefined();
      expect(r.wroteAtMs).toBeUndefined();
    }
    expect(lun.registeredKeys().has('n2')).toBe(false);
  });

  it('a LUN that stops answering: each command ends at its time limit and the round writes nothing', async () => {
    const fabric = new MemoryScsiFabric();
    const lun = fabric.addLun(LUN, { blocks: 4096, blockSize: 512 });
    const clock = { now: 0 };
    const a = node(fabric, 'n1', clock, { since: 0 });
    clock.now = 400;
    expect((await a.hb.round())!.wroteAtMs).toBe(400);
    const release = lun.hang({ initiator: 'n1' });
    clock.now = 800;
    const started = Date.now();
    const r = (await a.hb.round())!;
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(r.wroteAtMs).toBeUndefined();
    expect(r.error).toMatch(/EPROBETIMEOUT: .* did not return within 200 ms/);
    release();
  });
});
