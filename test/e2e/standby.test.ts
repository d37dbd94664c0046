// The recovery-server standby on real kernels: node1 (the primary) runs vigild serving an ext4
// gen/filesys hierarchy (fence=scsi) on partition 1 of an iSCSI LUN of the storage VM (LIO, with
// persistent reservations), and writes its disk heartbeat record in the reserved area before that
// partition through its DISK comm path to node2. node2 (the standby) runs only `vigil standby`,
// as its boot would, listening to node1's record by SG_IO. Cutting node1's TCP link (the
// point-to-point segment; iSCSI stays on the LAN) starts no takeover. SIGKILLing node1's VM does:
// node2's listener fences node1 (preempts its key) and exits 0 within the time-out plus one
// heartbeat; node2's vigild then serves the data node1 wrote. The manual return is refused while
// node1 is down and while vigild runs on node2, and accepted once node1 is back, writing its
// record and registered: node2 listens again.
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fenceKeyFor } from '../../src/fencing/fence-key.js';
import { GuestVigil, snapshotBuild, useFailoverCluster } from './helpers-failover.js';
import { vmUnavailable, type VmNode } from './helpers/vmcluster.js';

const unavailable = vmUnavailable ?? (spawnSync('sh', ['-c', 'command -v iscsiadm && command -v sg_persist && command -v blockdev']).status !== 0 ? 'open-iscsi, sg3-utils or util-linux blockdev is not installed' : undefined);
const title = unavailable ? `recovery-server standby on a shared iSCSI LUN (skipped: ${unavailable})` : 'recovery-server standby on a shared iSCSI LUN';

const TAG = 'rso-fs';
const MNT = '/mnt/rso';
const HB_SEC = 1;
const TIMEOUT_SEC = 8;
const PORT = '7368';
const STANDBY_LOG = '/var/log/vigil-standby.log';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const hex = (k: bigint) => `0x${k.toString(16)}`;

/** An MBR with one Linux partition from sector 2048 (1 MiB, past the heartbeat area) to the end. */
function mbr(totalSectors: number): Buffer {
  const b = Buffer.alloc(512);
  const e = 446;
  b[e + 4] = 0x83;
  b.writeUInt32LE(2048, e + 8);
  b.writeUInt32LE(totalSectors - 2048, e + 12);
  b.writeUInt16LE(0xaa55, 510);
  return b;
}

describe.skipIf(!!unavailable)(title, () => {
  let build: ReturnType<typeof snapshotBuild> | undefined;
  beforeAll(() => {
    build = snapshotBuild();
  });
  afterAll(() => build?.remove());
  const cluster = useFailoverCluster({ nodes: 2, iscsiLunsMb: [32], p2p: [['node1', 'node2']], iscsiReplacementTimeoutS: 60 });

  it('TCP cut: no takeover; node1 killed: node2 fences it, takes over within the time-out + one heartbeat and serves its data; guarded manual return', async () => {
    const c = cluster();
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    const lun = c.iscsiDisk('node1');
    expect(c.iscsiDisk('node2')).toBe(lun);
    const part = `${lun}1`;
    const v1 = new GuestVigil(n1, build!.srcDir);
    const v2 = new GuestVigil(n2, build!.srcDir);
    const config = (name: string) => ({
      VIGIL_NODE_NAME: name,
      VIGIL_STATE_DIR: '/var/lib/vigil',
      VIGIL_ADMIN_SOCKET: '/run/vigil/admin.sock',
      VIGIL_KEY_FILE: '/etc/vigil/cluster.key',
      VIGIL_METRICS_ADDRESS: 'off',
      VIGIL_LOG_LEVEL: 'debug',
      LCMHBEATTIME: String(HB_SEC),
      LCMNUMHBEATS: '3',
      LKCHECKINTERVAL: '2',
      VIGIL_STANDBY_PRIMARY: 'node1',
      VIGIL_STANDBY_SECONDARY: 'node2',
      VIGIL_STANDBY_DEVICE: lun,
      VIGIL_STANDBY_TIMEOUT: String(TIMEOUT_SEC),
    });
    // The partition table, written once, read again by both kernels.
    const sectors = Number((await n1.run(`blockdev --getsz ${lun}`)).trim());
    await n1.writeFile('/tmp/mbr', mbr(sectors));
    await n1.run(`dd if=/tmp/mbr of=${lun} bs=512 count=1 oflag=direct,sync status=none`);
    for (const n of [n1, n2]) {
      await n.run(`blockdev --rereadpt ${lun} && modprobe ext4 && mkdir -p ${MNT}`, { timeoutMs: 60_000 });
      await n.waitFor(async () => (await n.exec(`test -b ${part}`)).code === 0, { deadlineMs: 30_000, intervalMs: 500, what: `${part}` });
    }
    for (const [v, name] of [[v1, 'node1'], [v2, 'node2']] as const) await v.configure(config(name));
    await v1.must(['keygen']);
    const key = await n1.readFile('/etc/vigil/cluster.key');
    await n2.writeFile('/etc/vigil/cluster.key', key, 0o600);

    // Set-up with both vigild running (the hierarchy is extended to node2, as installed once).
    await Promise.all([v1.start(), v2.start()]);
    for (const [a, b] of [[v1, v2], [v2, v1]] as const) {
      await a.must(['net_create', '-S', b.node.name, '-T', 'TCP', '-l', a.node.ip('p2p1'), '-r', b.node.ip('p2p1'), '-P', PORT, '-p', '1']);
    }
    // The primary's heartbeat record: its DISK comm path to the standby on the LUN.
    await v1.must(['net_create', '-S', 'node2', '-T', 'DISK', '-D', lun, '-p', '2']);
    const sees = async (v: GuestVigil, peer: string, state: string) => (await v.systems()).find((s) => s.name === peer)?.state === state;
    await n1.waitFor(async () => (await sees(v1, 'node2', 'ALIVE')) && (await sees(v2, 'node1', 'ALIVE')), { deadlineMs: 120_000, intervalMs: 1000, what: 'both ALIVE' });
    await n1.run(`mkfs.ext4 -q -F -L vigil-rso ${part}`, { timeoutMs: 120_000 });
    await v1.must(['create', '-a', 'gen/filesys', '-t', TAG, '-i', MNT, '--device', part, '--fstype', 'ext4', '--info', 'fence=scsi']);
    await v1.must(['extend', '-t', TAG, '-s', 'node2', '--accept-defaults']);
    await n1.waitFor(async () => (await v1.states())[TAG] === 'ISP' && (await v2.states())[TAG] === 'OSU', { deadlineMs: 90_000, intervalMs: 1000, what: `${TAG} ISP on node1, OSU on node2` });
    const payload = randomBytes(1 << 20);
    await n1.writeFile('/tmp/payload', payload);
    await n1.run(`cp /tmp/payload ${MNT}/payload.bin && sync`, { timeoutMs: 60_000 });

    // node2 becomes the standby: its vigild stops, the listener waits as its boot would.
    await n2.kill(v2.pid!, 'SIGTERM');
    await n2.waitFor(async () => (await n2.procs()).find((p) => p.pid === v2.pid)?.exited === true, { deadlineMs: 60_000, intervalMs: 500, what: 'vigild stopped on node2' });
    const listener = await n2.spawn(['node', v2.vigilJs, 'standby', '--config', GuestVigil.configFile], { log: STANDBY_LOG });
    const standbyLog = async () => (await n2.readFile(STANDBY_LOG)).toString();
    type Status = { state: string; why: string; io: string; listenerRunning: boolean; primaryRecord?: { seq: string; ageMs: number } };
    const status = async () => v2.json<Status>(['standby', 'status']);
    await n2.waitFor(async () => /node1 is alive/.test((await status()).why), { deadlineMs: 120_000, intervalMs: 1000, what: 'the listener hears node1' });
    const st = await status();
    expect(st).toMatchObject({ state: 'listening', listenerRunning: true });
    expect(st.io).toMatch(/^SG_IO: /);
    expect(await standbyLog()).toContain(`listening for node1's disk heartbeat on ${lun} (SG_IO`);

    // node1's TCP link cut (iSCSI stays up on the LAN): no takeover.
    await n1.setLink('p2p1', false);
    await new Promise((r) => setTimeout(r, 2 * TIMEOUT_SEC * 1000));
    const cut = await status();
    expect((await n2.procs()).find((p) => p.pid === listener.pid)?.exited).toBeFalsy();
    expect(cut.state).toBe('listening');
    expect(cut.primaryRecord!.ageMs).toBeLessThan(5 * HB_SEC * 1000);
    await n1.setLink('p2p1', true);

    // node1's VM SIGKILLed: the listener fences it and lets the boot continue.
    const killedAt = Date.now();
    await n1.crash();
    let exitedAt = 0;
    let code: number | undefined;
    await n2.waitFor(
      async () => {
        const p = (await n2.procs()).find((x) => x.pid === listener.pid);
        if (p?.exited) {
          exitedAt = Date.now();
          code = p.code ?? undefined;
        }
        return exitedAt > 0;
      },
      { deadlineMs: 120_000, intervalMs: 200, what: 'the listener exits' },
    );
    const takeoverMs = exitedAt - killedAt;
    const log = await standbyLog();
    expect(code, log).toBe(0);
    expect(log).toMatch(/taking over: node1's record stopped at sequence \d+; no heartbeat for \d+\.\d s \(time-out 8\.0 s\)/);
    const k1 = hex(fenceKeyFor('node1'));
    const k2 = hex(fenceKeyFor('node2'));
    expect(log).toContain(`preempted node1's key ${k1}`);
    const keys = await n2.run(`sg_persist --in --read-keys ${lun}`);
    expect(keys).not.toContain(k1);
    expect(keys).toContain(k2);
    expect(await n2.run(`sg_persist --in --read-reservation ${lun}`)).toContain(`Key=${k2}`);
    expect((await status()).state).toBe('active');

    // The boot continues: vigild brings the hierarchy in service on node2, with node1's data.
    const bootAt = Date.now();
    await n2.run(`rm -f ${GuestVigil.log}`);
    await v2.start();
    await n2.waitFor(async () => (await v2.states())[TAG] === 'ISP', { deadlineMs: 180_000, intervalMs: 1000, what: `${TAG} ISP on node2` });
    const servedMs = Date.now() - bootAt;
    expect(sha(await n2.readFile(`${MNT}/payload.bin`))).toBe(sha(payload));

    // The return: refused while node1 is down, and while vigild runs here.
    const early = await v2.vigil(['standby', 'return']);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('return refused: vigild is running here');
    await n2.kill(v2.pid!, 'SIGTERM');
    await n2.waitFor(async () => (await n2.procs()).find((p) => p.pid === v2.pid)?.exited === true, { deadlineMs: 60_000, intervalMs: 500, what: 'vigild stopped on node2' });
    const down = await v2.vigil(['standby', 'return']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/return refused: node1's record is not advancing .*; node1's key 0x56[0-9a-f]+ is not registered/);

    // node1 repaired: it boots, logs in, its vigild writes its record again and it registers its key.
    await n1.boot(300_000);
    expect((await c.iscsiLogin(n1))[0], 'node1 names the LUN as before').toBe(lun);
    await n1.run(`blockdev --rereadpt ${lun} && modprobe ext4 && mkdir -p ${MNT}`, { timeoutMs: 60_000 });
    await v1.configure(config('node1'));
    await n1.writeFile('/etc/vigil/cluster.key', key, 0o600);
    await v1.start();
    await v1.must(['net_create', '-S', 'node2', '-T', 'DISK', '-D', lun, '-p', '2']);
    const unregistered = await v2.vigil(['standby', 'return']);
    expect(unregistered.code).toBe(1);
    expect(unregistered.stderr).toMatch(/return refused: .*node1's key 0x56[0-9a-f]+ is not registered/);
    // (node1's own LCD did not survive its crash here: its tmpfs root is gone. Its key is registered
    // as its gen/filesys resource would on taking the LUN.)
    await n1.run(`sg_persist --out --register-ignore --param-sark=${k1} ${lun}`);
    const seqNow = async () => BigInt((await status()).primaryRecord?.seq ?? '0');
    const s0 = await seqNow();
    await n2.waitFor(async () => (await seqNow()) > s0 + 1n, { deadlineMs: 60_000, intervalMs: 1000, what: "node1's record advancing again" });
    const ok = await v2.vigil(['standby', 'return']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/returned to listening by the administrator: node1 is back: record advancing \(sequence \d+\), key registered/);
    const relisten = await n2.spawn(['node', v2.vigilJs, 'standby', '--config', GuestVigil.configFile], { log: STANDBY_LOG });
    await n2.waitFor(async () => /node1 is alive/.test((await status()).why), { deadlineMs: 120_000, intervalMs: 1000, what: 'node2 listening again' });
    expect((await n2.procs()).find((p) => p.pid === relisten.pid)?.exited).toBeFalsy();
    console.log(
      [
        `e2e standby: LCMHBEATTIME ${HB_SEC} s, VIGIL_STANDBY_TIMEOUT ${TIMEOUT_SEC} s, ext4 on iSCSI ${part}, heartbeat area on ${lun} (SG_IO)`,
        `  node1 TCP link cut for ${2 * TIMEOUT_SEC} s: no takeover`,
        `  node1 VM SIGKILL -> node2's listener fenced node1 and exited 0: ${takeoverMs} ms (bound ${TIMEOUT_SEC * 1000 + HB_SEC * 1000} ms + fence + host polling)`,
        `  node2 vigild start -> ${TAG} ISP on node2: ${servedMs} ms`,
      ].join('\n'),
    );
    expect(takeoverMs).toBeGreaterThanOrEqual((TIMEOUT_SEC - HB_SEC) * 1000);
    expect(takeoverMs).toBeLessThan((TIMEOUT_SEC + HB_SEC) * 1000 + 5000);
  });
});
