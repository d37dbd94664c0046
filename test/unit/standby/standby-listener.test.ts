// The listener loop over a memory LUN with a fake clock: the primary's records advance while it
// lives; a forged record in its slot and a stuck record are not heartbeats; at the time-out the
// listener fences the primary for real (PREEMPT AND ABORT of its key on the memory LUN), retries a
// fence that failed, writes the state at each change and ends active.
import { describe, expect, it } from 'vitest';
import { AREA_OFFSET, diskRecordKey, encodeHeader, encodeRecord, HEADER_BYTES, SLOT_BYTES } from '../../../src/cluster/disk-record.js';
import { fenceKeyFor } from '../../../src/fencing/fence-key.js';
import { ScsiFence } from '../../../src/fencing/scsi-fence.js';
import { createMemoryPlatform } from '../../../src/platform/memory/index.js';
import { MemoryScsiFabric } from '../../../src/platform/memory/scsi-lun.js';
import { PrimaryRecordReader } from '../../../src/standby/primary-record-reader.js';
import { runListener } from '../../../src/standby/standby-listener.js';
import type { StandbyStateRecord } from '../../../src/standby/standby-state-file.js';

const DEV = '/dev/sdr';
const HB = 1000;
const TIMEOUT = 5000;
const secret = Buffer.alloc(32, 7);
const key = diskRecordKey(secret);

function setup() {
  const fabric = new MemoryScsiFabric();
  const lun = fabric.addLun(DEV, { blocks: 4096 });
  const primary = createMemoryPlatform(undefined, { fabric, initiator: 'node1' });
  const standby = createMemoryPlatform(undefined, { fabric, initiator: 'node2' });
  encodeHeader().copy(lun.data, AREA_OFFSET);
  const slot = 5;
  const writeSlot = (b: Buffer) => b.copy(lun.data, AREA_OFFSET + HEADER_BYTES + slot * SLOT_BYTES);
  let seq = 0n;
  const beat = (wall: number) => writeSlot(encodeRecord(key, { slot, system: 'node1', bootId: 1n, seq: ++seq, timeMs: wall, state: 'running' }));
  return { fabric, lun, primary, standby, writeSlot, beat, slot };
}

describe('runListener on a memory LUN', () => {
  it('listens while node1 advances, ignores a forged record, fences node1 at the time-out and ends active', async () => {
    const t = setup();
    // node1 holds the LUN as the primary's gen/filesys would.
    const f1 = new ScsiFence(t.primary.scsi, { system: 'node1' });
    await f1.takeOver(DEV);
    const reader = await PrimaryRecordReader.open(DEV, 'node1', key, t.standby, 1000);
    expect(reader.how).toMatch(/^SG_IO: /);
    let now = 0;
    const wall0 = Date.now();
    let alive = true;
    let forgeAt = -1;
    const saved: StandbyStateRecord[] = [];
    const logs: string[] = [];
    let fenceAttempts = 0;
    let stoppedAt = 0;
    const fence = new ScsiFence(t.standby.scsi, { system: 'node2' });
    t.beat(wall0);
    const result = await runListener({
      primary: 'node1',
      timeoutMs: TIMEOUT,
      intervalMs: HB,
      io: reader.how,
      read: () => reader.read(),
      fence: async () => {
        // The first attempt fails (a transport error on the way); the retry holds.
        if (fenceAttempts++ === 0) throw new Error('transport failed');
        const r = await fence.takeOver(DEV);
        return `preempted ${r.preempted.join(', ')}`;
      },
      saveState: async (r) => void saved.push(r),
      log: (level, msg) => void logs.push(`${level}: ${msg}`),
      nowMs: () => now,
      wallMs: () => wall0 + now,
      sleep: async (ms) => {
        now += ms;
        if (now === 10 * HB) {
          alive = false;
          stoppedAt = now;
        }
        if (alive) t.beat(wall0 + now);
        // A forger (without the cluster key) overwrites node1's slot once node1 has stopped.
        if (!alive && forgeAt < 0) {
          forgeAt = now;
          t.writeSlot(encodeRecord(diskRecordKey(Buffer.alloc(32, 9)), { slot: t.slot, system: 'node1', bootId: 1n, seq: 999n, timeMs: wall0 + now, state: 'running' }));
        }
      },
    });
    expect(result.state).toBe('active');
    expect(result.why).toMatch(/^took over from node1: no record of node1|^took over from node1: node1's record vanished/);
    expect(result.why).toContain(`preempted ${'0x' + fenceKeyFor('node1').toString(16)}`);
    // Last heartbeat read at 9 s (written at 9 s, read after the 9 s sleep); takeover at 9 + 5 s, and the fence retried one interval later.
    expect(stoppedAt).toBe(10 * HB);
    expect(saved.map((s) => s.state)).toEqual(expect.arrayContaining(['listening', 'taking_over', 'active']));
    const takingOver = saved.find((s) => s.state === 'taking_over')!;
    expect(takingOver.since - wall0).toBe(9 * HB + TIMEOUT);
    expect(saved.at(-1)).toMatchObject({ state: 'active', pid: 0, heartbeats: 9 });
    expect(logs.some((l) => /^error: .*the fence failed \(transport failed\)/.test(l))).toBe(true);
    expect(fenceAttempts).toBe(2);
    // The LUN: node1's key is gone, node2 holds the reservation.
    const view = await fence.view(DEV);
    expect(view.view.keys).toEqual([fenceKeyFor('node2')]);
    expect(view.view.reservation?.key).toBe(fenceKeyFor('node2'));
    // node1's writes are refused now: first the notice that its registration was preempted, then RESERVATION CONFLICT.
    const write = () => t.primary.scsi.write(DEV, 4000, Buffer.alloc(512), 512, { timeoutMs: 1000 });
    await expect(write()).rejects.toThrow(/UNIT ATTENTION: registrations preempted/);
    await expect(write()).rejects.toThrow(/RESERVATION CONFLICT/);
  });

  it('starting active, it returns at once without reading', async () => {
    let reads = 0;
    const r = await runListener({
      primary: 'node1', timeoutMs: TIMEOUT, intervalMs: HB, io: 'x',
      read: async () => (reads++, { rejected: [] }),
      fence: async () => 'no',
      saveState: async () => undefined,
      log: () => undefined,
      nowMs: () => 0, wallMs: () => 0, sleep: async () => undefined,
      initial: { state: 'active', why: 'took over yesterday' },
    });
    expect(r).toEqual({ state: 'active', why: 'took over yesterday' });
    expect(reads).toBe(0);
  });
});
