// The DISK comm path between two VMs on real kernels, on both kinds of shared LUN: the virtio-scsi
// disk (QEMU scsi-hd, both VMs open one image) and an iSCSI LUN of the storage VM (LIO). vigild in
// each VM has one TCP comm path (over the point-to-point link, so cutting it leaves the iSCSI
// traffic on the LAN alone) and one DISK path per LUN, through SG_IO READ(16)/WRITE(16) FUA.
// ALIVE both ways; with every TCP path cut the systems stay ALIVE through the disks; then node2
// is killed and the time node1 takes to declare it DEAD through the disks alone is measured.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuestVigil, snapshotBuild, useFailoverCluster } from './helpers-failover.js';
import { vmUnavailable, type VmNode } from './helpers/vmcluster.js';

const unavailable = vmUnavailable ?? (spawnSync('sh', ['-c', 'command -v iscsiadm']).status !== 0 ? 'open-iscsi (iscsiadm) is not installed' : undefined);
const title = unavailable ? `DISK comm path on shared LUNs (skipped: ${unavailable})` : 'DISK comm path on shared LUNs';
const HB_SEC = 1;
const HB_MISSES = 3;
const PORT = '7367';

describe.skipIf(!!unavailable)(title, () => {
  let build: ReturnType<typeof snapshotBuild> | undefined;
  beforeAll(() => {
    build = snapshotBuild();
  });
  afterAll(() => build?.remove());
  const cluster = useFailoverCluster({ nodes: 2, sharedScsiMb: 16, iscsiLunsMb: [16], p2p: [['node1', 'node2']] });

  const qemuDisk = async (n: VmNode) => {
    const out = await n.run('for d in /sys/block/sd*; do echo $(basename $d) $(cat $d/device/vendor); done');
    const line = out.split('\n').find((l) => / QEMU\s*$/.test(l));
    expect(line, `${n.name} has a QEMU scsi-hd disk:\n${out}`).toBeDefined();
    return `/dev/${line!.split(' ')[0]}`;
  };

  it('ALIVE both ways over both disks; all TCP cut: still ALIVE; node2 killed: DEAD through the disks alone', async () => {
    const c = cluster();
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    const v1 = new GuestVigil(n1, build!.srcDir);
    const v2 = new GuestVigil(n2, build!.srcDir);
    for (const [v, name] of [[v1, 'node1'], [v2, 'node2']] as const) {
      await v.configure({
        VIGIL_NODE_NAME: name,
        VIGIL_STATE_DIR: '/var/lib/vigil',
        VIGIL_ADMIN_SOCKET: '/run/vigil/admin.sock',
        VIGIL_KEY_FILE: '/etc/vigil/cluster.key',
        VIGIL_METRICS_ADDRESS: 'off',
        VIGIL_LOG_LEVEL: 'debug',
        LCMHBEATTIME: String(HB_SEC),
        LCMNUMHBEATS: String(HB_MISSES),
      });
    }
    await v1.must(['keygen']);
    await n2.writeFile('/etc/vigil/cluster.key', await n1.readFile('/etc/vigil/cluster.key'), 0o600);
    await Promise.all([v1.start(), v2.start()]);
    const disks = { qemu: { node1: await qemuDisk(n1), node2: await qemuDisk(n2) }, iscsi: { node1: c.iscsiDisk('node1'), node2: c.iscsiDisk('node2') } };
    for (const [a, b] of [[v1, v2], [v2, v1]] as const) {
      const me = a.node.name as 'node1' | 'node2';
      await a.must(['net_create', '-S', b.node.name, '-T', 'TCP', '-l', a.node.ip('p2p1'), '-r', b.node.ip('p2p1'), '-P', PORT, '-p', '1']);
      await a.must(['net_create', '-S', b.node.name, '-T', 'DISK', '-D', disks.qemu[me], '-p', '2']);
      await a.must(['net_create', '-S', b.node.name, '-T', 'DISK', '-D', disks.iscsi[me], '-p', '3']);
    }
    type Row = { type: string; state: string; device?: string };
    const rows = (v: GuestVigil) => v.json<Row[]>(['net_list']);
    const allAlive = async (v: GuestVigil) => {
      const r = await rows(v);
      return r.length === 3 && r.every((p) => p.state === 'ALIVE');
    };
    await n1.waitFor(async () => (await allAlive(v1)) && (await allAlive(v2)), { deadlineMs: 120_000, intervalMs: 1000, what: 'TCP and both DISK paths ALIVE on both nodes' });
    const listing = await v1.must(['net_list', '-T', 'DISK']);
    console.log(`node1 net_list -T DISK:\n${listing}`);
    for (const dev of [disks.qemu.node1, disks.iscsi.node1]) {
      expect(listing).toMatch(new RegExp(`^node1 node2 DISK \\d ALIVE ${dev} SG_IO: SG_IO READ\\(16\\)/WRITE\\(16\\) FUA, 512-byte blocks, slot \\d+$`, 'm'));
    }

    // Every TCP path cut (the point-to-point link; the LAN carries only iSCSI here).
    await n1.setLink('p2p1', false);
    await n1.waitFor(async () => (await rows(v1)).find((p) => p.type === 'TCP')?.state === 'DEAD' && (await rows(v2)).find((p) => p.type === 'TCP')?.state === 'DEAD', {
      deadlineMs: 60_000,
      intervalMs: 1000,
      what: 'TCP DEAD on both nodes',
    });
    await new Promise((r) => setTimeout(r, 3 * HB_SEC * HB_MISSES * 1000));
    for (const [v, other] of [[v1, 'node2'], [v2, 'node1']] as const) {
      expect((await v.systems()).find((s) => s.name === other)?.state, `${v.node.name} sees ${other}`).toBe('ALIVE');
      expect((await rows(v)).filter((p) => p.type === 'DISK').map((p) => p.state)).toEqual(['ALIVE', 'ALIVE']);
    }

    // Detection through the disks alone: node2's VM is killed.
    const crashAt = Date.now();
    await n2.crash();
    let deadAt = 0;
    await n1.waitFor(
      async () => {
        if ((await v1.systems()).find((s) => s.name === 'node2')?.state === 'DEAD') deadAt = Date.now();
        return deadAt > 0;
      },
      { deadlineMs: 120_000, intervalMs: 250, what: 'node2 DEAD on node1' },
    );
    const sys = (await v1.systems()).find((s) => s.name === 'node2')!;
    const offsetMs = Number((await n1.run('date +%s%3N')).trim()) - Date.now();
    const detectMs = Math.round(sys.stateChangedAt - offsetMs - crashAt);
    console.log(
      `e2e disk-path: DISK paths alone (virtio-scsi ${disks.qemu.node1} + iSCSI ${disks.iscsi.node1}), heartbeat ${HB_SEC} s x ${HB_MISSES}: ` +
        `node2 DEAD on node1 ${detectMs} ms after the kill by node1's clock (host polling saw it at +${deadAt - crashAt} ms)`,
    );
    expect(detectMs).toBeGreaterThanOrEqual((HB_MISSES - 1) * HB_SEC * 1000);
    expect(deadAt - crashAt).toBeLessThan(60_000);
    const log = await v1.logTail(60_000);
    expect(log).not.toMatch(/O_DIRECT/);
  });
});
