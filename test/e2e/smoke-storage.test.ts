// Smoke tests of the VM cluster's storage VM: two nodes logged in over iSCSI to a LUN that the
// kernel's LIO target exports from the storage VM's own disk. Proves what a shared-storage kit and
// a SCSI-reservation fence rely on, on a real kernel: both nodes see the same bytes; SCSI-3
// persistent reservations hold off the other node's writes and can be preempted; and a storage
// outage (frozen target, cut link) stalls I/O that then completes when it is undone.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { useCluster, vmUnavailable } from './helpers/vmcluster.js';

const unavailable = vmUnavailable ?? (spawnSync('sh', ['-c', 'command -v iscsiadm']).status !== 0 ? 'open-iscsi (iscsiadm) is not installed' : undefined);
const title = unavailable ? `VM cluster storage smoke (skipped: ${unavailable})` : 'VM cluster storage smoke';

describe.skipIf(!!unavailable)(title, () => {
  const replacementTimeoutS = 10;
  const cluster = useCluster({ nodes: 2, iscsiLunsMb: [32, 8], iscsiReplacementTimeoutS: replacementTimeoutS, localDisksMb: [16] });

  /** Write 512 bytes at `sector` of the node's LUN around the page cache (O_DIRECT, O_SYNC). */
  const writeSector = async (node: string, sector: number, data: Buffer) => {
    const c = cluster();
    const n = c.node(node);
    await n.writeFile(`/tmp/sector-${sector}`, data);
    return n.exec(`dd if=/tmp/sector-${sector} of=${c.iscsiDisk(node)} bs=512 seek=${sector} count=1 oflag=direct,sync status=none`, { timeoutMs: 60_000 });
  };
  const readSector = async (node: string, sector: number): Promise<Buffer> => {
    const c = cluster();
    const n = c.node(node);
    await n.run(`dd if=${c.iscsiDisk(node)} of=/tmp/read-${sector} bs=512 skip=${sector} count=1 iflag=direct status=none`, { timeoutMs: 60_000 });
    return n.readFile(`/tmp/read-${sector}`);
  };

  /** 'waiting' if the I/O has not finished after `ms`, else 'done'. */
  const stateAfter = (io: Promise<unknown>, ms: number) =>
    Promise.race([io.then(() => 'done'), new Promise<string>((r) => setTimeout(() => r('waiting'), ms))]);

  it('shows both nodes the same two LUNs: what node1 writes, node2 reads byte for byte', async () => {
    const c = cluster();
    for (const n of ['node1', 'node2']) {
      for (const [lun, mb] of [[0, 32], [1, 8]] as const) {
        const inq = await c.node(n).run(`sg_inq ${c.iscsiDisk(n, lun)}`);
        expect(inq).toMatch(/Vendor identification: LIO-ORG/);
        expect(inq).toMatch(new RegExp(`Unit serial number: vmc-storage-lun${lun}`));
        expect((await c.node(n).run(`blockdev --getsize64 ${c.iscsiDisk(n, lun)}`)).trim()).toBe(String(mb * 1024 * 1024));
      }
    }
    const record = randomBytes(512);
    const w = await writeSector('node1', 100, record);
    expect(w.code, w.stderr).toBe(0);
    expect((await readSector('node2', 100)).equals(record)).toBe(true);
  });

  it('fences with SCSI-3 persistent reservations: the holder writes, the other node cannot until it preempts', async () => {
    const c = cluster();
    const [d1, d2] = [c.iscsiDisk('node1'), c.iscsiDisk('node2')];
    const n1 = c.node('node1');
    const n2 = c.node('node2');
    await n1.run(`sg_persist --out --register --param-sark=0x1 ${d1}`);
    await n1.run(`sg_persist --out --reserve --param-rk=0x1 --prout-type=1 ${d1}`); // Write Exclusive
    const keys = await n2.run(`sg_persist --in --read-keys ${d2}`);
    expect(keys).toMatch(/0x1\b/);
    expect(await n2.run(`sg_persist --in --read-reservation ${d2}`)).toMatch(/Key=0x1[\s\S]*Write Exclusive/);

    const mine = randomBytes(512);
    expect((await writeSector('node1', 200, mine)).code).toBe(0);
    const refused = await writeSector('node2', 200, randomBytes(512));
    expect(refused.code).not.toBe(0);
    expect((await n2.run('dmesg | tail -20'))).toMatch(/[Rr]eservation conflict|critical nexus error/);
    // Write Exclusive still lets the other node read.
    expect((await readSector('node2', 200)).equals(mine)).toBe(true);

    // node2 takes over the way a fence does: register, then preempt node1's key.
    await n2.run(`sg_persist --out --register --param-sark=0x2 ${d2}`);
    await n2.run(`sg_persist --out --preempt --param-rk=0x2 --param-sark=0x1 --prout-type=1 ${d2}`);
    // The fenced node is told on its next command: a unit attention, "registrations preempted".
    const told = await n1.exec(`sg_persist --in --read-reservation ${d1}`);
    expect(told.code).not.toBe(0);
    expect(told.stdout + told.stderr).toMatch(/Registrations preempted/);
    expect(await n1.run(`sg_persist --in --read-reservation ${d1}`)).toMatch(/Key=0x2/);
    const theirs = randomBytes(512);
    expect((await writeSector('node2', 200, theirs)).code).toBe(0);
    expect((await writeSector('node1', 200, mine)).code).not.toBe(0);
    expect((await readSector('node1', 200)).equals(theirs)).toBe(true);

    await n2.run(`sg_persist --out --release --param-rk=0x2 --prout-type=1 ${d2}`);
    await n2.run(`sg_persist --out --register --param-rk=0x2 --param-sark=0 ${d2}`); // unregister
    expect(await n1.run(`sg_persist --in --read-keys ${d1}`)).toMatch(/no registered reservation keys|0 registered/i);
  });

  it('stalls I/O while the storage VM is frozen or its link is cut, and completes it when undone', async () => {
    const c = cluster();
    const n1 = c.node('node1');
    const record = randomBytes(512);
    await c.storage.freeze();
    let pending: Promise<{ code: number | null }> | undefined;
    try {
      const t0 = Date.now();
      pending = writeSector('node1', 300, record);
      const early = await stateAfter(pending, 4000);
      expect(early).toBe('waiting');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(4000);
      // The node itself stays responsive while its storage is gone.
      expect((await n1.exec('echo alive', { timeoutMs: 10_000 })).stdout).toBe('alive\n');
    } finally {
      await c.storage.thaw();
    }
    expect((await pending!).code).toBe(0);
    expect((await readSector('node2', 300)).equals(record)).toBe(true);

    await c.storage.setLink('lan', false);
    const cut = writeSector('node2', 301, record);
    const whileCut = await stateAfter(cut, 4000);
    await c.storage.setLink('lan', true);
    expect(whileCut).toBe('waiting');
    // Inside the replacement timeout: the session recovers and the write lands.
    expect((await cut).code).toBe(0);
    expect((await readSector('node1', 301)).equals(record)).toBe(true);
  });

  it('fails I/O with EIO when the link stays cut past the replacement timeout, and serves it again once restored', async () => {
    const c = cluster();
    const n1 = c.node('node1');
    await c.storage.setLink('lan', false);
    let failed;
    const t0 = Date.now();
    try {
      failed = await writeSector('node1', 400, randomBytes(512));
    } finally {
      await c.storage.setLink('lan', true);
    }
    const elapsedMs = Date.now() - t0;
    expect(failed.code, failed.stderr).not.toBe(0);
    expect(failed.stderr).toMatch(/Input\/output error/);
    // Not before the connection was declared lost and the replacement timeout ran out.
    expect(elapsedMs).toBeGreaterThanOrEqual(replacementTimeoutS * 1000);
    console.log(`e2e: iSCSI write failed ${elapsedMs} ms after the link cut (replacement timeout ${replacementTimeoutS} s)`);

    // The session logs in again by itself; the same device then reads and writes.
    const record = randomBytes(512);
    await n1.waitFor(async () => (await writeSector('node1', 400, record)).code === 0, { deadlineMs: 90_000, intervalMs: 1000, what: 'iSCSI write after the link is back' });
    expect((await readSector('node2', 400)).equals(record)).toBe(true);
  });

  it('logs a node out and in again', async () => {
    const c = cluster();
    const n2 = c.node('node2');
    const dev = c.iscsiDisk('node2');
    await c.iscsiLogout(n2);
    expect((await n2.exec(`test -b ${dev}`)).code).not.toBe(0);
    const again = await c.iscsiLogin(n2);
    expect(again).toHaveLength(2);
    expect((await n2.run(`sg_inq ${again[0]}`))).toMatch(/vmc-storage-lun0/);
  });
});
