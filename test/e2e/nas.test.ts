// The NAS kit on real kernels: two nodes and the NFS server VM (kernel nfsd, NFSv4), one cluster
// for the whole file. Each node runs vigild from this checkout with two authenticated TCP comm
// paths (the LAN, which also carries NFS, and a point-to-point link), so cutting a node's LAN
// link cuts its path to the NFS server while the cluster stays connected.
//
// In order: the creation refusals with the seeds' numbers (not exported to this node, fstab
// listing the export twice, a non-empty mount point, a hung mount-authorization check) while a
// frozen server also shows what an alarm does to a stat blocked on a hard NFS mount; a NAS
// hierarchy with a gen/app writer on top, extended to node2; a freeze shorter than LKNFSTIMEOUT
// (no failover, abandoned probes reclaimed, the agent responsive); node1's NFS link cut
// (LKNASERROR=switch: the hierarchy moves to node2 with the data); a host-name mount remounted by
// address; node2's NFS link cut with LKNASERROR=halt on node2 (it halts, node1 takes over).
// Times are printed so they can be quoted.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { GuestVigil, guestClockOffset, snapshotBuild, useFailoverCluster } from './helpers-failover.js';
import { repoRoot, vmUnavailable } from './helpers/vmcluster.js';

const title = vmUnavailable ? `NAS kit on NFS (skipped: ${vmUnavailable})` : 'NAS kit on NFS';

const PORT = '7366';
const NFS_TIMEOUT_S = 21; // LKNFSTIMEOUT; 20 with LKNFSSYSCALLTO=5 breaks the 107009 rule (3 x 5 + 5 must be < LKNFSTIMEOUT)
const NFS_SYSCALL_S = 5; // LKNFSSYSCALLTO
const NAS_INTERVAL_S = 3; // LKCHECKINTERVAL_GEN_NAS
const MNT = '/mnt/share';
const FS_TAG = 'share';
const APP_TAG = 'writer';
const ALARM_SCRIPT = `${repoRoot}/test/e2e/guest/nas-alarm-stat.pl`;

const WRITER_START = `#!/bin/sh
pid=$(cat /run/writer.pid 2>/dev/null) && kill -0 "$pid" 2>/dev/null && exit 0
setsid sh -c 'n=0; while :; do n=$((n+1)); echo "$VIGIL_SYSTEM $n" >> ${MNT}/app.log; sleep 0.5; done' </dev/null >/dev/null 2>&1 &
echo $! > /run/writer.pid
`;
const WRITER_STOP = `#!/bin/sh
pid=$(cat /run/writer.pid 2>/dev/null) || exit 0
kill -KILL "$pid" 2>/dev/null
rm -f /run/writer.pid
exit 0
`;
const WRITER_CHECK = `#!/bin/sh
pid=$(cat /run/writer.pid 2>/dev/null) && kill -0 "$pid" 2>/dev/null
`;

describe.skipIf(!!vmUnavailable)(title, () => {
  let build: ReturnType<typeof snapshotBuild> | undefined;
  beforeAll(() => {
    build = snapshotBuild();
  });
  afterAll(() => build?.remove());
  const cluster = useFailoverCluster({ nodes: 2, nfs: true, p2p: [['node1', 'node2']] });
  const figures: string[] = [];
  let v1: GuestVigil;
  let v2: GuestVigil;
  afterAll(() => console.log(`e2e nas:\n  ${figures.join('\n  ')}`));
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    // What the agents did: their logs (NAS, mounts, halts) and the engines' timelines.
    for (const v of [v1, v2] as Array<GuestVigil | undefined>) {
      if (!v || v.node.state !== 'running') continue;
      const log = await v.node.exec(`grep -E 'nas|NFS|quickCheck|halt|release|mount|restore|remove|takeover' ${GuestVigil.log} | tail -60 | cut -c1-600`, { timeoutMs: 30_000 }).catch((e: Error) => ({ stdout: e.message }));
      console.log(`--- ${v.node.name} vigild log (NAS lines) ---\n${log.stdout}`);
      const ev = await v.vigil(['hier_events', '-n', '60'], 60_000).catch((e: Error) => ({ stdout: e.message }));
      console.log(`--- ${v.node.name} hier_events ---\n${ev.stdout}`);
    }
  });
  let server = '';
  let device = '';

  const numberOf = (out: { stdout: string; stderr: string }) => /Error (\d{6}):/.exec(`${out.stderr}${out.stdout}`)?.[1];
  const mounts = async (v: GuestVigil) => (await v.node.readFile('/proc/mounts')).toString().split('\n').filter(Boolean);
  const mountOf = async (v: GuestVigil, mp: string) => (await mounts(v)).find((l) => l.split(' ')[1] === mp);
  const sees = async (v: GuestVigil, peer: string, state: string) => (await v.systems()).find((s) => s.name === peer)?.state === state;
  const scrape = async (v: GuestVigil) => v.node.run('curl -s --max-time 20 http://127.0.0.1:9787/metrics', { timeoutMs: 30_000 });
  const sample = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 'NaN');

  it('sets up vigild on both nodes (107009 fallback shown on a throwaway config)', async () => {
    const c = cluster();
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    server = c.nfs.ip();
    device = `${server}:/`;
    v1 = new GuestVigil(n1, build!.srcDir);
    v2 = new GuestVigil(n2, build!.srcDir);
    for (const [v, name, onError] of [[v1, 'node1', 'switch'], [v2, 'node2', 'halt']] as const) {
      await v.configure({
        VIGIL_NODE_NAME: name,
        VIGIL_STATE_DIR: '/var/lib/vigil',
        VIGIL_ADMIN_SOCKET: '/run/vigil/admin.sock',
        VIGIL_KEY_FILE: '/etc/vigil/cluster.key',
        VIGIL_METRICS_ADDRESS: '127.0.0.1:9787',
        VIGIL_LOG_LEVEL: 'debug',
        VIGIL_HALT_ACTION: 'sysrq',
        LCMHBEATTIME: '1',
        LCMNUMHBEATS: '3',
        LKCHECKINTERVAL: '10',
        LKCHECKINTERVAL_GEN_NAS: String(NAS_INTERVAL_S),
        LKCHECKINTERVAL_GEN_FILESYS: '3',
        LKNFSTIMEOUT: String(NFS_TIMEOUT_S),
        LKNFSSYSCALLTO: String(NFS_SYSCALL_S),
        LKNASERROR: onError,
      });
      await v.node.writeFile('/usr/local/bin/writer-start', WRITER_START, 0o755);
      await v.node.writeFile('/usr/local/bin/writer-stop', WRITER_STOP, 0o755);
      await v.node.writeFile('/usr/local/bin/writer-check', WRITER_CHECK, 0o755);
      await v.node.run(`modprobe nfs && mkdir -p ${MNT}`, { timeoutMs: 60_000 });
    }
    // The seeds' own example values 20 and 5 break the 107009 rule: the agent says so and uses 120 and 5.
    await n1.writeFile('/tmp/illogical.conf', `VIGIL_NODE_NAME=node1\nLKNFSTIMEOUT=20\nLKNFSSYSCALLTO=5\nVIGIL_STATE_DIR=/tmp/x\n`);
    const check = await n1.exec(['node', '-e', `import(${JSON.stringify(`${build!.srcDir}/common/config.js`)}).then((m) => { const r = m.loadConfig('/tmp/illogical.conf'); console.log(JSON.stringify({ w: r.warnings, t: r.config.LKNFSTIMEOUT, s: r.config.LKNFSSYSCALLTO })); })`], { timeoutMs: 60_000 });
    const illogical = JSON.parse(check.stdout) as { w: Array<{ number: number; message: string }>; t: number; s: number };
    expect(illogical.w[0]?.number).toBe(107009);
    expect([illogical.t, illogical.s]).toEqual([120, 5]);
    expect(await v1.must(['keygen'])).toMatch(/wrote cluster key/);
    await n2.writeFile('/etc/vigil/cluster.key', await n1.readFile('/etc/vigil/cluster.key'), 0o600);
    await Promise.all([v1.start(), v2.start()]);
    for (const [a, b] of [[v1, v2], [v2, v1]] as const) {
      for (const seg of ['lan', 'p2p1']) await a.must(['net_create', '-S', b.node.name, '-T', 'TCP', '-l', a.node.ip(seg), '-r', b.node.ip(seg), '-P', PORT]);
    }
    await n1.waitFor(async () => (await sees(v1, 'node2', 'ALIVE')) && (await sees(v2, 'node1', 'ALIVE')), { deadlineMs: 120_000, intervalMs: 1000, what: 'node1 and node2 ALIVE' });
    for (const d of ['dh', 'ds', 'bm']) await c.nfs.run(`mkdir -p /srv/nfs/${d} && chmod 777 /srv/nfs/${d}`);
    // No delegations: a node cut off while holding one would make the server wait a whole lease
    // period (90 s) before the backup may open the file (see docs/nas.md).
    await c.nfs.run('echo 0 > /proc/sys/fs/leases-enable');
  });

  it('refuses an export not exported to this node (107012) and changes nothing', async () => {
    const c = cluster();
    // The server exports its root to node2 only for a moment.
    await c.nfs.run(`/usr/sbin/exportfs -u 10.77.0.0/24:/srv/nfs && /usr/sbin/exportfs -o rw,sync,no_root_squash,no_subtree_check,fsid=0 ${v2.node.ip()}:/srv/nfs`);
    try {
      const r = await v1.vigil(['create', '-a', 'gen/filesys', '-t', 'denied', '-i', '/mnt/denied', '--device', device, '--fstype', 'nfs', '--options', 'vers=4.2']);
      expect(r.code).not.toBe(0);
      expect(numberOf(r), r.stderr).toBe('107012');
      expect(`${r.stderr}`).toMatch(/cannot be accessed from node1/);
    } finally {
      await c.nfs.run(`/usr/sbin/exportfs -u ${v2.node.ip()}:/srv/nfs; /usr/sbin/exportfs -o rw,sync,no_root_squash,no_subtree_check,fsid=0 10.77.0.0/24:/srv/nfs`);
    }
    expect(await v1.states()).toEqual({});
    expect(await mountOf(v1, '/mnt/denied')).toBeUndefined();
  });

  it('refuses a non-empty mount point (104903) and an export listed twice in fstab (107001)', async () => {
    await v1.node.run('mkdir -p /mnt/full && echo x > /mnt/full/leftover');
    const full = await v1.vigil(['create', '-a', 'gen/filesys', '-t', 'full', '-i', '/mnt/full', '--device', device, '--fstype', 'nfs', '--options', 'vers=4.2']);
    expect(numberOf(full), full.stderr).toBe('104903');
    expect(await mountOf(v1, '/mnt/full')).toBeUndefined();

    await v1.node.run(`mount -t nfs -o vers=4.2,hard ${device} ${MNT}`, { timeoutMs: 60_000 });
    const fstab = (await v1.node.readFile('/etc/fstab')).toString();
    await v1.node.writeFile('/etc/fstab', `${fstab}${device} ${MNT} nfs vers=4.2,hard 0 0\n${device} /mnt/other nfs vers=4.2 0 0\n`);
    const twice = await v1.vigil(['create', '-a', 'gen/filesys', '-t', FS_TAG, '-i', MNT, '--device', device, '--fstype', 'nfs']);
    expect(numberOf(twice), twice.stderr).toBe('107001');
    expect(twice.stderr).toMatch(/lists .* 2 times/);
    expect((await v1.node.readFile('/etc/fstab')).toString()).toContain('/mnt/other');
    expect(await v1.states()).toEqual({});
    // Back to one line for the export: create removes it below.
    await v1.node.writeFile('/etc/fstab', `${fstab}${device} ${MNT} nfs vers=4.2,hard 0 0\n`);
  });

  it('frozen server: an alarm does not end a stat blocked on a hard mount; the hung mount-authorization check is 107013', async () => {
    const c = cluster();
    const n1 = v1.node;
    await n1.run(`mkdir -p /mnt/dh /mnt/ds && mount -t nfs -o vers=4.2,hard ${server}:/dh /mnt/dh && mount -t nfs -o vers=4.2,soft,timeo=20,retrans=1 ${server}:/ds /mnt/ds`, { timeoutMs: 60_000 });
    await c.nfs.freeze();
    const frozenAt = Date.now();
    try {
      const hard = await n1.spawn(['perl', ALARM_SCRIPT, '/mnt/dh/fresh-name-1', '2'], { log: '/tmp/alarm-hard.log' });
      const soft = await n1.spawn(['perl', ALARM_SCRIPT, '/mnt/ds/fresh-name-2', '2'], { log: '/tmp/alarm-soft.log' });
      const fatal = await n1.spawn(['sh', '-c', 's=$(date +%s%N); timeout -s ALRM 2 stat /mnt/dh/fresh-name-3 >/dev/null 2>&1; e=$?; echo "exit $e after $(( ($(date +%s%N) - s) / 1000000 )) ms"'], { log: '/tmp/alarm-fatal.log' });
      // The hung check runs meanwhile: create of an export that is not mounted yet.
      const hungCheck = v1.vigil(['create', '-a', 'gen/filesys', '-t', 'hung', '-i', '/mnt/hung', '--device', `${server}:/dh`, '--fstype', 'nfs', '--options', 'vers=4.2']);
      await new Promise((r) => setTimeout(r, 9_000));
      const status = (await n1.readFile(`/proc/${hard.pid}/status`)).toString();
      const state = /^State:\s+(\S+)/m.exec(status)![1];
      const pending = BigInt(`0x${/^ShdPnd:\s+([0-9a-f]+)/m.exec(status)![1]}`) | BigInt(`0x${/^SigPnd:\s+([0-9a-f]+)/m.exec(status)![1]}`);
      const hardLog = (await n1.readFile('/tmp/alarm-hard.log')).toString();
      const softLog = (await n1.readFile('/tmp/alarm-soft.log')).toString();
      const fatalLog = (await n1.readFile('/tmp/alarm-fatal.log')).toString();
      figures.push(
        `alarm on a frozen server, 9 s after the freeze: hard mount: stat still blocked (state ${state}, SIGALRM pending: ${(pending & (1n << 13n)) !== 0n}), handler not run: "${hardLog.trim()}"`,
        `  soft mount (timeo=20,retrans=1): "${softLog.trim().replace(/\n/g, ' / ')}"`,
        `  alarm without a handler (fatal): "${fatalLog.trim()}"`,
      );
      expect(state).toBe('D');
      expect((pending & (1n << 13n)) !== 0n).toBe(true);
      expect(hardLog).toBe('');
      expect(fatalLog).toMatch(/^exit 124 after 2\d{3} ms$/m);
      const r = await hungCheck;
      const checkMs = Date.now() - frozenAt;
      figures.push(`hung mount-authorization check refused after ${Math.round(checkMs / 1000)} s (limit 3 x LKNFSSYSCALLTO + 5 = ${3 * NFS_SYSCALL_S + 5} s, plus the export-list query)`);
      expect(numberOf(r), r.stderr).toBe('107013');
      expect(await v1.states()).toEqual({});
      await c.nfs.thaw();
      await n1.waitFor(async () => (await n1.readFile('/tmp/alarm-hard.log')).toString().includes('stat returned'), { deadlineMs: 120_000, intervalMs: 1000, what: 'the hard-mount stat to return after the thaw' });
      const after = (await n1.readFile('/tmp/alarm-hard.log')).toString().trim();
      figures.push(`  after the thaw (${Math.round((Date.now() - frozenAt) / 1000)} s): hard mount: "${after.replace(/\n/g, ' / ')}"; soft mount: "${(await n1.readFile('/tmp/alarm-soft.log')).toString().trim().replace(/\n/g, ' / ')}"`);
      // Both only once the server answered again, long after the alarm was due at 2 s.
      const returned = Number(/stat returned after (\d+\.\d) s/.exec(after)?.[1]);
      const handled = Number(/alarm handler ran at (\d+\.\d) s/.exec(after)?.[1]);
      expect(returned).toBeGreaterThan(20);
      expect(handled).toBeGreaterThan(20);
      void soft;
      void fatal;
    } finally {
      if (c.nfs.state === 'frozen') await c.nfs.thaw();
      await n1.run('umount -l /mnt/dh; umount -l /mnt/ds; true', { timeoutMs: 60_000 });
    }
    expect(await mountOf(v1, '/mnt/hung')).toBeUndefined();
  });

  it('creates the NAS hierarchy from the mounted export, with a writer on top, and extends it to node2', async () => {
    const n2fstab = (await v2.node.readFile('/etc/fstab')).toString();
    await v2.node.writeFile('/etc/fstab', `${n2fstab}${device} ${MNT} nfs vers=4.2,hard 0 0\n`);
    const out = await v1.must(['create', '-a', 'gen/filesys', '-t', FS_TAG, '-i', MNT, '--device', device, '--fstype', 'nfs']);
    expect(out).toMatch(/create: END successful creation of "device-nas-/);
    expect(out).toMatch(/Removing \/etc\/fstab entry/);
    expect(out).toMatch(/mount options carried to the other systems: vers=4\.2,hard/);
    await v1.must(['create', '-a', 'gen/app', '-t', APP_TAG, '-i', APP_TAG, '--restore', '/usr/local/bin/writer-start', '--remove', '/usr/local/bin/writer-stop', '--quick-check', '/usr/local/bin/writer-check']);
    await v1.must(['dep', 'create', '-p', APP_TAG, '-c', FS_TAG]);
    await v1.must(['extend', '-t', APP_TAG, '-s', 'node2', '--accept-defaults']);
    await v1.node.waitFor(async () => {
      const s1 = await v1.states();
      const s2 = await v2.states();
      return Object.values(s1).length === 3 && Object.values(s1).every((s) => s === 'ISP') && Object.values(s2).every((s) => s === 'OSU');
    }, { deadlineMs: 120_000, intervalMs: 1000, what: 'the hierarchy ISP on node1, OSU on node2' });
    for (const v of [v1, v2]) expect((await v.node.readFile('/etc/fstab')).toString()).not.toContain(MNT);
    expect(await mountOf(v2, MNT)).toBeUndefined();
    await v1.node.waitFor(async () => (await v1.node.run(`timeout 20 cat ${MNT}/app.log`, { timeoutMs: 30_000 })).split('\n').length > 4, { deadlineMs: 60_000, intervalMs: 1000, what: 'the writer to write' });
  });

  it('a freeze shorter than LKNFSTIMEOUT: no failover, probes abandoned and reclaimed, vigild answering', async () => {
    const c = cluster();
    // The same load in both windows (a CLI call and a scrape in turn; under TCG a node start-up
    // takes the guest's CPU for seconds), first with the server up, then frozen.
    const window = async (ms: number) => {
      const cli: number[] = [];
      let p99 = 0;
      await scrape(v1); // a fresh event-loop histogram
      const start = Date.now();
      while (Date.now() - start < ms) {
        const a = Date.now();
        const r = await v1.vigil(['ins_list']);
        expect(r.code, r.stderr).toBe(0);
        cli.push(Date.now() - a);
        p99 = Math.max(p99, sample(await scrape(v1), /^nodejs_eventloop_lag_p99_seconds (\S+)$/m));
      }
      return { cli, p99 };
    };
    const base = await window(6_000);
    const baseP99 = base.p99;
    const before = await scrape(v1);
    await c.nfs.freeze();
    const t0 = Date.now();
    let cli: number[] = [];
    let lagP99 = 0;
    try {
      ({ cli, p99: lagP99 } = await window(6_000));
    } finally {
      await c.nfs.thaw();
    }
    const frozeMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, (NAS_INTERVAL_S + 3) * 1000));
    const after = await scrape(v1);
    const hung = sample(after, /^vigil_nas_hung_probes_total\{tag="device-nas-[^"]+"\} (\S+)$/m) - (sample(before, /^vigil_nas_hung_probes_total\{tag="device-nas-[^"]+"\} (\S+)$/m) || 0);
    const parked = sample(after, /^vigil_nas_probes_parked\{tag="device-nas-[^"]+"\} (\S+)$/m);
    figures.push(
      `freeze of ${Math.round(frozeMs / 1000)} s (< LKNFSTIMEOUT ${NFS_TIMEOUT_S} s): ${hung} probe calls abandoned, ${parked} still parked after the thaw, ` +
        `no failover; vigil ins_list on node1 answered in ${Math.min(...cli)}-${Math.max(...cli)} ms while frozen, ${Math.min(...base.cli)}-${Math.max(...base.cli)} ms before (CLI start-up under TCG included); ` +
        `vigild event-loop lag p99 ${(lagP99 * 1000).toFixed(1)} ms while frozen against ${(baseP99 * 1000).toFixed(1)} ms before (TCG on a shared 2-core host; the host measurement is in nas-hang.test.ts)`,
    );
    expect(hung).toBeGreaterThanOrEqual(1);
    expect(parked).toBe(0);
    expect(after).not.toMatch(/^vigil_nas_export_failures_total/m);
    expect(Object.values(await v1.states()).every((s) => s === 'ISP')).toBe(true);
    // Under TCG the guest's own scheduling noise dominates the absolute figure: the freeze must not
    // add to it (the < 50 ms figure is measured on the host, test/integration/nas-hang.test.ts).
    expect(lagP99).toBeLessThan(2 * baseP99 + 0.02);
  });

  it('node1 loses its NFS link: the hierarchy moves to node2 within LKNFSTIMEOUT + one interval, with the data; node1 answers throughout', async () => {
    const n1 = v1.node;
    const clock1 = await guestClockOffset(n1);
    const clock2 = await guestClockOffset(v2.node);
    const writtenBefore = await n1.run(`timeout 30 cat ${MNT}/app.log`, { timeoutMs: 40_000 });
    const cutAt = Date.now();
    await n1.setLink('lan', false);
    const cli: number[] = [];
    try {
      await v2.node.waitFor(
        async () => {
          const a = Date.now();
          const r = await v1.vigil(['ins_list']);
          expect(r.code, r.stderr).toBe(0);
          cli.push(Date.now() - a);
          return Object.values(await v2.states()).every((s) => s === 'ISP');
        },
        { deadlineMs: 150_000, intervalMs: 500, what: 'the hierarchy ISP on node2' },
      );
    } finally {
      await n1.setLink('lan', true);
    }
    const seenAt = Date.now();
    const ev1 = (await v1.events()).map((e) => ({ ...e, hostAt: e.at - clock1.offsetMs }));
    const ev2 = (await v2.events()).map((e) => ({ ...e, hostAt: e.at - clock2.offsetMs }));
    const decided = ev1.find((e) => e.hostAt >= cutAt - 1000 && /quickCheck of device-nas-\S+ failed/.test(e.msg));
    const released = ev1.filter((e) => e.hostAt >= cutAt - 1000 && /^remove \S+ (succeeded|failed)/.test(e.msg)).at(-1);
    const inService = ev2.find((e) => e.hostAt >= cutAt - 1000 && e.msg.startsWith(`hierarchy ${APP_TAG} in service on node2`));
    expect(decided, ev1.map((e) => `${e.at} ${e.msg}`).join('\n')).toBeDefined();
    expect(inService, ev2.map((e) => `${e.at} ${e.msg}`).join('\n')).toBeDefined();
    const decisionS = (decided!.hostAt - cutAt) / 1000;
    const moveS = (inService!.hostAt - decided!.hostAt) / 1000;
    figures.push(
      `node1's NFS link cut: decision after ${decisionS.toFixed(1)} s (LKNFSTIMEOUT ${NFS_TIMEOUT_S} s + interval ${NAS_INTERVAL_S} s; the seeds' default LKNFSTIMEOUT is 120 s), ` +
        `release on node1 done at +${released ? ((released.hostAt - cutAt) / 1000).toFixed(1) : '?'} s, in service on node2 ${moveS.toFixed(1)} s after the decision ` +
        `(total ${((inService!.hostAt - cutAt) / 1000).toFixed(1)} s; seen by the host at ${((seenAt - cutAt) / 1000).toFixed(1)} s); ` +
        `vigil ins_list on node1 answered ${cli.length} times, ${Math.min(...cli)}-${Math.max(...cli)} ms`,
    );
    expect(decisionS).toBeLessThan(NFS_TIMEOUT_S + NAS_INTERVAL_S + NFS_SYSCALL_S + 2);
    expect(decisionS).toBeGreaterThan(NFS_TIMEOUT_S - 2);
    const onNode2 = await v2.node.run(`timeout 60 cat ${MNT}/app.log`, { timeoutMs: 70_000 });
    expect(onNode2.startsWith(writtenBefore)).toBe(true);
    expect(await mountOf(v2, MNT)).toMatch(new RegExp(`^${server}:/ ${MNT} nfs4 `));
    await v2.node.waitFor(async () => (await v2.node.run(`timeout 20 cat ${MNT}/app.log`, { timeoutMs: 30_000 })).includes('node2 3'), { deadlineMs: 60_000, intervalMs: 1000, what: 'the writer on node2' });
    await n1.waitFor(async () => sees(v1, 'node2', 'ALIVE'), { deadlineMs: 60_000, intervalMs: 1000, what: 'node2 alive for node1' });
  });

  it('a file system mounted by host name is a bad mount: remounted by address', async () => {
    const n1 = v1.node;
    // Current mount.nfs hands the kernel the address it resolved, so /proc/mounts shows it; older
    // ones passed the name, which is what the seeds' "bad mount" is about. Give the kernel the name
    // directly (-i: no mount.nfs helper; the address goes in addr=) to make that mount.
    await n1.run(`echo '${server} nfsserver' >> /etc/hosts && mkdir -p /mnt/byname && mount -i -t nfs4 -o vers=4.2,proto=tcp,addr=${server} nfsserver:/bm /mnt/byname`, { timeoutMs: 60_000 });
    expect(await mountOf(v1, '/mnt/byname')).toMatch(/^nfsserver:\/bm /);
    const out = await v1.must(['create', '-a', 'gen/filesys', '-t', 'byname', '-i', '/mnt/byname', '--device', 'nfsserver:/bm', '--fstype', 'nfs']);
    expect(out).toMatch(/mounted by host name \(nfsserver\): a bad mount/);
    const t0 = Date.now();
    await n1.waitFor(async () => (await mountOf(v1, '/mnt/byname'))?.startsWith(`${server}:/bm `) ?? false, { deadlineMs: 60_000, intervalMs: 1000, what: 'the remount by address' });
    figures.push(`bad mount nfsserver:/bm remounted as ${server}:/bm within ${Math.round((Date.now() - t0) / 1000)} s of the create`);
    expect((await v1.states())['byname']).toBe('ISU');
    expect(await scrape(v1)).toMatch(/^vigil_nas_bad_mounts_total\{tag="byname",result="success"\} 1$/m);
    await v1.must(['delete', '-t', 'byname']);
  });

  it('LKNASERROR=halt on node2: losing its NFS link halts it at once, node1 takes over', async () => {
    const c = cluster();
    const n2 = v2.node;
    const cutAt = Date.now();
    await n2.setLink('lan', false);
    await v1.node.waitFor(async () => (await sees(v1, 'node2', 'DEAD')) && Object.values(await v1.states()).every((s) => s === 'ISP'), {
      deadlineMs: 180_000,
      intervalMs: 1000,
      what: 'node2 DEAD and the hierarchy ISP on node1',
    });
    figures.push(`LKNASERROR=halt: node2's NFS link cut; node2 halted and the hierarchy was in service on node1 ${((Date.now() - cutAt) / 1000).toFixed(1)} s later (host polling)`);
    await v1.node.waitFor(async () => c.node('node2').state !== 'running' || !(await n2.exec('true', { timeoutMs: 3000 }).then(() => true, () => false)), {
      deadlineMs: 30_000,
      intervalMs: 1000,
      what: 'node2 to be powered off',
    });
    const log = await v1.node.run(`timeout 60 cat ${MNT}/app.log`, { timeoutMs: 70_000 });
    expect(log).toMatch(/^node2 \d+$/m);
    await v1.node.waitFor(async () => (await v1.node.run(`timeout 20 cat ${MNT}/app.log`, { timeoutMs: 30_000 })).split('\n').filter((l) => l.startsWith('node1')).length > log.split('\n').filter((l) => l.startsWith('node1')).length, {
      deadlineMs: 60_000,
      intervalMs: 1000,
      what: 'the writer on node1 again',
    });
  });
});
