// netraid_status's numbers and the mirror machine's reactions, from md's facts alone.
import { describe, expect, it } from 'vitest';

import type { MdMember, MdSyncStatus } from '../../../src/platform/platform.js';
import { classifyMirror, exitStatusOf, MirrorMachine, netraidStatusCode, statusWord, type MirrorFacts } from '../../../src/replication/mirror-state.js';

function member(name: string | undefined, over: Partial<MdMember> = {}): MdMember {
  return { number: 0, dev: { major: 8, minor: 16 }, name, raidDisk: 0, faulty: false, active: true, sync: true, writeMostly: false, badBlocks: 0, ...over };
}

function facts(members: MdMember[], sync: Partial<MdSyncStatus> = {}): MirrorFacts {
  return {
    exists: true,
    members,
    sync: { action: 'idle', arrayState: 'clean', degraded: 0, speedMaxKiB: 'system', ...sync },
    localName: 'vdb',
    backupName: 'nbd0',
  };
}

const code = (f: MirrorFacts) => netraidStatusCode(classifyMirror(f));

describe('netraid_status from md facts', () => {
  it('-1 when the device does not exist', () => {
    expect(code({ exists: false, members: [], localName: 'vdb', backupName: 'nbd0' })).toBe(-1);
  });
  it('100 when both halves are in sync and nothing runs', () => {
    expect(code(facts([member('vdb'), member('nbd0', { raidDisk: 1 })]))).toBe(100);
  });
  it('0 when the backup is missing, failed, or a recovery has not begun', () => {
    expect(code(facts([member('vdb')], { degraded: 1 }))).toBe(0);
    expect(code(facts([member('vdb'), member('nbd0', { faulty: true, raidDisk: -1, sync: false })], { degraded: 1 }))).toBe(0);
    expect(code(facts([member('vdb'), member('nbd0', { raidDisk: -1, sync: false })], { action: 'recover', degraded: 1, completed: { doneSectors: 0, totalSectors: 100 } }))).toBe(0);
  });
  it('the percentage (1-99) while a resync or recovery runs', () => {
    const recovering = facts([member('vdb'), member('nbd0', { raidDisk: -1, sync: false })], { action: 'recover', degraded: 1, completed: { doneSectors: 1, totalSectors: 1000 } });
    expect(code(recovering)).toBe(1);
    recovering.sync!.completed = { doneSectors: 425, totalSectors: 1000 };
    expect(code(recovering)).toBe(42);
    recovering.sync!.completed = { doneSectors: 1000, totalSectors: 1000 };
    expect(code(recovering)).toBe(99);
    // The initial resync of two fresh members counts as progress too, not as in sync.
    expect(code(facts([member('vdb'), member('nbd0', { raidDisk: 1 })], { action: 'resync', completed: { doneSectors: 500, totalSectors: 1000 } }))).toBe(50);
  });
  it('-2 when the local disk failed and the backup is in sync; -3 when it is not', () => {
    expect(code(facts([member('vdb', { faulty: true, raidDisk: -1 }), member('nbd0', { raidDisk: 1 })], { degraded: 1 }))).toBe(-2);
    expect(code(facts([member(undefined, { faulty: true }), member('nbd0', { raidDisk: 1 })], { degraded: 1 }))).toBe(-2);
    expect(code(facts([member('vdb', { faulty: true }), member('nbd0', { raidDisk: -1, sync: false })], { action: 'recover', degraded: 2 }))).toBe(-3);
    // RAID1 keeps its last member "in sync" and reports the array broken instead...
    expect(code(facts([member('vdb')], { arrayState: 'broken', degraded: 1 }))).toBe(-3);
    // ...or, where it could, logs the failed writes as bad blocks of that member.
    expect(code(facts([member('vdb', { faulty: true, raidDisk: -1 }), member('nbd0', { raidDisk: 1, badBlocks: 2 })], { degraded: 1 }))).toBe(-3);
  });
  it('exit statuses a shell sees: -1 255, -2 254, -3 253, others unchanged', () => {
    expect([-3, -2, -1, 0, 42, 100].map(exitStatusOf)).toEqual([253, 254, 255, 0, 42, 100]);
  });
  it("netraid_info's status words", () => {
    expect(statusWord(classifyMirror(facts([member('vdb'), member('nbd0', { raidDisk: 1 })])))).toBe('Mirroring');
    expect(statusWord(classifyMirror(facts([member('vdb')], { degraded: 1 })))).toBe('Broken');
    expect(statusWord(classifyMirror(facts([member('vdb'), member('nbd0', { sync: false })], { action: 'recover', completed: { doneSectors: 3, totalSectors: 10 } })))).toBe('Resync [30%]');
  });
});

describe('MirrorMachine', () => {
  const inSync = classifyMirror(facts([member('vdb'), member('nbd0', { raidDisk: 1 })]));
  const backupFailed = classifyMirror(facts([member('vdb'), member('nbd0', { faulty: true })], { degraded: 1 }));
  const backupGone = classifyMirror(facts([member('vdb')], { degraded: 1 }));
  const localFailed = classifyMirror(facts([member('vdb', { faulty: true }), member('nbd0', { raidDisk: 1 })], { degraded: 1 }));

  it('marks the backup stale first, drops it and schedules a reconnect when it fails', () => {
    const m = new MirrorMachine({ reconnectDelayMs: 1000, maxReconnectDelayMs: 8000 });
    expect(m.observe(inSync).map((a) => a.kind)).toEqual(['report']);
    expect(m.observe(backupFailed).map((a) => a.kind)).toEqual(['mark-backup-stale', 'drop-backup', 'reconnect-backup', 'report']);
    expect(m.backupIsCurrent).toBe(false);
    // Removed from the array: no second drop, no second reconnect while one is pending.
    expect(m.observe(backupGone).map((a) => a.kind)).toEqual(['report']);
  });
  it('backs off between failed reconnects and resets once connected', () => {
    const m = new MirrorMachine({ reconnectDelayMs: 1000, maxReconnectDelayMs: 4000 });
    m.observe(backupGone);
    const delays = [m.connectFailed(), m.connectFailed(), m.connectFailed()].map((a) => (a[0] as { delayMs: number }).delayMs);
    expect(delays).toEqual([2000, 4000, 4000]);
    m.connected();
    expect(m.observe(inSync).map((a) => a.kind)).toEqual(['mark-backup-current', 'report']);
    expect(m.backupIsCurrent).toBe(true);
  });
  it('a returning backup cuts the back-off short, only while reconnecting', () => {
    const m = new MirrorMachine({ reconnectDelayMs: 1000, maxReconnectDelayMs: 8000 });
    m.observe(inSync);
    expect(m.backupReturned()).toEqual([]);
    m.observe(backupGone);
    for (let i = 0; i < 4; i++) m.connectFailed();
    expect(m.backupReturned()).toEqual([{ kind: 'reconnect-backup', delayMs: 1000 }]);
    // The back-off starts over from the first delay.
    expect(m.connectFailed()).toEqual([{ kind: 'reconnect-backup', delayMs: 2000 }]);
    m.connected();
    expect(m.backupReturned()).toEqual([]);
  });
  it('leaves the backup alone when the local disk fails (the primary runs on the backup)', () => {
    const m = new MirrorMachine({ reconnectDelayMs: 1000, maxReconnectDelayMs: 4000 });
    m.observe(inSync);
    expect(m.observe(localFailed).map((a) => a.kind)).toEqual(['report']);
    expect(m.backupIsCurrent).toBe(true);
  });
});
