// The DRBD side of the mirror benchmark, on the same VM pair and the same kind of disks as Vigil's
// pass: node1's disk mirrored to node2's by the kernel's DRBD 8.4 (protocol C, internal
// meta-data, drbd-conf.ts), driven by drbdadm from the host's drbd-utils (the guests run the
// host's / over 9p). Measured the way mirror.bench.ts measures Vigil's md mirror:
//  - full sync: a /dev/kmsg mark, then `drbdadm up` + `drbdadm primary --force` on node1 (node2
//    is up and waiting), to DRBD's "Resync done" line; DRBD's copy alone is its "Began resync" to
//    "Resync done" (nbd-vm/drbd-log.ts);
//  - sequential O_DIRECT write of the same size through /dev/drbdN against node1's plain local
//    disk, the same dd, right before it;
//  - partial resync: node2's replication link cut the same way (QMP set_link), 1% of the device
//    rewritten on node1 (the write completes once DRBD gives up the peer), `drbdadm disconnect`
//    so it waits for the command as md waits for netraid_resync, the link back, then a mark and
//    `drbdadm connect`, to "Resync done".
import type { VmNode } from '../../vmcluster/node.js';
import { drbdConf } from '../nbd-vm/drbd-conf.js';
import { procDrbd, resyncAfter } from '../nbd-vm/drbd-log.js';
import { markStamp } from '../nbd-vm/md-log.js';
import { ratio } from '../nbd-vm/stats.js';
import { ddMiBps, round2 } from './dd.js';
import type { MirrorPassFigures } from './figures.js';

export interface DrbdFigures extends MirrorPassFigures {
  server: 'drbd';
  /** /proc/drbd's version line and drbdadm's version. */
  drbdVersion: string;
  drbdUtils: string;
  deviceMiB: number;
  /** DRBD's out-of-sync count after the outage (/proc/drbd oos:), KiB. */
  partialOutOfSyncKiB: number;
}

/** A DRBD resource on node1's and node2's disk `disk`, its conf written to both guests. */
export class DrbdPair {
  readonly conf: string;
  readonly confPath: string;
  readonly dev: string;

  constructor(
    readonly n1: VmNode,
    readonly n2: VmNode,
    readonly name: string,
    readonly minor: number,
    disk: string,
    port: number,
    segment = 'p2p1',
  ) {
    this.conf = drbdConf({
      name,
      minor,
      port,
      hosts: [
        { name: n1.name, disk, address: n1.ip(segment) },
        { name: n2.name, disk, address: n2.ip(segment) },
      ],
    });
    this.confPath = `/tmp/drbd-${name}.conf`;
    this.dev = `/dev/drbd${minor}`;
  }

  /** `drbdadm -c CONF ARGS` as a shell command line. */
  adm(...args: string[]): string {
    return `drbdadm -c ${this.confPath} ${args.join(' ')}`;
  }

  /** Load the module, write the conf, create the meta-data on both and bring node2 up (waiting for node1). */
  async prepare(): Promise<void> {
    for (const n of [this.n1, this.n2]) {
      // The guest's hostname is what drbdadm matches against the conf's `on` sections.
      const host = (await n.run('uname -n')).trim();
      if (host !== n.name) throw new Error(`${n.name}: uname -n says ${host}; the DRBD conf names ${n.name}`);
      await n.writeFile(this.confPath, this.conf);
      await n.run(`modprobe drbd && ${this.adm('create-md', '--force', this.name)}`, { timeoutMs: 120_000 });
    }
    await this.n2.run(this.adm('up', this.name), { timeoutMs: 120_000 });
  }

  /** This resource's line of /proc/drbd on `n`. */
  async state(n: VmNode) {
    return procDrbd(await n.run('cat /proc/drbd'), this.minor);
  }

  async waitInSync(deadlineMs: number): Promise<void> {
    await this.n1.waitFor(
      async () => {
        const s = await this.state(this.n1);
        return s?.cs === 'Connected' && s.ds === 'UpToDate/UpToDate';
      },
      { deadlineMs, intervalMs: 250, what: `${this.name} connected and UpToDate on both` },
    );
  }

  async down(): Promise<void> {
    for (const n of [this.n1, this.n2]) if (n.state === 'running') await n.exec(this.adm('down', this.name), { timeoutMs: 120_000 });
  }
}

/** The DRBD pass on node1's/node2's disk `disk`; the plain disk is node1's `plain`. */
export async function measureDrbdMirror(n1: VmNode, n2: VmNode, disk: string, plain: string, writeMb: number): Promise<DrbdFigures> {
  const pair = new DrbdPair(n1, n2, 'bench', 0, disk, 7789);
  await pair.prepare();
  try {
    const drbdVersion = (await n1.run('head -n 1 /proc/drbd')).trim();
    const drbdUtils = /DRBDADM_VERSION=(\S+)/.exec(await n1.run('drbdadm --version 2>/dev/null; true'))?.[1] ?? 'unknown';
    /** Runs `cmd` on node1 after a kernel-log mark; returns DRBD's resync that followed, on the kernel's clock. */
    const timedResync = async (mark: string, cmd: string, deadlineMs: number) => {
      await n1.run(`echo ${mark} > /dev/kmsg && ${cmd}`, { timeoutMs: 120_000 });
      await pair.waitInSync(deadlineMs);
      const log = await n1.run('dmesg');
      const since = markStamp(log, mark);
      const r = resyncAfter(log, `drbd${pair.minor}`, since);
      if (r.role !== 'SyncSource') throw new Error(`DRBD resync on node1 as ${r.role}, expected SyncSource`);
      return { resyncS: r.endS - since, copyS: r.endS - r.startS };
    };

    const full = await timedResync('vigil-bench-drbd-full', `${pair.adm('up', pair.name)} && ${pair.adm('primary', '--force', pair.name)}`, 1_800_000);
    const deviceMiB = Math.floor(Number((await n1.run(`cat /sys/block/drbd${pair.minor}/size`)).trim()) / 2048);

    const localWriteMiBps = await ddMiBps(n1, plain, writeMb);
    const mirroredWriteMiBps = await ddMiBps(n1, pair.dev, writeMb);

    // 1% of the device rewritten while the backup is cut off, in the middle as in Vigil's pass.
    const rewriteMiB = Math.max(1, Math.round(deviceMiB / 100));
    await n2.setLink('p2p1', false);
    await n1.run(`dd if=/dev/urandom of=${pair.dev} bs=1M seek=${Math.floor(deviceMiB / 2)} count=${rewriteMiB} oflag=direct conv=fsync status=none`, { timeoutMs: 180_000 });
    // Left alone DRBD reconnects by itself when the link returns; disconnected, it waits for the
    // command, as md's degraded array waits for netraid_resync.
    await n1.run(pair.adm('disconnect', pair.name), { timeoutMs: 120_000 });
    const oos = (await pair.state(n1))?.oosKiB;
    if (oos === undefined) throw new Error('/proc/drbd on node1 has no oos: count after the outage');
    // node2 must have given up the old connection too (its ping times out), or the reconnect
    // would first wait for that.
    await n2.waitFor(async () => (await pair.state(n2))?.cs !== 'Connected', { deadlineMs: 120_000, intervalMs: 500, what: 'node2 DRBD sees the peer gone' });
    await n2.setLink('p2p1', true);
    await new Promise((res) => setTimeout(res, 1000));
    const partial = await timedResync('vigil-bench-drbd-partial', pair.adm('connect', pair.name), 600_000);

    return {
      server: 'drbd',
      drbdVersion,
      drbdUtils,
      deviceMiB,
      fullResyncS: round2(full.resyncS),
      fullCopyS: round2(full.copyS),
      fullCopyMiBps: Math.round((deviceMiB / full.copyS) * 10) / 10,
      localWriteMiBps,
      mirroredWriteMiBps,
      mirroredToLocalRatio: ratio(mirroredWriteMiBps, localWriteMiBps),
      partialRewriteMiB: rewriteMiB,
      partialOutOfSyncKiB: oos,
      partialResyncS: round2(partial.resyncS),
      partialCopyS: round2(partial.copyS),
      partialToFullRatio: ratio(partial.resyncS, full.resyncS),
      partialToFullCopyRatio: ratio(partial.copyS, full.copyS),
    };
  } finally {
    await pair.down();
  }
}
