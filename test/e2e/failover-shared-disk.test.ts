// Failover of a file system on a real shared disk, on real kernels: two VMs see one virtio-scsi
// disk (share-rw), each runs vigild from this checkout with two authenticated TCP comm paths
// between them (the LAN and a point-to-point link). node1 makes an ext4 on the disk, protects it
// with gen/filesys (mounted only where it is in service), extends it to node2 and writes a file
// with sync; then node1's qemu is SIGKILLed. node2 must declare node1 DEAD, bring the hierarchy
// in service (mount the file system, replaying its journal) and show the very bytes written
// before the crash. The detection and failover times are measured from the crash instant and
// printed, so they can be quoted.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuestVigil, guestClockOffset, snapshotBuild, useFailoverCluster } from './helpers-failover.js';
import { vmUnavailable } from './helpers/vmcluster.js';

const title = vmUnavailable ? `failover on a shared SCSI disk (skipped: ${vmUnavailable})` : 'failover on a shared SCSI disk';

const TAG = 'shared-fs';
const MNT = '/mnt/shared';
const HB_SEC = 1;
const HB_MISSES = 3;
const PORT = '7365';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!!vmUnavailable)(title, () => {
  let build: ReturnType<typeof snapshotBuild> | undefined;
  // Registered before useCluster's hooks, so the build is ready when the guests need it.
  beforeAll(() => {
    build = snapshotBuild();
  });
  afterAll(() => build?.remove());
  const cluster = useFailoverCluster({ nodes: 2, sharedScsiMb: 64, p2p: [['node1', 'node2']] });

  it('SIGKILL of node1: node2 declares it DEAD, mounts the file system in service and has the data written before the crash', async () => {
    const t0 = Date.now();
    const c = cluster();
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    // node2's clock offset now and just before the crash: its rate must be the host's, or the
    // heartbeat timeouts and the times measured below would mean nothing.
    const clockAtStart = await guestClockOffset(n2);
    const startedAt = Date.now();
    const v1 = new GuestVigil(n1, build!.srcDir);
    const v2 = new GuestVigil(n2, build!.srcDir);

    // The shared disk: the same single SCSI disk on both nodes.
    const disks = await Promise.all([n1, n2].map(async (n) => (await n.run('ls /sys/block')).split(/\s+/).filter((d) => /^sd[a-z]+$/.test(d))));
    expect(disks[0]).toHaveLength(1);
    expect(disks[1]).toEqual(disks[0]);
    const device = `/dev/${disks[0]![0]}`;
    for (const n of [n1, n2]) await n.run(`test -b ${device} && modprobe ext4`, { timeoutMs: 60_000 });

    // Configuration in the guests' /etc/default/vigil (tmpfs overlay), one cluster key made with
    // `vigil keygen` on node1 and copied to node2 through the harness (not the VM network).
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
        LKCHECKINTERVAL: '10',
      });
    }
    expect(await v1.must(['keygen'])).toMatch(/wrote cluster key \/etc\/vigil\/cluster.key/);
    const key = await n1.readFile('/etc/vigil/cluster.key');
    await n2.writeFile('/etc/vigil/cluster.key', key, 0o600);
    // An administrator's fstab line for the shared file system: gen/filesys must take it out
    // (on both nodes), or a reboot would mount the disk on two nodes at once.
    for (const n of [n1, n2]) await n.run(`mkdir -p ${MNT} && echo '${device} ${MNT} ext4 defaults 0 2' >> /etc/fstab`);

    await Promise.all([v1.start(), v2.start()]);
    // Two TCP comm paths each way: the LAN and the point-to-point link.
    for (const [a, b] of [[v1, v2], [v2, v1]] as const) {
      for (const seg of ['lan', 'p2p1']) {
        await a.must(['net_create', '-S', b.node.name, '-T', 'TCP', '-l', a.node.ip(seg), '-r', b.node.ip(seg), '-P', PORT]);
      }
    }
    const sees = async (v: GuestVigil, peer: string, state: string) => (await v.systems()).find((s) => s.name === peer)?.state === state;
    await n1.waitFor(async () => (await sees(v1, 'node2', 'ALIVE')) && (await sees(v2, 'node1', 'ALIVE')), {
      deadlineMs: 120_000,
      intervalMs: 1000,
      what: 'node1 and node2 to see each other ALIVE',
    });
    const paths = await v1.must(['net_list']);
    expect(paths).toContain(`node1 node2 TCP`);

    // node1: the file system, the hierarchy, the extension to node2.
    await n1.run(`mkfs.ext4 -q -F -L vigil-shared ${device}`, { timeoutMs: 120_000 });
    const created = await v1.must(['create', '-a', 'gen/filesys', '-t', TAG, '-i', MNT, '--device', device, '--fstype', 'ext4', '--options', 'noatime', '--switchback', 'intelligent']);
    expect(created).toContain('removed fstab entry');
    expect(await v1.states()).toEqual({ [TAG]: 'ISU' });
    await v1.must(['extend', '-t', TAG, '-s', 'node2', '--accept-defaults']);
    await n1.waitFor(async () => (await v1.states())[TAG] === 'ISP' && (await v2.states())[TAG] === 'OSU', {
      deadlineMs: 60_000,
      intervalMs: 1000,
      what: `${TAG} ISP on node1 and OSU on node2`,
    });
    for (const n of [n1, n2]) expect((await n.readFile('/etc/fstab')).toString()).not.toContain(MNT);
    const mountedOn = async (n: typeof n1) => (await n.readFile('/proc/mounts')).toString().split('\n').find((l) => l.split(' ')[1] === MNT);
    expect(await mountedOn(n1)).toMatch(new RegExp(`^${device} ${MNT} ext4 `));
    expect(await mountedOn(n2), 'the shared file system must be mounted on one node only').toBeUndefined();

    // Data written on node1 and flushed to the disk before the crash.
    const payload = randomBytes(1 << 20);
    await n1.writeFile('/tmp/payload', payload);
    await n1.run(`cp /tmp/payload ${MNT}/payload.bin && echo 'written by node1 before the crash' > ${MNT}/note.txt && sync`, { timeoutMs: 60_000 });
    expect(sha(await n1.readFile(`${MNT}/payload.bin`))).toBe(sha(payload));

    // The clock offset of node2, to place its timestamps on the host's time line.
    const clock = await guestClockOffset(n2);
    const driftMs = clock.offsetMs - clockAtStart.offsetMs;
    const spanMs = Date.now() - startedAt;
    console.log(`e2e: node2 clock offset ${Math.round(clock.offsetMs)} ms (+-${Math.round(clock.uncertaintyMs)}), drift ${Math.round(driftMs)} ms over ${Math.round(spanMs / 1000)} s`);
    expect(Math.abs(driftMs), 'node2 clock rate differs from the host').toBeLessThan(clock.uncertaintyMs + clockAtStart.uncertaintyMs + spanMs * 0.02);
    const crashAt = Date.now();
    await n1.crash();
    const crashedAt = Date.now();
    expect(n1.state).toBe('crashed');

    let seenDeadAt = 0;
    await n2.waitFor(
      async () => {
        if (!seenDeadAt && (await sees(v2, 'node1', 'DEAD'))) seenDeadAt = Date.now();
        return seenDeadAt > 0 && (await v2.states())[TAG] === 'ISP';
      },
      { deadlineMs: 180_000, intervalMs: 500, what: `node1 DEAD and ${TAG} ISP on node2` },
    );
    const seenIspAt = Date.now();

    // The file system is mounted on node2 from the shared disk, with the bytes node1 wrote.
    expect(await mountedOn(n2)).toMatch(new RegExp(`^${device} ${MNT} ext4 `));
    expect(sha(await n2.readFile(`${MNT}/payload.bin`))).toBe(sha(payload));
    expect((await n2.readFile(`${MNT}/note.txt`)).toString()).toBe('written by node1 before the crash\n');
    // And it is writable there.
    await n2.run(`echo 'written by node2 after the failover' > ${MNT}/after.txt && sync`, { timeoutMs: 60_000 });

    // Times: node2's own records (guest clock, moved to the host's) from the crash instant.
    const dead = (await v2.systems()).find((s) => s.name === 'node1')!;
    expect(dead.state).toBe('DEAD');
    const ev = (await v2.events()).map((e) => ({ ...e, hostAt: e.at - clock.offsetMs }));
    const inService = ev.find((e) => e.hostAt >= crashAt - 2 * clock.uncertaintyMs - 1000 && e.msg === `hierarchy ${TAG} in service on node2 (failover)`);
    expect(inService, `node2 events:\n${ev.map((e) => `${e.at} ${e.msg}`).join('\n')}`).toBeDefined();
    const restored = ev.find((e) => e.hostAt >= crashAt - 1000 && e.msg.startsWith(`restore ${TAG} succeeded`));
    const detectMs = Math.round(dead.stateChangedAt - clock.offsetMs - crashAt);
    const failoverMs = Math.round(inService!.hostAt - crashAt);
    const err = Math.ceil(clock.uncertaintyMs + (crashedAt - crashAt));
    // Death cannot be declared before the heartbeats stop, nor the hierarchy moved before that.
    expect(detectMs).toBeGreaterThan(-err);
    expect(failoverMs).toBeGreaterThanOrEqual(detectMs - err);
    console.log(
      [
        `e2e failover-shared-disk: heartbeat ${HB_SEC} s x ${HB_MISSES}, 2 TCP paths, ext4 on ${device} (virtio-scsi, shared)`,
        `  detection (crash -> node1 DEAD on node2): ${detectMs} ms (+-${err} ms clock/kill uncertainty)`,
        `  failover  (crash -> ${TAG} ISP on node2): ${failoverMs} ms${restored ? `; mount done at +${Math.round(restored.hostAt - crashAt)} ms` : ''}`,
        `  seen by the host's polling (vigil CLI under TCG is slow): DEAD at +${seenDeadAt - crashAt} ms, ISP at +${seenIspAt - crashAt} ms`,
        `  test wall time so far ${Math.round((Date.now() - t0) / 1000)} s`,
      ].join('\n'),
    );
    console.log((await v2.must(['lcdstatus'])).trimEnd());
    // The kernel's view of the takeover (journal recovery of a file system that was never unmounted).
    console.log(`node2 kernel: ${(await n2.run('dmesg | grep -i "EXT4-fs (" || true')).trim()}`);
  });
});
