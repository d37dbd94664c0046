// Failover of a replicated file system, the last part of the mirror benchmark. Both measure from
// the SIGKILL of node1's qemu (the primary) to node2 serving the file system: mounted from its own
// half of the mirror and a 1 MiB file written (and fsync'ed) on node1 before the crash read back
// whole with the same checksum (sha256sum, the "first file read"; the mount is fresh, so it comes
// from the disk). node2 watches for the file itself, a shell loop every 0.1 s in the guest, and
// the moments are guest wall-clock stamps mapped to the host's clock (peers/clock.ts).
//  - Vigil: vigild on both nodes (two TCP comm paths, LCMHBEATTIME=1, LCMNUMHBEATS=3 as the
//    netraid e2e test), a scsi/netraid "new replicated file system" hierarchy (md RAID1 over
//    node2's NBD export, ext4, gen/filesys on top) in service on node1 and extended to node2. The
//    figure is the whole failover: detection (heartbeats), the decision, the kit's restore (md
//    assembled from node2's disk, mounted) and the read. This is what test/e2e/netraid.test.ts
//    logs as "SIGKILL of node1 -> newfs and oldfs ISP on node2 seen after N ms", polled there
//    each second through the admin socket; here to the file read, polled each 0.1 s. vigild's
//    own log gives when it declared node1 dead and when its restore of the file system
//    succeeded, so the part after detection is reported too.
//  - DRBD (no cluster manager): a protocol C resource with ext4, primary on node1. DRBD's own
//    loss of the peer (its ping times out) is recorded, then what DRBD owns of a failover is
//    timed on node2: `drbdadm primary`, `mount`, the file read. Failure detection, the decision
//    and fencing, which a cluster manager (Pacemaker, or Vigil) adds, are NOT in that figure.
import path from 'node:path';
import type { VmNode } from '../../vmcluster/node.js';
import { repoRoot } from '../../vmcluster/paths.js';
import { guestWallToHost, measureClock } from '../peers/clock.js';
import { firstVigilAfter } from '../peers/guest-log.js';
import { snapshotBuild } from '../peers/vigil.js';
import { DrbdPair } from './drbd-pass.js';

const FILE_MB = 1;

export interface DrbdFailoverFigures {
  what: string;
  /** SIGKILL of node1 to node2's DRBD leaving cs:Connected (its ping timed out), ms. Not a cluster manager's detection. */
  drbdPeerLossMs: number;
  /** On node2: drbdadm primary + mount + the file read, timed inside the guest, ms. */
  promoteMountReadMs: number;
  /** The same split: drbdadm primary alone; mount; the read (sha256sum of the file). */
  primaryMs: number;
  mountMs: number;
  readMs: number;
  dataIntact: boolean;
}

export interface VigilFailoverFigures {
  what: string;
  /** SIGKILL of node1 to the file read back whole on node2 (guest stamp mapped to the host), ms. */
  killToServedMs: number;
  /** vigild on node2: node1 declared dead, ms after the SIGKILL. */
  detectedMs: number | null;
  /** vigild on node2: restore of the gen/filesys resource succeeded (mounted), ms after the SIGKILL. */
  fsRestoredMs: number | null;
  /** killToServedMs - detectedMs: the decision, md assembled, mount, read. */
  afterDetectionMs: number | null;
  dataIntact: boolean;
  clockUncertaintyMs: number;
  settings: Record<string, string>;
}

/** A shell line that writes FILE_MB random MiB to `file`, fsyncs it, and prints its sha256. */
const writeFile = (file: string) => `head -c ${FILE_MB * 1048576} /dev/urandom > ${file} && sync -f ${file} && sha256sum ${file}`;

/**
 * Busybox sh: its `[` is a built-in and its `sleep` an applet run without a fork, so a 0.1 s poll
 * takes next to nothing from node2's one emulated vCPU while it takes over; busybox's own date has
 * no %N, hence coreutils' by path.
 */
const guestSh = (script: string): string[] => ['/run/vmc/busybox', 'sh', '-c', script];

/** Wait (0.1 s polls) until `file` exists, read it, print its sha256 and the guest wall ms. */
const waitAndRead = (file: string) => `while [ ! -e ${file} ]; do sleep 0.1; done; /usr/bin/sha256sum ${file}; /usr/bin/date +%s%3N`;

/** DRBD: primary on node1 with ext4 and a file; SIGKILL node1; node2 promotes, mounts, reads. */
export async function drbdFailover(n1: VmNode, n2: VmNode, disk: string): Promise<DrbdFailoverFigures> {
  const mnt = '/srv/drbd-fo';
  const pair = new DrbdPair(n1, n2, 'fo', 9, disk, 7799);
  await pair.prepare();
  await n1.run(`${pair.adm('up', pair.name)} && ${pair.adm('primary', '--force', pair.name)}`, { timeoutMs: 120_000 });
  await pair.waitInSync(600_000);
  const sum = (await n1.run(`modprobe ext4 && mkfs.ext4 -q -F ${pair.dev} && mkdir -p ${mnt} && mount ${pair.dev} ${mnt} && ${writeFile(`${mnt}/data`)}`, { timeoutMs: 180_000 })).split(/\s+/)[0];
  await n2.run(`modprobe ext4 && mkdir -p ${mnt}`, { timeoutMs: 60_000 });
  const clock = await measureClock(n2);
  const t0 = Date.now();
  await n1.crash();
  // Each step stamped inside the guest (ns); the poll runs busybox's grep (no exec) each 0.1 s.
  const script = [
    `while grep -q '^ *${pair.minor}: cs:Connected' /proc/drbd; do sleep 0.1; done`,
    'a=$(/usr/bin/date +%s%N)',
    pair.adm('primary', pair.name),
    'b=$(/usr/bin/date +%s%N)',
    `/usr/bin/mount -t ext4 ${pair.dev} ${mnt}`,
    'c=$(/usr/bin/date +%s%N)',
    `/usr/bin/sha256sum ${mnt}/data`,
    'd=$(/usr/bin/date +%s%N)',
    'echo $a $b $c $d',
  ].join(' && ');
  const out = (await n2.run(guestSh(script), { timeoutMs: 300_000 })).trim().split('\n');
  const [a, b, c, d] = out.at(-1)!.split(' ').map((x) => Number(x) / 1e6);
  const read = out.find((l) => l.endsWith(`${mnt}/data`))?.split(/\s+/)[0];
  return {
    what: 'DRBD without a cluster manager: drbdadm primary + mount + first file read on the secondary after the primary VM was killed; failure detection, decision and fencing (a cluster manager\'s part) are not included',
    drbdPeerLossMs: Math.round(guestWallToHost(clock, a!) - t0),
    promoteMountReadMs: Math.round(d! - a!),
    primaryMs: Math.round(b! - a!),
    mountMs: Math.round(c! - b!),
    readMs: Math.round(d! - c!),
    dataIntact: read === sum,
  };
}

/** Vigil: vigild on both, a new replicated file system on `disk` in service on node1, SIGKILL node1, node2 serves it. */
export async function vigilFailover(n1: VmNode, n2: VmNode, disk: string, number: number): Promise<VigilFailoverFigures> {
  const snap = snapshotBuild(repoRoot);
  const cli = path.join(snap.srcDir, 'cli', 'main.js');
  const mnt = '/srv/vigil-fo';
  const port = '7366';
  const log = '/var/log/vigild.log';
  const conf = '/etc/default/vigil';
  const settings: Record<string, string> = { LCMHBEATTIME: '1', LCMNUMHBEATS: '3', LKCHECKINTERVAL: '10', VIGIL_NBD_TIMEOUT: '4' };
  const vigil = async (n: VmNode, args: string[], timeoutMs = 300_000) => {
    const r = await n.exec(['node', cli, ...args], { timeoutMs });
    if (r.code !== 0 || r.timedOut) throw new Error(`${n.name}: vigil ${args.join(' ')} ${r.timedOut ? 'timed out' : `exited ${r.code}`}:\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const states = async (n: VmNode) => Object.fromEntries((JSON.parse(await vigil(n, ['ins_list', '--json'])) as Array<{ tag: string; state: string }>).map((r) => [r.tag, r.state]));
  const pids = new Map<VmNode, number>();
  try {
    for (const n of [n1, n2]) {
      await n.run('modprobe raid1 && modprobe nbd && modprobe ext4 && mkdir -p /etc/default /var/lib/vigil /run/vigil /etc/vigil && chmod 700 /var/lib/vigil /etc/vigil /run/vigil', { timeoutMs: 120_000 });
      const values = { VIGIL_NODE_NAME: n.name, VIGIL_STATE_DIR: '/var/lib/vigil', VIGIL_ADMIN_SOCKET: '/run/vigil/admin.sock', VIGIL_KEY_FILE: '/etc/vigil/cluster.key', VIGIL_METRICS_ADDRESS: 'off', VIGIL_LOG_LEVEL: 'info', ...settings };
      await n.writeFile(conf, Object.entries(values).map(([k, v]) => `${k}=${v}\n`).join(''), 0o600);
    }
    await vigil(n1, ['keygen']);
    await n2.writeFile('/etc/vigil/cluster.key', await n1.readFile('/etc/vigil/cluster.key'), 0o600);
    for (const n of [n1, n2]) pids.set(n, (await n.spawn(['node', path.join(snap.srcDir, 'daemon', 'main.js'), '--config', conf], { log })).pid);
    for (const n of [n1, n2]) await n.waitFor(async () => (await n.readFile(log).catch(() => Buffer.alloc(0))).toString().includes('vigild ready'), { deadlineMs: 300_000, intervalMs: 500, what: 'vigild ready' });
    for (const [a, b] of [[n1, n2], [n2, n1]] as const) for (const seg of ['lan', 'p2p1']) await vigil(a, ['net_create', '-S', b.name, '-T', 'TCP', '-l', a.ip(seg), '-r', b.ip(seg), '-P', port]);
    const alive = async (a: VmNode, b: VmNode) => (JSON.parse(await vigil(a, ['sys_list', '--json'])) as Array<{ name: string; state: string }>).find((s) => s.name === b.name)?.state === 'ALIVE';
    await n1.waitFor(async () => (await alive(n1, n2)) && (await alive(n2, n1)), { deadlineMs: 180_000, intervalMs: 1000, what: 'both vigild ALIVE' });

    // The replication over the point-to-point link, as the mirror passes and DRBD's.
    const lkdr = `lkdr${number}`;
    const fsTag = 'vigilfs';
    await vigil(n1, [
      'create', '-a', 'scsi/netraid', '-t', lkdr, '-i', `/dev/md${number}`, '--fstype', 'ext4', '--switchback', 'intelligent',
      '--info', `number=${number}`, `partition@node1=${disk}`, `partition@node2=${disk}`, `address@node1=${n1.ip('p2p1')}`, `address@node2=${n2.ip('p2p1')}`,
      `mountPoint=${mnt}`, `fsTag=${fsTag}`, 'type=new-fs', '--yes-destroy-data',
    ]);
    await vigil(n1, ['extend', '-t', lkdr, '-s', 'node2', '--accept-defaults']);
    // In sync by md's own account first: right after extend node2's instance is OSU before its
    // export and the resync have even begun, and a crash then leaves node2 a copy Vigil rightly
    // refuses (104013: out of date), which once made a run time out here.
    await n1.waitFor(async () => (await n1.run(`cat /sys/block/md${number}/md/degraded /sys/block/md${number}/md/sync_action`)).split('\n').join(' ').trim() === '0 idle', {
      deadlineMs: 900_000,
      intervalMs: 500,
      what: `md${number} in sync (both halves, no copy running)`,
    });
    await n1.waitFor(async () => {
      const [s1, s2] = [await states(n1), await states(n2)];
      return s1[lkdr] === 'ISP' && s1[fsTag] === 'ISP' && s2[lkdr] === 'OSU' && s2[fsTag] === 'OSU';
    }, { deadlineMs: 300_000, intervalMs: 2000, what: `${lkdr} ISP on node1, OSU on node2` });
    const sum = (await n1.run(writeFile(`${mnt}/data`), { timeoutMs: 120_000 })).split(/\s+/)[0];
    // node2 must not have the mount point's file before it mounts (the loop below waits for it).
    if ((await n2.exec(['test', '-e', `${mnt}/data`])).code === 0) throw new Error(`node2 has ${mnt}/data before the failover`);
    const clock = await measureClock(n2);
    const t0 = Date.now();
    await n1.crash();
    const served = await n2.exec(guestSh(waitAndRead(`${mnt}/data`)), { timeoutMs: 180_000 });
    if (served.code !== 0 || served.timedOut) {
      // What node2's agent and kernel say, for the report (the run goes on with the other figures).
      const diag = await n2.exec(`node ${cli} ins_list; cat /proc/mdstat; dmesg | tail -40; tail -c 6000 ${log}`, { timeoutMs: 120_000 });
      throw new Error(`node2 did not serve ${mnt}/data within 180 s of the SIGKILL (${served.timedOut ? 'timed out' : `exit ${served.code}`}):\n${diag.stdout}${diag.stderr}`);
    }
    const out = served.stdout.trim().split('\n');
    const servedAt = guestWallToHost(clock, Number(out.at(-1)));
    const read = out.find((l) => l.endsWith(`${mnt}/data`))?.split(/\s+/)[0];
    await new Promise((r) => setTimeout(r, 1000)); // vigild's last lines
    const text = (await n2.readFile(log)).toString();
    const after = t0 + clock.wallOffsetMs - 1000;
    const at = (re: RegExp) => {
      const g = firstVigilAfter(text, re, after);
      return g === undefined ? null : Math.round(guestWallToHost(clock, g) - t0);
    };
    const detectedMs = at(/\bsystem dead$/);
    const killToServedMs = Math.round(servedAt - t0);
    return {
      what: 'Vigil: SIGKILL of the primary VM to the replicated file system mounted on the backup and a file read back, failure detection included',
      killToServedMs,
      detectedMs,
      fsRestoredMs: at(new RegExp(`\\brestore ${fsTag} succeeded`)),
      afterDetectionMs: detectedMs === null ? null : killToServedMs - detectedMs,
      dataIntact: read === sum,
      clockUncertaintyMs: Math.round(clock.uncertaintyMs),
      settings,
    };
  } finally {
    // The surviving vigild goes, so nothing of Vigil's runs beside a later pass.
    for (const [n, pid] of pids) if (n.state === 'running') await n.kill(pid, 'SIGTERM').catch(() => undefined);
    snap.remove();
  }
}
