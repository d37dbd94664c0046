// The SCSI reservation fence on a real kernel: two VMs share an iSCSI LUN of the storage VM (LIO
// implements persistent reservations), an ext4 gen/filesys hierarchy with fence=scsi is in
// service on node1, a writer keeps writing to it. node1 is frozen (QMP stop) past the detection
// time; node2 declares it dead, preempts node1's key (PREEMPT AND ABORT) before mounting, mounts
// and serves. node1 is thawed: its pending and new writes fail with RESERVATION CONFLICT, its
// monitor finds it fenced and takes its side out of service, and the file system checks clean.
// Both nodes' ins_list are sampled all along: the hierarchy is never ISP on both while node1 can
// write. (After the thaw node1's LCD says ISP until its first quickCheck finds the fence — it
// cannot know it was frozen — while the LUN already refuses its writes; that window is measured.)
// Then, on the same cluster, QUORUM_MODE=storage with the second iSCSI LUN as QUORUM_DISK: node1
// (serving a gen/app hierarchy) is cut off every network, its iSCSI link with it (the storage VM
// is on the LAN): node1 loses quorum and takes app out of service, node2 evicts node1's key from
// the quorum LUN, waits for node1's record to stand still and takes app over; never ISP on both.
// Healed, the comm paths then run over the point-to-point link alone and it is cut while the
// storage stays reachable (a network-only partition): both evict each other on the quorum LUN,
// exactly one wins and serves app, the other is fenced off the LUN and loses quorum.
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fenceKeyFor } from '../../src/fencing/fence-key.js';
import { GuestVigil, guestClockOffset, snapshotBuild, useFailoverCluster } from './helpers-failover.js';
import { vmUnavailable } from './helpers/vmcluster.js';

const unavailable = vmUnavailable ?? (spawnSync('sh', ['-c', 'command -v iscsiadm && command -v sg_persist']).status !== 0 ? 'open-iscsi or sg3-utils is not installed' : undefined);
const title = unavailable ? `SCSI reservation fence on a shared iSCSI LUN (skipped: ${unavailable})` : 'SCSI reservation fence on a shared iSCSI LUN';

const TAG = 'fenced-fs';
const MNT = '/mnt/fenced';
const HB_SEC = 1;
const HB_MISSES = 3;
const PORT = '7366';
/** The file system covers the first 24 MiB of the 32 MiB LUN; sector PROBE_SECTOR lies beyond it. */
const FS_MB = 24;
const PROBE_SECTOR = 28 * 2048;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const hex = (k: bigint) => `0x${k.toString(16)}`;

interface Sample {
  node: string;
  startedAt: number;
  endedAt: number;
  state: string | undefined;
}

describe.skipIf(!!unavailable)(title, () => {
  let build: ReturnType<typeof snapshotBuild> | undefined;
  beforeAll(() => {
    build = snapshotBuild();
  });
  afterAll(() => build?.remove());
  const cluster = useFailoverCluster({ nodes: 2, iscsiLunsMb: [32, 4], p2p: [['node1', 'node2']], iscsiReplacementTimeoutS: 60 });
  /** The first test's vigild processes, stopped by the second before it reconfigures them. */
  const started: GuestVigil[] = [];

  it('freeze node1 past detection: node2 preempts, mounts and serves; thawed node1 is fenced, goes out of service; fsck clean; never ISP on both', async () => {
    const c = cluster();
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    const device = c.iscsiDisk('node1');
    expect(c.iscsiDisk('node2'), 'both nodes must name the LUN alike (the hierarchy stores one device path)').toBe(device);
    const v1 = new GuestVigil(n1, build!.srcDir);
    const v2 = new GuestVigil(n2, build!.srcDir);
    started.push(v1, v2);
    for (const n of [n1, n2]) await n.run(`modprobe ext4 && mkdir -p ${MNT}`, { timeoutMs: 60_000 });
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
        LKCHECKINTERVAL: '1',
      });
    }
    await v1.must(['keygen']);
    await n2.writeFile('/etc/vigil/cluster.key', await n1.readFile('/etc/vigil/cluster.key'), 0o600);
    await Promise.all([v1.start(), v2.start()]);
    for (const [a, b] of [[v1, v2], [v2, v1]] as const) {
      for (const seg of ['lan', 'p2p1']) await a.must(['net_create', '-S', b.node.name, '-T', 'TCP', '-l', a.node.ip(seg), '-r', b.node.ip(seg), '-P', PORT]);
    }
    const sees = async (v: GuestVigil, peer: string, state: string) => (await v.systems()).find((s) => s.name === peer)?.state === state;
    await n1.waitFor(async () => (await sees(v1, 'node2', 'ALIVE')) && (await sees(v2, 'node1', 'ALIVE')), { deadlineMs: 120_000, intervalMs: 1000, what: 'both ALIVE' });

    await n1.run(`mkfs.ext4 -q -F -L vigil-fenced ${device} ${FS_MB}M`, { timeoutMs: 120_000 });
    await v1.must(['create', '-a', 'gen/filesys', '-t', TAG, '-i', MNT, '--device', device, '--fstype', 'ext4', '--info', 'fence=scsi', '--switchback', 'intelligent']);
    await v1.must(['extend', '-t', TAG, '-s', 'node2', '--accept-defaults']);
    await n1.waitFor(async () => (await v1.states())[TAG] === 'ISP' && (await v2.states())[TAG] === 'OSU', { deadlineMs: 60_000, intervalMs: 1000, what: `${TAG} ISP on node1, OSU on node2` });
    // Debian's sg_persist, independently: node1 holds Write Exclusive, registrants only.
    const k1 = hex(fenceKeyFor('node1'));
    const k2 = hex(fenceKeyFor('node2'));
    const resv = await n2.run(`sg_persist --in --read-reservation ${device}`);
    expect(resv).toContain(`Key=${k1}`);
    expect(resv).toMatch(/Write Exclusive, registrants only/);

    const payload = randomBytes(1 << 20);
    await n1.writeFile('/tmp/payload', payload);
    await n1.run(`cp /tmp/payload ${MNT}/payload.bin && sync`, { timeoutMs: 60_000 });
    // A writer that keeps node1's file system busy: its writes are pending when node1 freezes.
    await n1.spawn(['sh', '-c', `i=0; while :; do i=$((i+1)); dd if=/dev/urandom of=${MNT}/busy.bin bs=64k count=4 oflag=direct conv=notrunc status=none && echo ok $i || echo FAILED $i; sleep 0.2; done`], { log: '/var/log/writer.log' });
    await n1.waitFor(async () => (await n1.readFile('/var/log/writer.log')).toString().includes('ok 3'), { deadlineMs: 60_000, intervalMs: 500, what: 'the writer writing' });

    // Sample both nodes' ins_list for the whole scenario, each node in its own loop.
    const samples: Sample[] = [];
    let sampling = true;
    const sampler = async (v: GuestVigil) => {
      while (sampling) {
        const startedAt = Date.now();
        const rows = await v.query<Array<{ tag: string; state: string }>>('ins_list', {}, 300_000).catch(() => undefined);
        const state = rows?.find((x) => x.tag === TAG)?.state;
        samples.push({ node: v.node.name, startedAt, endedAt: Date.now(), state });
        // Paced, so that sampling does not take the guests' CPU from the agents it watches.
        await new Promise((r) => setTimeout(r, Math.max(0, 500 - (Date.now() - startedAt))));
      }
    };
    const samplers = [sampler(v1), sampler(v2)];

    try {
      const frozenAt = Date.now();
      await n1.freeze();
      let deadAt = 0;
      await n2.waitFor(
        async () => {
          if (!deadAt && (await sees(v2, 'node1', 'DEAD'))) deadAt = Date.now();
          return deadAt > 0 && (await v2.states())[TAG] === 'ISP';
        },
        { deadlineMs: 180_000, intervalMs: 500, what: `node1 DEAD and ${TAG} ISP on node2` },
      );
      const ispAt = Date.now();
      const keys = await n2.run(`sg_persist --in --read-keys ${device}`);
      expect(keys).toContain(k2);
      expect(keys, 'node1 key preempted').not.toContain(k1);
      expect(await n2.run(`sg_persist --in --read-reservation ${device}`)).toContain(`Key=${k2}`);
      expect(sha(await n2.readFile(`${MNT}/payload.bin`))).toBe(sha(payload));
      await n2.run(`echo 'served by node2' > ${MNT}/after.txt && sync`, { timeoutMs: 60_000 });
      // node2's own account: the preemption came before the mount.
      const v2Log = await v2.logTail(40_000);
      const preemptedAt = v2Log.indexOf(`preempted ${k1}`);
      expect(preemptedAt, 'node2 logged the preemption').toBeGreaterThanOrEqual(0);
      expect(v2Log.indexOf(`mounted ${device} on ${MNT}`, preemptedAt), 'node2 mounted after preempting').toBeGreaterThan(preemptedAt);

      // Thaw node1: fenced.
      const thawedAt = Date.now();
      await n1.thaw();
      let outAt = 0;
      await n1.waitFor(
        async () => {
          const s = (await v1.states())[TAG];
          if (s !== 'ISP' && !outAt) outAt = Date.now();
          return outAt > 0;
        },
        { deadlineMs: 180_000, intervalMs: 500, what: `${TAG} out of service on node1` },
      );
      // A new write from node1 to the LUN (outside the file system) is refused by the reservation.
      await n1.run(`head -c 512 /dev/urandom > /tmp/sector`);
      const newWrite = await n1.exec(`dd if=/tmp/sector of=${device} bs=512 seek=${PROBE_SECTOR} count=1 oflag=direct,sync status=none`, { timeoutMs: 120_000 });
      expect(newWrite.code, 'a write from the fenced node must fail').not.toBe(0);
      const dmesg1 = await n1.run('dmesg');
      expect(dmesg1).toMatch(/[Rr]eservation conflict|critical nexus error/);
      const writer = (await n1.readFile('/var/log/writer.log')).toString();
      expect(writer, 'the writer on node1 saw its writes fail').toMatch(/FAILED/);
      await n1.waitFor(async () => !(await n1.readFile('/proc/mounts')).toString().includes(` ${MNT} `), { deadlineMs: 120_000, intervalMs: 1000, what: `${MNT} unmounted on node1` });
      const v1Log = await v1.logTail(20_000);
      // node1 leaves by whichever comes first after the thaw: its quickCheck finding the fence,
      // node2's report of the newer copy (the takeover's epoch), or its own stall watch.
      const LEFT = /fenced off|the copy on node2 stays \(newer|stood still/;
      expect(v1Log).toMatch(LEFT);
      expect((await v2.states())[TAG]).toBe('ISP');
      // node1 has not registered again: it is fenced until it rejoins.
      expect(await n2.run(`sg_persist --in --read-keys ${device}`)).not.toContain(k1);

      sampling = false;
      await Promise.all(samplers);
      // node1's own clock after the thaw (a frozen guest's clock stood still): when it found itself fenced.
      const off1 = await guestClockOffset(n1);
      const leftLine = v1Log.split('\n').find((l) => LEFT.test(l) && l.includes(TAG));
      expect(leftLine, 'node1 logged why it left').toBeDefined();
      const leftAt = (JSON.parse(leftLine!) as { time: number }).time;
      const leftWhy = LEFT.exec(leftLine!)![0];
      const detectAfterThawMs = Math.round(leftAt - off1.offsetMs - thawedAt);
      const s1 = samples.filter((s) => s.node === 'node1');
      const s2 = samples.filter((s) => s.node === 'node2');
      const overlapsIsp2 = (a: Sample) => s2.some((b) => b.state === 'ISP' && b.startedAt <= a.endedAt && a.startedAt <= b.endedAt);
      // A node1 sample answered before the thaw could have acted on the disk: none may be ISP while node2 is.
      const bothBeforeThaw = s1.filter((a) => a.state === 'ISP' && a.endedAt < thawedAt && overlapsIsp2(a));
      // After the thaw node1's LCD still says ISP until it leaves (its quickCheck finds the fence,
      // or node2's newer copy is reported); in that window its writes are already refused by the
      // LUN (checked above). Measured, and bounded.
      const bothAfterThaw = s1.filter((a) => a.state === 'ISP' && a.endedAt >= thawedAt && overlapsIsp2(a));
      console.log(
        [
          `e2e fence-shared-lun: heartbeat ${HB_SEC} s x ${HB_MISSES}, LKCHECKINTERVAL 1 s, ext4 on iSCSI ${device}, fence=scsi`,
          `  freeze -> node1 DEAD on node2 (host polling): ${deadAt - frozenAt} ms; -> ${TAG} ISP on node2: ${ispAt - frozenAt} ms`,
          `  thaw -> node1 decides to leave (${leftWhy}): ${detectAfterThawMs} ms (node1 clock, +-${Math.round(off1.uncertaintyMs)} ms)`,
          `  thaw -> ${TAG} no longer ISP on node1 (host polling): ${outAt - thawedAt} ms`,
          `  samples: node1 ${s1.length} (${s1.map((s) => s.state ?? '-').join(' ')}), node2 ${s2.length} (${s2.map((s) => s.state ?? '-').join(' ')})`,
          `  ISP on both: before the thaw ${bothBeforeThaw.length}; after the thaw, while node1 was already fenced, ${bothAfterThaw.length}`,
        ].join('\n'),
      );
      expect(bothBeforeThaw, 'the hierarchy was sampled ISP on both nodes while node1 could write').toEqual([]);
      expect(bothAfterThaw.every((a) => a.startedAt <= outAt), 'node1 ISP samples after it went out of service').toBe(true);
    } finally {
      sampling = false;
      if (n1.state === 'frozen') await n1.thaw();
    }
    await Promise.all(samplers);

    // The file system is not corrupted: node2 takes it out of service and fsck finds it clean.
    await v2.must(['out-of-service', '-t', TAG]);
    await n2.waitFor(async () => (await v2.states())[TAG] === 'OSU', { deadlineMs: 120_000, intervalMs: 1000, what: `${TAG} OSU on node2` });
    const fsck = await n2.exec(`fsck.ext4 -fn ${device}`, { timeoutMs: 120_000 });
    console.log(`node2 fsck.ext4 -fn: exit ${fsck.code}\n${fsck.stdout}${fsck.stderr}`);
    expect(fsck.code, `fsck:\n${fsck.stdout}${fsck.stderr}`).toBe(0);
  });
  it('QUORUM_MODE=storage: node1 cut off (its iSCSI link too) loses quorum and leaves; node2 evicts it on the quorum LUN and takes over; never ISP on both; a network-only partition: exactly one side wins the eviction race and serves', async () => {
    const c = cluster();
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    const qdisk = c.iscsiDisk('node1', 1);
    expect(c.iscsiDisk('node2', 1)).toBe(qdisk);
    // The first test's agents go; the LCD (comm paths, key) stays.
    for (const v of started) {
      if (v.pid === undefined || v.node.state !== 'running') continue;
      await v.node.kill(v.pid, 'SIGTERM');
      await v.node.waitFor(async () => !(await v.node.procs()).some((p) => p.pid === v.pid && !p.exited), { deadlineMs: 60_000, intervalMs: 500, what: `vigild on ${v.node.name} stopped` });
    }
    // The first test froze node1: its clock stood still meanwhile, further behind than the cluster
    // messages' allowed skew (30 s). Set both guests' clocks to the host's before the agents start.
    for (const n of [n1, n2]) await n.run(`date -s @${(Date.now() / 1000).toFixed(3)} >/dev/null`);
    const v1 = new GuestVigil(n1, build!.srcDir);
    const v2 = new GuestVigil(n2, build!.srcDir);
    // T = 2 s: each command's time limit is T/2; 1 s keeps a TCG guest on a loaded host inside it.
    const T = 2;
    const N = 3;
    const STATE_DIR = '/var/lib/vigil-sq';
    for (const [v, name] of [[v1, 'node1'], [v2, 'node2']] as const) {
      await v.configure({
        VIGIL_NODE_NAME: name, VIGIL_STATE_DIR: STATE_DIR, VIGIL_ADMIN_SOCKET: '/run/vigil/admin.sock', VIGIL_KEY_FILE: '/etc/vigil/cluster.key',
        VIGIL_METRICS_ADDRESS: 'off', LCMHBEATTIME: String(HB_SEC), LCMNUMHBEATS: String(HB_MISSES), LKCHECKINTERVAL: '2',
        QUORUM_MODE: 'storage', QUORUM_DISK: qdisk, QWK_STORAGE_HBEATTIME: String(T), QWK_STORAGE_NUMHBEATS: String(N),
        QUORUM_TIMEOUT_SECS: '5', QUORUM_LOSS_ACTION: 'osu',
      });
      // A fresh LCD: none of the first test's hierarchies or fence state.
      await v.node.run(`: > ${GuestVigil.log}; rm -f /run/app-on; rm -rf ${STATE_DIR}; mkdir -p ${STATE_DIR} && chmod 700 ${STATE_DIR}`);
    }
    // Self-contained when run alone (-t): the key and comm paths of the first test, or new ones.
    if ((await n1.exec('test -f /etc/vigil/cluster.key')).code !== 0) await v1.must(['keygen']);
    await n2.writeFile('/etc/vigil/cluster.key', await n1.readFile('/etc/vigil/cluster.key'), 0o600);
    await Promise.all([v1.start(), v2.start()]);
    for (const [a, b] of [[v1, v2], [v2, v1]] as const) {
      if ((await a.json<unknown[]>(['net_list'])).length > 0) continue;
      for (const seg of ['lan', 'p2p1']) await a.must(['net_create', '-S', b.node.name, '-T', 'TCP', '-l', a.node.ip(seg), '-r', b.node.ip(seg), '-P', PORT]);
    }
    const sees = async (v: GuestVigil, peer: string) => (await v.systems()).find((s) => s.name === peer)?.state === 'ALIVE';
    try {
      await n1.waitFor(async () => (await sees(v1, 'node2')) && (await sees(v2, 'node1')), { deadlineMs: 120_000, intervalMs: 1000, what: 'both ALIVE' });
    } catch (err) {
      for (const v of [v1, v2]) console.log(`--- ${v.node.name} vigild log (tail) ---\n${await v.logTail(6000)}`);
      throw err;
    }
    for (const v of [v1, v2]) await v.node.waitFor(async () => (await v.logTail(200_000)).includes('quorum: gate open'), { deadlineMs: 60_000, intervalMs: 1000, what: `the quorum gate open on ${v.node.name}` });
    const k1 = hex(fenceKeyFor('node1'));
    const k2 = hex(fenceKeyFor('node2'));
    const keys0 = await n2.run(`sg_persist --in --read-keys ${qdisk}`);
    expect(keys0).toContain(k1);
    expect(keys0).toContain(k2);
    expect(await n2.run(`sg_persist --in --read-reservation ${qdisk}`)).toMatch(/Write Exclusive, registrants only/);
    // The app: a marker file (restore creates it, remove deletes it, quickCheck looks for it).
    const scripts = { restore: 'touch /run/app-on', remove: 'rm -f /run/app-on', quick: 'test -f /run/app-on' };
    for (const n of [n1, n2]) {
      for (const [k, body] of Object.entries(scripts)) await n.writeFile(`/var/lib/vigil/app-${k}.sh`, `#!/bin/sh\n${body}\n`, 0o755);
    }
    await v1.must(['create', '-a', 'gen/app', '-t', 'app', '-i', 'marker', '--restore', '/var/lib/vigil/app-restore.sh', '--remove', '/var/lib/vigil/app-remove.sh', '--quick-check', '/var/lib/vigil/app-quick.sh', '--switchback', 'intelligent']);
    await v1.must(['extend', '-t', 'app', '-s', 'node2', '--accept-defaults']);
    await n1.waitFor(async () => (await v1.states())['app'] === 'ISP' && (await v2.states())['app'] === 'OSU', { deadlineMs: 60_000, intervalMs: 1000, what: 'app ISP on node1' });

    const clocks = { node1: await guestClockOffset(n1), node2: await guestClockOffset(n2) };
    /** Host time of the first log line after `from` whose msg matches. */
    const samples: Array<{ at: number; n1?: string; n2?: string }> = [];
    let sampling = true;
    const state = async (v: GuestVigil) => {
      const rows = await v.query<Array<{ tag: string; state: string }>>('ins_list', {}, 30_000).catch(() => undefined);
      return rows?.find((x) => x.tag === 'app')?.state;
    };
    const loop = (async () => {
      while (sampling) {
        const [a, b] = await Promise.all([state(v1), state(v2)]);
        samples.push({ at: Date.now(), n1: a, n2: b });
      }
    })();
    const cutAt = Date.now();
    try {
      for (const seg of ['lan', 'p2p1']) await n1.setLink(seg, false);
      await n2.waitFor(async () => (await v2.states())['app'] === 'ISP', { deadlineMs: 180_000, intervalMs: 1000, what: 'node2 takes app over' });
      const ispAt = Date.now();
      await n1.waitFor(async () => (await v1.states())['app'] !== 'ISP', { deadlineMs: 60_000, intervalMs: 1000, what: 'node1 takes app out of service' });
      expect(await v1.logTail(10_000_000)).toMatch(/NO QUORUM: own storage record not written/);
      const v2Log = await v2.logTail(10_000_000);
      expect(v2Log).toMatch(/evicted node1 from the quorum disk/);
      const keys = await n2.run(`sg_persist --in --read-keys ${qdisk}`);
      expect(keys).toContain(k2);
      expect(keys, 'node1 evicted from the quorum LUN').not.toContain(k1);
      sampling = false;
      await loop;
      const doubles = samples.filter((x) => x.n1 === 'ISP' && x.n2 === 'ISP');
      const lostAt = await v1.logTime(/^quorum: NO QUORUM: own storage record not written/, cutAt - 1000, clocks.node1.offsetMs);
      const outAt = await v1.logTime(/removing hierarchy app|taking every hierarchy out of service/, cutAt - 1000, clocks.node1.offsetMs);
      const evictedAt = await v2.logTime(/^quorum: evicted node1 from the quorum disk/, cutAt - 1000, clocks.node2.offsetMs);
      const takeAt = await v2.logTime(/restoring hierarchy app \(failover\)/, cutAt - 1000, clocks.node2.offsetMs);
      expect(lostAt, 'node1 logs its loss of quorum').toBeDefined();
      expect(evictedAt, 'node2 logs the eviction').toBeDefined();
      expect(takeAt, 'node2 logs the takeover').toBeDefined();
      // The loser decides (N-1) x T after its last write; the winner starts N x T + the osu allowance (5 s) after node1's record stopped.
      expect(takeAt! - lostAt!).toBeGreaterThan(5_000);
      const slack = Math.ceil(clocks.node1.uncertaintyMs + clocks.node2.uncertaintyMs);
      console.log(
        [
          `e2e storage quorum: QUORUM_DISK ${qdisk} (iSCSI LUN 1), QWK_STORAGE_HBEATTIME ${T} x ${N}, heartbeat ${HB_SEC} s x ${HB_MISSES}, osu (QUORUM_TIMEOUT_SECS 5), clocks +-${slack} ms`,
          `  cut node1 (lan + p2p1, its iSCSI link with them) -> node1 NO QUORUM ${lostAt! - cutAt} ms -> node1 takes app out ${outAt === undefined ? '?' : outAt - cutAt} ms`,
          `  cut -> node2 evicted node1's key ${evictedAt! - cutAt} ms -> node2 starts the takeover ${takeAt! - cutAt} ms -> app ISP on node2 (host polling) ${ispAt - cutAt} ms`,
          `  ${samples.length} samples of both nodes, ${doubles.length} with app ISP on both`,
        ].join('\n'),
      );
      expect(doubles).toEqual([]);
      // Healed: node1 rejoins, registers its key on the quorum LUN again, and app stays on node2.
      for (const seg of ['lan', 'p2p1']) await n1.setLink(seg, true);
      await n1.waitFor(async () => (await sees(v1, 'node2')) && (await sees(v2, 'node1')), { deadlineMs: 120_000, intervalMs: 1000, what: 'healed' });
      await n2.waitFor(async () => (await n2.run(`sg_persist --in --read-keys ${qdisk}`)).includes(k1), { deadlineMs: 120_000, intervalMs: 1000, what: 'node1 registered again on the quorum LUN' });
      const after = { n1: (await v1.states())['app'], n2: (await v2.states())['app'] };
      if (after.n2 !== 'ISP') {
        for (const v of [v1, v2]) {
          const lines = (await v.logTail(10_000_000)).split('\n').filter((l) => /quorum|app|hier/.test(l));
          console.log(`--- ${v.node.name} quorum/app log lines (last 60) ---\n${lines.slice(-60).join('\n')}`);
        }
      }
      expect(after.n2).toBe('ISP');
      expect(after.n1).not.toBe('ISP');

      // A network-only partition: the comm paths go down, the storage stays (the LAN paths are
      // removed first, so the point-to-point link carries them alone while iSCSI keeps the LAN).
      // Each side sees the other vanish from the membership while its record still advances on
      // the quorum LUN: both evict the other's key at once, the LUN serializes the two PREEMPTs and
      // exactly one wins; the loser is fenced off the quorum disk, loses quorum and leaves.
      for (const [a, b] of [[v1, v2], [v2, v1]] as const) await a.must(['net_remove', '-S', b.node.name, '-l', a.node.ip('lan')]);
      await n1.waitFor(async () => (await sees(v1, 'node2')) && (await sees(v2, 'node1')), { deadlineMs: 60_000, intervalMs: 1000, what: 'ALIVE over p2p1 alone' });
      samples.length = 0;
      sampling = true;
      const loop2 = (async () => {
        while (sampling) {
          const [a, b] = await Promise.all([state(v1), state(v2)]);
          samples.push({ at: Date.now(), n1: a, n2: b });
        }
      })();
      const splitAt = Date.now();
      let winner: GuestVigil | undefined;
      try {
        await n1.setLink('p2p1', false);
        // Both lose sight of each other; the race on the quorum LUN leaves one key registered.
        await n2.waitFor(
          async () => {
            const k = await n2.run(`sg_persist --in --read-keys ${qdisk}`);
            if (k.includes(k1) !== k.includes(k2)) winner = k.includes(k1) ? v1 : v2;
            return winner !== undefined;
          },
          { deadlineMs: 120_000, intervalMs: 1000, what: 'one key left on the quorum LUN' },
        );
        const loser = winner === v1 ? v2 : v1;
        await winner!.node.waitFor(async () => (await winner!.states())['app'] === 'ISP', { deadlineMs: 180_000, intervalMs: 1000, what: `app ISP on the winner ${winner!.node.name}` });
        const ispAt = Date.now();
        await loser.node.waitFor(async () => (await loser.states())['app'] !== 'ISP', { deadlineMs: 60_000, intervalMs: 1000, what: `app not ISP on the loser ${loser.node.name}` });
        // Held a while longer: the loser does not come back while cut off.
        await new Promise((r) => setTimeout(r, 10_000));
        sampling = false;
        await loop2;
        expect((await loser.states())['app']).not.toBe('ISP');
        expect(await loser.logTail(10_000_000)).toMatch(/NO QUORUM/);
        const doubles2 = samples.filter((x) => x.n1 === 'ISP' && x.n2 === 'ISP');
        console.log(
          [
            `e2e storage quorum, network-only partition (comm paths on p2p1 cut, iSCSI on the LAN up):`,
            `  ${winner!.node.name} won the eviction race, ${loser.node.name} was fenced off the quorum LUN and lost quorum`,
            `  cut -> app ISP on ${winner!.node.name} (host polling) ${ispAt - splitAt} ms; ${samples.length} samples, ${doubles2.length} with app ISP on both`,
          ].join('\n'),
        );
        expect(doubles2).toEqual([]);
      } finally {
        sampling = false;
        await loop2;
        await n1.setLink('p2p1', true);
      }
    } finally {
      sampling = false;
      await loop;
      for (const seg of ['lan', 'p2p1']) await n1.setLink(seg, true);
    }
  });
});
