// The recovery-server standby on real kernels: node1 (the primary) runs vigild serving an ext4
// gen/filesys hierarchy (fence=scsi) on partition 1 of an iSCSI LUN of the storage VM (LIO, with
// persistent reservations), and writes its disk heartbeat record in the reserved area before that
// partition through its DISK comm path to node2. node2 (the standby) runs only `vigil standby`,
// as its boot would, listening to node1's record by SG_IO.
// 1. Freeze: node1 (VM stopped by QMP, a writer busy on its file system) past the time-out. node2's
//    listener fences node1 and exits; node2's vigild serves. node1 thawed: its writes are refused
//    by the reservation and it takes its side out of service. The file system is clean (fsck), and
//    the roles come back by hand: node1 in service again, node2 listening after `standby return`.
// 2. Cutting node1's TCP link (the point-to-point segment; iSCSI stays on the LAN) starts no
//    takeover. SIGKILLing node1's VM does: node2's listener fences node1 (preempts its key) and
//    exits 0 within the time-out plus one heartbeat; node2's vigild then serves the data node1
//    wrote. The manual return is refused while node1 is down and while vigild runs on node2, and
//    accepted once node1 is back, writing its record and registered: node2 listens again.
// Case 2 starts from the roles case 1 ends with (or sets them up itself when run alone).
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

type Status = { state: string; why: string; io: string; listenerRunning: boolean; primaryRecord?: { seq: string; ageMs: number } };

/** The two nodes with the roles in place: node1's vigild serves TAG, node2's listener listens. */
interface Roles {
  n1: VmNode;
  n2: VmNode;
  v1: GuestVigil;
  v2: GuestVigil;
  lun: string;
  part: string;
  key: Buffer;
  payload: Buffer;
  listenerPid: number;
  config: (name: string) => Record<string, string>;
}

const k1 = hex(fenceKeyFor('node1'));
const k2 = hex(fenceKeyFor('node2'));

async function exited(n: VmNode, pid: number): Promise<boolean> {
  return (await n.procs()).find((p) => p.pid === pid)?.exited === true;
}

async function stopVigild(v: GuestVigil): Promise<void> {
  await v.node.kill(v.pid!, 'SIGTERM');
  await v.node.waitFor(async () => exited(v.node, v.pid!), { deadlineMs: 60_000, intervalMs: 500, what: `vigild stopped on ${v.node.name}` });
}

const standbyStatus = (v2: GuestVigil) => v2.json<Status>(['standby', 'status']);
const standbyLog = async (n2: VmNode) => (await n2.readFile(STANDBY_LOG)).toString();

/** node2 becomes the standby again: its listener starts, as its boot would, and hears node1. */
async function listen(v2: GuestVigil): Promise<number> {
  const listener = await v2.node.spawn(['node', v2.vigilJs, 'standby', '--config', GuestVigil.configFile], { log: STANDBY_LOG });
  await v2.node.waitFor(async () => /node1 is alive/.test((await standbyStatus(v2)).why), { deadlineMs: 120_000, intervalMs: 1000, what: 'the listener hears node1' });
  return listener.pid;
}

/** Waits for node2's listener to exit after node1 stopped; its exit code and how long after `sinceMs`. */
async function listenerExit(n2: VmNode, pid: number, sinceMs: number): Promise<{ code: number | undefined; afterMs: number }> {
  let exitedAt = 0;
  let code: number | undefined;
  await n2.waitFor(
    async () => {
      const p = (await n2.procs()).find((x) => x.pid === pid);
      if (p?.exited) {
        exitedAt = Date.now();
        code = p.code ?? undefined;
      }
      return exitedAt > 0;
    },
    { deadlineMs: 120_000, intervalMs: 200, what: 'the listener exits' },
  );
  return { code, afterMs: exitedAt - sinceMs };
}

describe.skipIf(!!unavailable)(title, () => {
  let build: ReturnType<typeof snapshotBuild> | undefined;
  beforeAll(() => {
    build = snapshotBuild();
  });
  afterAll(() => build?.remove());
  const cluster = useFailoverCluster({ nodes: 2, iscsiLunsMb: [32], p2p: [['node1', 'node2']], iscsiReplacementTimeoutS: 60 });
  /** Set when a case ends with the roles in place for the next one. */
  let roles: Roles | undefined;

  async function setUp(): Promise<Roles> {
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
    await n1.waitFor(async () => (await sees(v1, 'node2', 'ALIVE')) && (await sees(v2, 'node1', 'ALIVE')), { deadlineMs: 120_000, intervalMs: 1000, what: 'both ALIVE' });
    await n1.run(`mkfs.ext4 -q -F -L vigil-rso ${part}`, { timeoutMs: 120_000 });
    await v1.must(['create', '-a', 'gen/filesys', '-t', TAG, '-i', MNT, '--device', part, '--fstype', 'ext4', '--info', 'fence=scsi']);
    await v1.must(['extend', '-t', TAG, '-s', 'node2', '--accept-defaults']);
    await n1.waitFor(async () => (await v1.states())[TAG] === 'ISP' && (await v2.states())[TAG] === 'OSU', { deadlineMs: 90_000, intervalMs: 1000, what: `${TAG} ISP on node1, OSU on node2` });
    const payload = randomBytes(1 << 20);
    await n1.writeFile('/tmp/payload', payload);
    await n1.run(`cp /tmp/payload ${MNT}/payload.bin && sync`, { timeoutMs: 60_000 });

    // node2 becomes the standby: its vigild stops, the listener waits as its boot would.
    await stopVigild(v2);
    const listenerPid = await listen(v2);
    const st = await standbyStatus(v2);
    expect(st).toMatchObject({ state: 'listening', listenerRunning: true });
    expect(st.io).toMatch(/^SG_IO: /);
    expect(await standbyLog(n2)).toContain(`listening for node1's disk heartbeat on ${lun} (SG_IO`);
    return { n1, n2, v1, v2, lun, part, key, payload, listenerPid, config };
  }

  const sees = async (v: GuestVigil, peer: string, state: string) => (await v.systems()).find((s) => s.name === peer)?.state === state;

  it('node1 frozen past the time-out: node2 fences it and serves; thawed node1 is refused by the reservation and leaves; fsck clean; the roles come back by hand', async () => {
    const r = roles ?? (await setUp());
    roles = undefined;
    const { n1, n2, v1, v2, lun, part } = r;
    // A writer busy on node1's file system: its shell works inside the mount, so node1's remove
    // (which ends the mount's holders) ends it too.
    await n1.spawn(['sh', '-c', `cd ${MNT} && i=0; while :; do i=$((i+1)); dd if=/dev/urandom of=busy.bin bs=64k count=4 oflag=direct conv=notrunc status=none && echo ok $i || echo FAILED $i; sleep 0.2; done`], { log: '/var/log/writer.log' });
    await n1.waitFor(async () => (await n1.readFile('/var/log/writer.log')).toString().includes('ok 3'), { deadlineMs: 60_000, intervalMs: 500, what: 'the writer writing' });

    const frozenAt = Date.now();
    await n1.freeze();
    let thawedAt = 0;
    try {
      const exit = await listenerExit(n2, r.listenerPid, frozenAt);
      const log = await standbyLog(n2);
      expect(exit.code, log).toBe(0);
      expect(log).toMatch(/taking over: node1's record stopped at sequence \d+; no heartbeat for \d+\.\d s \(time-out 8\.0 s\)/);
      expect(log).toContain(`preempted node1's key ${k1}`);
      expect(await n2.run(`sg_persist --in --read-keys ${lun}`)).not.toContain(k1);
      // The boot continues on node2: its vigild brings the hierarchy in service with node1's data.
      await n2.run(`rm -f ${GuestVigil.log}`);
      const bootAt = Date.now();
      await v2.start();
      await n2.waitFor(async () => (await v2.states())[TAG] === 'ISP', { deadlineMs: 180_000, intervalMs: 1000, what: `${TAG} ISP on node2` });
      const servedMs = Date.now() - bootAt;
      expect(sha(await n2.readFile(`${MNT}/payload.bin`))).toBe(sha(r.payload));
      expect(await n2.run(`sg_persist --in --read-reservation ${lun}`)).toContain(`Key=${k2}`);

      // Thaw node1: every write it still had pending or makes now is refused by the reservation,
      // and it takes its side out of service; node2 keeps serving.
      thawedAt = Date.now();
      await n1.thaw();
      let outAt = 0;
      await n1.waitFor(
        async () => {
          if ((await v1.states())[TAG] !== 'ISP' && !outAt) outAt = Date.now();
          return outAt > 0;
        },
        { deadlineMs: 180_000, intervalMs: 500, what: `${TAG} out of service on node1` },
      );
      await n1.waitFor(async () => !(await n1.readFile('/proc/mounts')).toString().includes(` ${MNT} `), { deadlineMs: 120_000, intervalMs: 1000, what: `${MNT} unmounted on node1` });
      expect(await n1.run('dmesg')).toMatch(/[Rr]eservation conflict|critical nexus error/);
      expect((await n1.readFile('/var/log/writer.log')).toString(), 'the writer on node1 saw its writes fail').toMatch(/FAILED/);
      expect(await v1.logTail(20_000)).toMatch(/fenced off|the copy on node2 stays \(newer|stood still/);
      expect((await v2.states())[TAG]).toBe('ISP');
      expect(await n2.run(`sg_persist --in --read-keys ${lun}`), 'node1 stays fenced until it rejoins').not.toContain(k1);
      console.log(
        [
          `e2e standby freeze: LCMHBEATTIME ${HB_SEC} s, VIGIL_STANDBY_TIMEOUT ${TIMEOUT_SEC} s, ext4 on iSCSI ${part}`,
          `  node1 frozen -> node2's listener fenced node1 and exited 0: ${exit.afterMs} ms`,
          `  node2 vigild start -> ${TAG} ISP on node2: ${servedMs} ms`,
          `  thaw -> ${TAG} no longer ISP on node1 (host polling): ${outAt - thawedAt} ms`,
        ].join('\n'),
      );
      expect(exit.afterMs).toBeGreaterThanOrEqual((TIMEOUT_SEC - HB_SEC) * 1000);
      expect(exit.afterMs).toBeLessThan((TIMEOUT_SEC + HB_SEC) * 1000 + 5000);
    } finally {
      if (!thawedAt) await n1.thaw();
    }

    // The file system is clean: node2 takes it out of service and fsck finds nothing.
    await v2.must(['out-of-service', '-t', TAG]);
    await n2.waitFor(async () => (await v2.states())[TAG] === 'OSU', { deadlineMs: 120_000, intervalMs: 1000, what: `${TAG} OSU on node2` });
    const fsck = await n2.exec(`fsck.ext4 -fn ${part}`, { timeoutMs: 120_000 });
    expect(fsck.code, `fsck:\n${fsck.stdout}${fsck.stderr}`).toBe(0);

    // node1's clock stood still while it was frozen: step it to the host's, as NTP would (its
    // record carries its time, and status reports the record's age by node2's clock).
    await n1.run(`date -s @${(Date.now() / 1000).toFixed(3)} >/dev/null`);
    // The roles back, by hand. node1's vigild restarts (a fenced system registers again only once
    // it rejoined the cluster) and brings the hierarchy in service, taking the LUN back.
    await stopVigild(v1);
    await v1.start();
    await n1.waitFor(async () => (await sees(v1, 'node2', 'ALIVE')) && (await sees(v2, 'node1', 'ALIVE')), { deadlineMs: 120_000, intervalMs: 1000, what: 'both ALIVE' });
    // (vigild may bring it in service on its own at start: node1 has the higher priority.)
    if ((await v1.states())[TAG] !== 'ISP') await v1.must(['in-service', '-t', TAG]);
    await n1.waitFor(async () => (await v1.states())[TAG] === 'ISP', { deadlineMs: 120_000, intervalMs: 1000, what: `${TAG} ISP on node1` });
    expect(await n1.run(`sg_persist --in --read-reservation ${lun}`)).toContain(`Key=${k1}`);
    expect(sha(await n1.readFile(`${MNT}/payload.bin`))).toBe(sha(r.payload));
    // node2 stops its vigild and goes back to listening: the return now finds node1 healthy.
    await stopVigild(v2);
    const back = await v2.vigil(['standby', 'return']);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toMatch(/returned to listening by the administrator: node1 is back: record advancing \(sequence \d+\), key registered/);
    const listenerPid = await listen(v2);
    expect((await standbyStatus(v2)).state).toBe('listening');
    roles = { ...r, listenerPid };
  });

  it('TCP cut: no takeover; node1 killed: node2 fences it, takes over within the time-out + one heartbeat and serves its data; guarded manual return', async () => {
    const c = cluster();
    const r = roles ?? (await setUp());
    roles = undefined;
    const { n1, n2, v1, v2, lun, part, key, config } = r;
    const status = () => standbyStatus(v2);

    // node1's TCP link cut (iSCSI stays up on the LAN): no takeover, node1's record keeps advancing.
    const seqBefore = BigInt((await status()).primaryRecord!.seq);
    await n1.setLink('p2p1', false);
    await new Promise((res) => setTimeout(res, 2 * TIMEOUT_SEC * 1000));
    const cut = await status();
    expect(await exited(n2, r.listenerPid)).toBe(false);
    expect(cut.state).toBe('listening');
    expect(BigInt(cut.primaryRecord!.seq)).toBeGreaterThan(seqBefore + BigInt(TIMEOUT_SEC));
    expect(cut.primaryRecord!.ageMs).toBeLessThan(5 * HB_SEC * 1000);
    await n1.setLink('p2p1', true);

    // node1's VM SIGKILLed: the listener fences it and lets the boot continue.
    const killedAt = Date.now();
    await n1.crash();
    const exit = await listenerExit(n2, r.listenerPid, killedAt);
    const takeoverMs = exit.afterMs;
    const log = await standbyLog(n2);
    expect(exit.code, log).toBe(0);
    expect(log).toMatch(/taking over: node1's record stopped at sequence \d+; no heartbeat for \d+\.\d s \(time-out 8\.0 s\)/);
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
    expect(sha(await n2.readFile(`${MNT}/payload.bin`))).toBe(sha(r.payload));

    // The return: refused while node1 is down, and while vigild runs here.
    const early = await v2.vigil(['standby', 'return']);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('return refused: vigild is running here');
    await stopVigild(v2);
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
    const relisten = await listen(v2);
    expect(await exited(n2, relisten)).toBe(false);
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
