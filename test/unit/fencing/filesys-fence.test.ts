// The fence in gen/filesys, on two memory nodes sharing one simulated LUN: restore takes the LUN
// over before mounting, a survivor preempts the frozen owner, the owner's monitor finds itself
// fenced (a fatal failure: out of service, not retried, not moved), its writes meet RESERVATION
// CONFLICT, and it does not register again until it has rejoined the cluster.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { fenceKeyFor } from '../../../src/fencing/fence-key.js';
import { ScsiFence } from '../../../src/fencing/scsi-fence.js';
import { FilesysKit } from '../../../src/kits/filesys/filesys-kit.js';
import type { ActionContext, ResourceInstance } from '../../../src/kits/kit.js';
import { createMemoryPlatform, MemoryScsiFabric, type MemoryPlatform } from '../../../src/platform/memory/index.js';
import { MemoryMounts } from '../../../src/platform/memory/mounts.js';
import { ScsiReservationConflictError } from '../../../src/platform/scsi/errors.js';

const LUN = '/dev/sdb';
const inst: ResourceInstance = { tag: 'data', id: '/srv/data', app: 'gen/filesys', info: { device: '/dev/sdb1', fsType: 'ext4', fence: 'scsi', fenceDevice: LUN } };

interface Node {
  name: string;
  plat: MemoryPlatform;
  mm: MemoryMounts;
  kit: FilesysKit;
  fence: ScsiFence;
  memberSince: number | undefined;
  clock: number;
  logs: string[];
  ctx: () => ActionContext;
}

describe('gen/filesys with the SCSI fence (memory LUN shared by two nodes)', () => {
  let fabric: MemoryScsiFabric;
  let dir: string;
  let a: Node;
  let b: Node;

  const makeNode = (name: string): Node => {
    const plat = createMemoryPlatform(undefined, { fabric, initiator: name });
    plat.kernel.addBlockDevice('/dev/sdb1', { sizeBytes: 1 << 30, logicalSectorSize: 512, readOnly: false });
    const mm = new MemoryMounts(plat.kernel);
    const node = { name, plat, mm, memberSince: 0 as number | undefined, clock: 1000, logs: [] as string[] } as Node;
    node.fence = new ScsiFence(plat.scsi, { system: name, commandTimeoutMs: 500, memberSince: () => node.memberSince, now: () => node.clock });
    const fstab = join(dir, `fstab-${name}`);
    writeFileSync(fstab, '');
    node.kit = new FilesysKit(
      { mountTable: plat.mounts, mountControl: mm, holders: mm, probe: mm, timedStat: plat.timedStat },
      { fstabPath: fstab, callTimeoutMs: 300, holderGraceMs: 10, fence: { service: node.fence, defaultOn: false } },
    );
    node.ctx = () => ({ system: name, signal: new AbortController().signal, log: (_l, msg) => node.logs.push(msg) });
    return node;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-fence-'));
    fabric = new MemoryScsiFabric();
    fabric.addLun(LUN, { blocks: 4096 });
    a = makeNode('node1');
    b = makeNode('node2');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const keysOnLun = () => [...fabric.lun(LUN).registeredKeys().values()].sort();

  it('extend registers each node; restore preempts the others and reserves BEFORE mounting', async () => {
    expect((await a.kit.extend(inst, a.ctx())).ok).toBe(true);
    expect((await b.kit.extend(inst, b.ctx())).ok).toBe(true);
    expect(keysOnLun()).toEqual([fenceKeyFor('node1'), fenceKeyFor('node2')].sort());
    // The mount happens only after the reservation: a mount failure leaves the reservation, never the reverse.
    a.mm.mountFailures.set('/srv/data', 'mount: boom');
    expect((await a.kit.restore(inst, a.ctx())).ok).toBe(false);
    expect((await a.plat.scsi.readReservation(LUN, { timeoutMs: 500 })).reservation?.key).toBe(fenceKeyFor('node1'));
    a.mm.mountFailures.delete('/srv/data');
    expect((await a.kit.restore(inst, a.ctx())).ok).toBe(true);
    expect(keysOnLun()).toEqual([fenceKeyFor('node1')]);
    expect(await a.kit.quickCheck(inst, 0, a.ctx())).toMatchObject({ ok: true });
  });

  it('a survivor takes over from a frozen owner; the owner finds itself fenced, its writes conflict, it stays unregistered until it rejoins', async () => {
    await a.kit.extend(inst, a.ctx());
    await b.kit.extend(inst, b.ctx());
    expect((await a.kit.restore(inst, a.ctx())).ok).toBe(true);
    // node1 "freezes"; node2 declares it dead and restores: preempt-and-abort first, then mount.
    expect((await b.kit.restore(inst, b.ctx())).ok).toBe(true);
    expect(b.logs.join('\n')).toMatch(new RegExp(`preempted 0x${fenceKeyFor('node1').toString(16)}`));
    expect(keysOnLun()).toEqual([fenceKeyFor('node2')]);
    expect((await b.plat.scsi.readReservation(LUN, { timeoutMs: 500 })).reservation).toMatchObject({ key: fenceKeyFor('node2'), type: 'write-exclusive-registrants-only' });

    // node1 thaws: its first command hears of the preemption, its writes are refused by the LUN...
    await expect(a.plat.scsi.write(LUN, 100, Buffer.alloc(512), 512, { timeoutMs: 500 })).rejects.toMatchObject({ name: 'ScsiUnitAttentionError', sense: { asc: 0x2a, ascq: 0x05 } });
    await expect(a.plat.scsi.write(LUN, 100, Buffer.alloc(512), 512, { timeoutMs: 500 })).rejects.toBeInstanceOf(ScsiReservationConflictError);
    // ...and its monitor says so: fatal, so the engine takes it out of service here without retrying or moving it.
    const check = await a.kit.quickCheck(inst, 0, a.ctx());
    expect(check).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    expect(check.reason).toMatch(/fenced off \/dev\/sdb by another system/);
    expect((await a.kit.remove(inst, a.ctx())).ok).toBe(true);
    expect(keysOnLun()).toEqual([fenceKeyFor('node2')]); // remove did not release node2's reservation

    // Before it has rejoined, node1 will not put its key back.
    a.clock = 2000;
    const early = await a.kit.restore(inst, a.ctx());
    expect(early).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    expect(early.reason).toMatch(/has not rejoined the cluster/);
    expect(keysOnLun()).toEqual([fenceKeyFor('node2')]);
    // Once it has seen the cluster again (a peer came ALIVE after the fence), it may take over again.
    expect((await b.kit.remove(inst, b.ctx())).ok).toBe(true);
    a.memberSince = 3000;
    expect((await a.kit.restore(inst, a.ctx())).ok).toBe(true);
    expect(keysOnLun()).toEqual([fenceKeyFor('node1')]);
  });

  it('a thawed owner whose file system failed recovers nothing: its recover finds itself fenced and never preempts the survivor', async () => {
    await a.kit.extend(inst, a.ctx());
    await b.kit.extend(inst, b.ctx());
    expect((await a.kit.restore(inst, a.ctx())).ok).toBe(true);
    expect((await b.kit.restore(inst, b.ctx())).ok).toBe(true); // node2 took over while node1 stood still
    // node1 thaws in the middle of a check past its fence step: the write probe fails (the kernel
    // turned the file system read-only after the conflict) and local recovery runs first.
    const r = await a.kit.recover(inst, a.ctx());
    expect(r).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    expect(r.reason).toMatch(/node1 is fenced off \/dev\/sdb/);
    expect(keysOnLun()).toEqual([fenceKeyFor('node2')]);
    expect((await b.plat.scsi.readReservation(LUN, { timeoutMs: 500 })).reservation?.key).toBe(fenceKeyFor('node2'));
    expect(await b.kit.quickCheck(inst, 0, b.ctx())).toMatchObject({ ok: true });
    // The engine takes it out of service here (the failure is fatal). Not mounted any more,
    // recover still refuses rather than mounting, and the recover latched the fence: node1 does
    // not register again until it has rejoined.
    expect((await a.kit.remove(inst, a.ctx())).ok).toBe(true);
    expect(await a.kit.recover(inst, a.ctx())).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    a.clock = 2000;
    expect((await a.kit.restore(inst, a.ctx())).reason).toMatch(/has not rejoined the cluster/);
    expect(keysOnLun()).toEqual([fenceKeyFor('node2')]);
  });

  it('recover takes back a reservation this system lost while still registered, and a LUN that lost every registration', async () => {
    await a.kit.extend(inst, a.ctx());
    await b.kit.extend(inst, b.ctx());
    expect((await a.kit.restore(inst, a.ctx())).ok).toBe(true);
    expect(await a.fence.release(LUN)).toBe(true);
    expect(await a.kit.quickCheck(inst, 0, a.ctx())).toMatchObject({ ok: false, recoveryClass: 'retry-here' });
    expect((await a.kit.recover(inst, a.ctx())).ok).toBe(true);
    expect((await a.plat.scsi.readReservation(LUN, { timeoutMs: 500 })).reservation?.key).toBe(fenceKeyFor('node1'));
    // A CLEAR (as after a target restart without persisted reservations): nobody fenced node1.
    await b.fence.register(LUN);
    await b.plat.scsi.clear(LUN, fenceKeyFor('node2'), { timeoutMs: 500 });
    expect(keysOnLun()).toEqual([]);
    expect((await a.kit.recover(inst, a.ctx())).ok).toBe(true);
    expect(keysOnLun()).toEqual([fenceKeyFor('node1')]);
    expect((await a.plat.scsi.readReservation(LUN, { timeoutMs: 500 })).reservation?.key).toBe(fenceKeyFor('node1'));
  });

  it('remove keeps the reservation: a fenced system cannot write even after the owner went out of service', async () => {
    await a.kit.restore(inst, a.ctx());
    await b.kit.restore(inst, b.ctx()); // b preempts a
    expect((await b.kit.remove(inst, b.ctx())).ok).toBe(true);
    expect((await b.plat.scsi.readReservation(LUN, { timeoutMs: 500 })).reservation?.key).toBe(fenceKeyFor('node2'));
    await a.plat.scsi.testUnitReady(LUN, { timeoutMs: 500 }).catch(() => undefined); // the preemption notice
    await expect(a.plat.scsi.write(LUN, 100, Buffer.alloc(512), 512, { timeoutMs: 500 })).rejects.toBeInstanceOf(ScsiReservationConflictError);
    // The service can give the reservation back explicitly (an administrator's choice, not the kit's).
    expect(await b.fence.release(LUN)).toBe(true);
    expect((await b.plat.scsi.readReservation(LUN, { timeoutMs: 500 })).reservation).toBeUndefined();
    expect(keysOnLun()).toEqual([fenceKeyFor('node2')]);
  });

  it('refuses clearly: a LUN without reservations, fence=scsi without a fence, a bad fence value', async () => {
    fabric.lun(LUN).persistentReservations = false;
    const r = await a.kit.extend(inst, a.ctx());
    expect(r).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    expect(r.reason).toMatch(/does not implement SCSI-3 persistent reservations/);
    expect((await a.kit.restore(inst, a.ctx())).recoveryClass).toBe('fatal');
    expect(a.mm.calls).toEqual([]);

    const plain = new FilesysKit({ mountTable: a.plat.mounts, mountControl: a.mm, holders: a.mm, probe: a.mm, timedStat: a.plat.timedStat }, { fstabPath: join(dir, 'fstab-node1') });
    expect((await plain.restore(inst, a.ctx())).reason).toMatch(/no SCSI fence/);
    expect(plain.validate({ ...inst, info: { ...inst.info, fence: 'yes' } }).reason).toBe('fence must be scsi or none, not "yes"');
  });

  it('a LUN that does not answer in time fails the monitor as retry-here, not as fenced', async () => {
    await a.kit.restore(inst, a.ctx());
    const release = fabric.lun(LUN).hang({ initiator: 'node1' });
    try {
      const r = await a.kit.quickCheck(inst, 0, a.ctx());
      expect(r).toMatchObject({ ok: false, recoveryClass: 'retry-here' });
      expect(r.reason).toMatch(/EPROBETIMEOUT/);
    } finally {
      release();
    }
  });
});
