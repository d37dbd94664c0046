// The recovery-server standby on real kernels: node1 (the primary) runs vigild serving an ext4
// gen/filesys hierarchy (fence=scsi) on partition 1 of an iSCSI LUN of the storage VM (LIO, with
// persistent reservations), and writes its disk heartbeat record in the reserved area before that
// partition through its DISK comm path to node2. node2 (the standby) runs only `vigil standby`,
// as its boot would, listening to node1's record by SG_IO.
// First case: node1 is frozen (QMP stop) past the time-out with a writer running; node2's
// listener fences it (preempts its key) and exits, node2's vigild serves the data. node1 is
// thawed: its pending and new writes fail with RESERVATION CONFLICT, its quickCheck finds it
// fenced and takes its side out of service; never ISP on both while node1 could write; fsck clean.
// Then the manual return brings the roles back (node1 serves again, node2 listens again), which
// is where the second case starts (alone, it sets the roles up itself): cutting node1's TCP link
// (the point-to-point segment; iSCSI stays on the LAN) starts no takeover; SIGKILLing node1's VM
// does, within the time-out plus one heartbeat, and node2's vigild serves the data node1 wrote.
// The manual return is refused while node1 is down and while vigild runs on node2, and accepted
// once node1 is back, writing its record and registered: node2 listens again.
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fenceKeyFor } from '../../src/fencing/fence-key.js';
import { GuestVigil, guestClockOffset, snapshotBuild, useFailoverCluster } from './helpers-failover.js';
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
interface Sample {
  node: string;
  startedAt: number;
  endedAt: number;
  state: string | undefined;
}
type StandbyStatus = { state: string; why: string; io: string; listenerRunning: boolean; primaryRecord?: { seq: string; ageMs: number } };

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

  /** Processes a case leaves running (vigild, listeners): the next case stops them first. */
  const running: Array<{ node: VmNode; pid: number }> = [];
  /** The roles as the first case's manual return left them (node1 serving, node2 listening), for the next case. */
  let handedOver: Rig | undefined;
  type Rig = Awaited<ReturnType<typeof primaryAndStandby>>;
  /** The roles set up: the ones the previous case handed over, or new ones. */
  async function roles(): Promise<Rig> {
    const r = handedOver;
    handedOver = undefined;
    return r ?? primaryAndStandby('/var/lib/vigil', STANDBY_LOG);
  }

  /**
   * node1 primary (vigild, its DISK comm path writing its record, the ext4 hierarchy in service
   * with PAYLOAD written), node2 the standby (its vigild stopped, `vigil standby` listening and
   * hearing node1), with a fresh LCD and standby state in `stateDir`; the LUN's partition table
   * is written when the LUN has none yet.
   */
  async function primaryAndStandby(stateDir: string, standbyLogPath: string) {
    const c = cluster();
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    for (const { node, pid } of running.splice(0)) {
      if (node.state !== 'running') continue;
      if ((await node.procs()).find((p) => p.pid === pid)?.exited !== false) continue;
      await node.kill(pid, 'SIGTERM');
      await node.waitFor(async () => (await node.procs()).find((p) => p.pid === pid)?.exited === true, { deadlineMs: 60_000, intervalMs: 500, what: `pid ${pid} stopped` });
    }
    const lun = c.iscsiDisk('node1');
    expect(c.iscsiDisk('node2')).toBe(lun);
    const part = `${lun}1`;
    const v1 = new GuestVigil(n1, build!.srcDir);
    const v2 = new GuestVigil(n2, build!.srcDir);
    const config = (name: string) => ({
      VIGIL_NODE_NAME: name,
      VIGIL_STATE_DIR: stateDir,
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
    if ((await n1.exec(`test -b ${part}`)).code !== 0) await n1.run(`dd if=/tmp/mbr of=${lun} bs=512 count=1 oflag=direct,sync status=none`);
    for (const n of [n1, n2]) {
      // A case that failed may have left the file system mounted (the table cannot be read again then).
      await n.run(`if grep -q ' ${MNT} ' /proc/mounts; then umount ${MNT} || umount -l ${MNT}; fi`, { timeoutMs: 60_000 });
      await n.run(`blockdev --rereadpt ${lun} && modprobe ext4 && mkdir -p ${MNT}`, { timeoutMs: 60_000 });
      await n.waitFor(async () => (await n.exec(`test -b ${part}`)).code === 0, { deadlineMs: 30_000, intervalMs: 500, what: `${part}` });
    }
    for (const [v, name] of [[v1, 'node1'], [v2, 'node2']] as const) {
      await v.configure(config(name));
      await v.node.run(`: > ${GuestVigil.log}; rm -rf ${stateDir}; mkdir -p ${stateDir} && chmod 700 ${stateDir}`);
    }
    if ((await n1.exec('test -f /etc/vigil/cluster.key')).code !== 0) await v1.must(['keygen']);
    const key = await n1.readFile('/etc/vigil/cluster.key');
    await n2.writeFile('/etc/vigil/cluster.key', key, 0o600);

    // Set-up with both vigild running (the hierarchy is extended to node2, as installed once).
    await Promise.all([v1.start(), v2.start()]);
    running.push({ node: n1, pid: v1.pid! });
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
    await n2.run(`: > ${standbyLogPath}`);
    const listener = await n2.spawn(['node', v2.vigilJs, 'standby', '--config', GuestVigil.configFile], { log: standbyLogPath });
    running.push({ node: n2, pid: listener.pid });
    const standbyLog = async () => (await n2.readFile(standbyLogPath)).toString();
    const status = async () => v2.json<StandbyStatus>(['standby', 'status']);
    await n2.waitFor(async () => /node1 is alive/.test((await status()).why), { deadlineMs: 120_000, intervalMs: 1000, what: 'the listener hears node1' });
    const st = await status();
    expect(st).toMatchObject({ state: 'listening', listenerRunning: true });
    expect(st.io).toMatch(/^SG_IO: /);
    expect(await standbyLog()).toContain(`listening for node1's disk heartbeat on ${lun} (SG_IO`);
    return { c, n1, n2, v1, v2, lun, part, key, config, payload, listener, status, standbyLog, standbyLogPath };
  }

  it("node1 frozen past the time-out: node2's listener fences it and node2 serves; thawed node1's writes are refused and it goes out of service; never ISP on both; fsck clean", async () => {
    const setupAt = Date.now();
    const rig = await roles();
    const setupMs = Date.now() - setupAt;
    const { n1, n2, v1, v2, lun, part, payload, listener, status, standbyLog, standbyLogPath } = rig;
    const k1 = hex(fenceKeyFor('node1'));
    const k2 = hex(fenceKeyFor('node2'));
    // A writer keeps node1's file system busy: its writes are pending when node1 freezes. Its shell
    // works inside the mount (an application holding the file system), so the kit's remove ends it
    // with its dd children rather than meeting a new dd at each unmount attempt.
    await n1.run(': > /var/log/writer.log');
    const writer = await n1.spawn(['sh', '-c', `cd ${MNT} && i=0; while :; do i=$((i+1)); dd if=/dev/urandom of=${MNT}/busy.bin bs=64k count=4 oflag=direct conv=notrunc status=none && echo ok $i || echo FAILED $i; sleep 0.2; done`], { log: '/var/log/writer.log' });
    await n1.waitFor(async () => (await n1.readFile('/var/log/writer.log')).toString().includes('ok 3'), { deadlineMs: 60_000, intervalMs: 500, what: 'the writer writing' });

    // Both nodes' ins_list sampled all along, each in its own loop (node2 answers once its vigild runs).
    const samples: Sample[] = [];
    let sampling = true;
    const sampler = async (v: GuestVigil) => {
      while (sampling) {
        const startedAt = Date.now();
        const rows = await v.query<Array<{ tag: string; state: string }>>('ins_list', {}, 300_000).catch(() => undefined);
        samples.push({ node: v.node.name, startedAt, endedAt: Date.now(), state: rows?.find((x) => x.tag === TAG)?.state });
        await new Promise((r) => setTimeout(r, Math.max(0, 500 - (Date.now() - startedAt))));
      }
    };
    const samplers = [sampler(v1), sampler(v2)];
    const LEFT = /fenced off|another system holds the reservation|the copy on node2 stays \(newer|stood still/;
    try {
      const frozenAt = Date.now();
      await n1.freeze();
      let fencedAt = 0;
      let code: number | undefined;
      await n2.waitFor(
        async () => {
          const p = (await n2.procs()).find((x) => x.pid === listener.pid);
          if (p?.exited) {
            fencedAt = Date.now();
            code = p.code ?? undefined;
          }
          return fencedAt > 0;
        },
        { deadlineMs: 120_000, intervalMs: 200, what: 'the listener exits' },
      );
      const log = await standbyLog();
      expect(code, log).toBe(0);
      expect(log).toMatch(/taking over: node1's record stopped at sequence \d+; no heartbeat for \d+\.\d s \(time-out 8\.0 s\)/);
      expect(log).toContain(`preempted node1's key ${k1}`);
      const keys = await n2.run(`sg_persist --in --read-keys ${lun}`);
      expect(keys, "node1's key preempted").not.toContain(k1);
      expect(await n2.run(`sg_persist --in --read-reservation ${lun}`)).toContain(`Key=${k2}`);
      const checkedAt = Date.now();

      // The boot continues while node1 is still frozen: node2's vigild serves node1's data.
      await n2.run(`: > ${GuestVigil.log}`);
      await v2.start();
      const readyAt = Date.now();
      running.push({ node: n2, pid: v2.pid! });
      await n2.waitFor(async () => (await v2.states())[TAG] === 'ISP', { deadlineMs: 180_000, intervalMs: 500, what: `${TAG} ISP on node2` });
      const ispAt = Date.now();
      expect(sha(await n2.readFile(`${MNT}/payload.bin`))).toBe(sha(payload));
      await n2.run(`echo 'served by node2' > ${MNT}/after.txt && sync`, { timeoutMs: 60_000 });

      // Thaw node1: what it had pending and what it writes now is refused by the reservation.
      const thawedAt = Date.now();
      await n1.thaw();
      let outAt = 0;
      await n1.waitFor(
        async () => {
          if ((await v1.states())[TAG] !== 'ISP') outAt = Date.now();
          return outAt > 0;
        },
        { deadlineMs: 120_000, intervalMs: 500, what: `${TAG} out of service on node1` },
      );
      // A new O_DIRECT write from node1 (sector 0 rewritten with the same partition table, harmless if it went through).
      const newWrite = await n1.exec(`dd if=/tmp/mbr of=${lun} bs=512 count=1 oflag=direct,sync status=none`, { timeoutMs: 120_000 });
      expect(newWrite.code, 'a write from the fenced node must fail').not.toBe(0);
      expect(await n1.run('dmesg'), "node1's kernel log").toMatch(/[Rr]eservation conflict|critical nexus error/);
      expect((await n1.readFile('/var/log/writer.log')).toString(), "node1's writer saw its writes fail").toMatch(/FAILED/);
      await n1.waitFor(async () => !(await n1.readFile('/proc/mounts')).toString().includes(` ${MNT} `), { deadlineMs: 120_000, intervalMs: 1000, what: `${MNT} unmounted on node1` });
      const v1Log = await v1.logTail(40_000);
      expect(v1Log).toMatch(LEFT);
      expect((await v2.states())[TAG]).toBe('ISP');
      expect(await n2.run(`sg_persist --in --read-keys ${lun}`), 'node1 stays fenced').not.toContain(k1);
      // Had both reported the hierarchy in service, the takeover (newer epoch) stays, not the fenced primary's copy.
      const v2Log = await v2.logTail(200_000);
      expect(v2Log, "node2 kept its takeover").not.toMatch(/the copy on node1 stays/);
      const doubles = [...v1Log.split('\n'), ...v2Log.split('\n')].filter((l) => /is in service on both|the copy on node\d stays/.test(l));

      sampling = false;
      await Promise.all(samplers);
      const off1 = await guestClockOffset(n1);
      const leftLine = v1Log.split('\n').find((l) => LEFT.test(l) && l.includes(TAG));
      expect(leftLine, 'node1 logged why it left').toBeDefined();
      const leftWhy = LEFT.exec(leftLine!)![0];
      const detectAfterThawMs = Math.round((JSON.parse(leftLine!) as { time: number }).time - off1.offsetMs - thawedAt);
      const s1 = samples.filter((x) => x.node === 'node1');
      const s2 = samples.filter((x) => x.node === 'node2');
      const overlapsIsp2 = (a: Sample) => s2.some((b) => b.state === 'ISP' && b.startedAt <= a.endedAt && a.startedAt <= b.endedAt);
      // A node1 sample answered before the thaw could have acted on the disk: none may be ISP while node2 is.
      const bothBeforeThaw = s1.filter((a) => a.state === 'ISP' && a.endedAt < thawedAt && overlapsIsp2(a));
      // After the thaw node1's LCD says ISP until its quickCheck finds the fence (a frozen guest
      // cannot know it was frozen); its writes are refused by the LUN meanwhile (checked above).
      const bothAfterThaw = s1.filter((a) => a.state === 'ISP' && a.endedAt >= thawedAt && overlapsIsp2(a));
      console.log(
        [
          `e2e standby freeze: LCMHBEATTIME ${HB_SEC} s, VIGIL_STANDBY_TIMEOUT ${TIMEOUT_SEC} s, LKCHECKINTERVAL 2 s, ext4 on iSCSI ${part}, fence=scsi (roles set up in ${setupMs} ms)`,
          `  freeze -> node2's listener fenced node1 and exited 0 (host polling): ${fencedAt - frozenAt} ms; -> node2's PR checked ${checkedAt - frozenAt} ms -> node2's vigild ready ${readyAt - frozenAt} ms; -> ${TAG} ISP on node2: ${ispAt - frozenAt} ms`,
          `  thaw -> node1 decides to leave (${leftWhy}): ${detectAfterThawMs} ms (node1 clock, +-${Math.round(off1.uncertaintyMs)} ms); -> ${TAG} not ISP on node1 (host polling): ${outAt - thawedAt} ms`,
          `  samples: node1 ${s1.length} (${s1.map((x) => x.state ?? '-').join(' ')}), node2 ${s2.length} (${s2.map((x) => x.state ?? '-').join(' ')})`,
          `  ISP on both: before the thaw ${bothBeforeThaw.length}; after the thaw, while node1 was already fenced, ${bothAfterThaw.length}`,
          `  double in-service reports in the logs: ${doubles.length ? doubles.map((l) => /"msg":"([^"]*)"/.exec(l)?.[1] ?? l).join(' | ') : 'none'}`,
        ].join('\n'),
      );
      expect(fencedAt - frozenAt).toBeGreaterThanOrEqual((TIMEOUT_SEC - HB_SEC) * 1000);
      expect(fencedAt - frozenAt).toBeLessThan((TIMEOUT_SEC + HB_SEC) * 1000 + 5000);
      expect(bothBeforeThaw, 'the hierarchy was sampled ISP on both nodes while node1 could write').toEqual([]);
      expect(bothAfterThaw.every((a) => a.startedAt <= outAt), 'node1 ISP samples after it went out of service').toBe(true);
    } finally {
      sampling = false;
      if (n1.state === 'frozen') await n1.thaw();
    }
    await Promise.all(samplers);

    if ((await n1.procs()).find((p) => p.pid === writer.pid)?.exited === false) await n1.kill(writer.pid, 'SIGKILL');

    // The file system is not corrupted: node2 takes it out of service and fsck finds it clean.
    const returnAt = Date.now();
    await v2.must(['out-of-service', '-t', TAG]);
    await n2.waitFor(async () => (await v2.states())[TAG] === 'OSU', { deadlineMs: 120_000, intervalMs: 1000, what: `${TAG} OSU on node2` });
    const fsck = await n2.exec(`fsck.ext4 -fn ${part}`, { timeoutMs: 120_000 });
    expect(fsck.code, `fsck:\n${fsck.stdout}${fsck.stderr}`).toBe(0);

    // The manual return. node1's clock stood still while it was frozen, further behind than the
    // cluster messages' allowed skew: set as NTP would. node1 rejoins (which lets its fence key be
    // registered again), the administrator brings the hierarchy back to node1 (its restore
    // registers and preempts node2's key), stops node2's vigild and returns node2 to listening.
    await n1.run(`date -s @${(Date.now() / 1000).toFixed(3)} >/dev/null`);
    const sees = async (v: GuestVigil, peer: string) => (await v.systems()).find((x) => x.name === peer)?.state === 'ALIVE';
    await n1.waitFor(async () => (await sees(v1, 'node2')) && (await sees(v2, 'node1')), { deadlineMs: 120_000, intervalMs: 1000, what: 'node1 rejoined' });
    await v1.must(['in-service', '-t', TAG]);
    await n1.waitFor(async () => (await v1.states())[TAG] === 'ISP', { deadlineMs: 120_000, intervalMs: 1000, what: `${TAG} ISP on node1 again` });
    expect(sha(await n1.readFile(`${MNT}/payload.bin`))).toBe(sha(payload));
    expect((await n1.readFile(`${MNT}/after.txt`)).toString()).toBe('served by node2\n');
    await n2.kill(v2.pid!, 'SIGTERM');
    await n2.waitFor(async () => (await n2.procs()).find((p) => p.pid === v2.pid)?.exited === true, { deadlineMs: 60_000, intervalMs: 500, what: 'vigild stopped on node2' });
    const back = await v2.vigil(['standby', 'return']);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toMatch(/returned to listening by the administrator: node1 is back: record advancing \(sequence \d+\), key registered/);
    await n2.run(`: > ${standbyLogPath}`);
    const relisten = await n2.spawn(['node', v2.vigilJs, 'standby', '--config', GuestVigil.configFile], { log: standbyLogPath });
    running.push({ node: n2, pid: relisten.pid });
    await n2.waitFor(async () => /node1 is alive/.test((await status()).why), { deadlineMs: 120_000, intervalMs: 1000, what: 'node2 listening again' });
    console.log(`e2e standby freeze: manual return (node2 out of service, fsck, node1 in service, node2 listening again): ${Date.now() - returnAt} ms`);
    handedOver = { ...rig, listener: relisten };
  });

  it('TCP cut: no takeover; node1 killed: node2 fences it, takes over within the time-out + one heartbeat and serves its data; guarded manual return', async () => {
    const { c, n1, n2, v1, v2, lun, part, key, config, payload, listener, status, standbyLog } = await roles();

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
    running.push({ node: n2, pid: v2.pid! });
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
    running.push({ node: n1, pid: v1.pid! });
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
    running.push({ node: n2, pid: relisten.pid });
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
