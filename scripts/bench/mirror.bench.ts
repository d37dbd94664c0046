// NetRAID mirror benchmark on the VM cluster (`npm run bench -- mirror`; reports skipped with the
// reason where VMs cannot run). Two nodes on a point-to-point link; a 1 GiB disk of node1
// mirrored with the netraid utilities to a 1 GiB disk of node2 served by Vigil's NBD server (the
// NbdServerThread vigild runs on the backup, here in its own process: nbd-server-proc.ts), as the
// product does; then, for comparison, the same on another pair of disks served by Debian's
// nbd-server, and on another pair mirrored by the kernel's DRBD (protocol C, mirror-vm/drbd-pass.ts).
// MIRROR_BENCH_SERVERS picks the passes (default vigil,debian,drbd). Per pass:
//  - full resync of the 1 GiB mirror: from netraid_extend (DRBD: drbdadm up + primary --force) to in sync;
//  - sequential O_DIRECT write throughput through /dev/mdN (/dev/drbdN) against node1's plain
//    local disk (same size, same kind of virtual disk), measured right before it so both see the
//    same host load;
//  - partial resync: the link is cut, 1% of the array is rewritten, the link comes back and
//    netraid_resync re-adds the backup (DRBD: drbdadm connect); its time against the full one
//    (Vigil's goal: <= 0.05).
// Resync times come from the kernel log (nbd-vm/md-log.ts, nbd-vm/drbd-log.ts): `*CopyS` is the
// kernel's copy alone (md's "recovery of RAID array" to "recovery done", DRBD's "Began resync" to
// "Resync done"), `*ResyncS` runs from a mark written to /dev/kmsg just before the command (a node
// process start on the guest included for Vigil, drbdadm's for DRBD) to the end of the copy.
// Last, unless MIRROR_BENCH_FAILOVER=0, the failover of a replicated file system for Vigil and
// DRBD when selected (mirror-vm/failover.ts): SIGKILL of node1's qemu to the file system served on
// node2; DRBD's figure is only its own part (promote, mount, read), without failure detection.
// Figures are from TCG-emulated guests, so absolute numbers are low; the ratios are the point.
import { Cluster, vmclusterUnavailableReason } from '../vmcluster/cluster.js';
import type { VmNode } from '../vmcluster/node.js';
import { repoRoot } from '../vmcluster/paths.js';
import { spawnSync } from 'node:child_process';
import { measureDrbdMirror, type DrbdFigures } from './mirror-vm/drbd-pass.js';
import { ddMiBps, round2 } from './mirror-vm/dd.js';
import { drbdFailover, vigilFailover } from './mirror-vm/failover.js';
import { startGuestServer, type ServerKind } from './nbd-vm/guest-servers.js';
import { copyAfter, markStamp } from './nbd-vm/md-log.js';
import { ratio } from './nbd-vm/stats.js';
import type { MirrorPassFigures } from './mirror-vm/figures.js';

/** MIRROR_BENCH_DISK_MB (default 1024) sizes each mirrored pair and the plain disk; smaller makes a quick trial run. */
const DISK_MB_DEFAULT = 1024;
/** The failover passes' disks: small, so their initial syncs are short; ext4 fits. */
const FAILOVER_DISK_MB = 64;
type Pass = ServerKind | 'drbd';
const PASSES: readonly Pass[] = ['vigil', 'debian', 'drbd'];
const WRITE_MB = 256;
const PORTS: Record<ServerKind, number> = { vigil: 10809, debian: 10810 };
const GOAL_PARTIAL_TO_FULL = 0.05;

interface ServerFigures extends MirrorPassFigures {
  server: string;
  partialDirtyChunks: number | null;
}

export async function bench(): Promise<Record<string, unknown>> {
  const unavailable = vmclusterUnavailableReason();
  if (unavailable) return { skipped: unavailable };
  const passes = (process.env.MIRROR_BENCH_SERVERS ?? PASSES.join(',')).split(',').map((s) => s.trim()) as Pass[];
  if (passes.length === 0 || passes.some((s) => !PASSES.includes(s)) || new Set(passes).size !== passes.length) {
    throw new Error(`MIRROR_BENCH_SERVERS: a comma-separated list of ${PASSES.join(', ')}, each at most once, got ${process.env.MIRROR_BENCH_SERVERS}`);
  }
  const diskMb = Number(process.env.MIRROR_BENCH_DISK_MB ?? DISK_MB_DEFAULT);
  // The sequential write and the 1% rewrite in the middle of the array must both fit.
  if (!Number.isInteger(diskMb) || diskMb < 2 * WRITE_MB) throw new Error(`MIRROR_BENCH_DISK_MB: an integer of at least ${2 * WRITE_MB}, got ${process.env.MIRROR_BENCH_DISK_MB}`);
  const failoverEnv = process.env.MIRROR_BENCH_FAILOVER ?? '1';
  if (failoverEnv !== '0' && failoverEnv !== '1') throw new Error(`MIRROR_BENCH_FAILOVER: 0 or 1, got ${failoverEnv}`);
  if (passes.includes('drbd') && spawnSync('sh', ['-c', 'command -v drbdadm']).status !== 0) {
    throw new Error('mirror benchmark: the drbd pass needs drbdadm on the host (Debian package drbd-utils; the guests run the host\'s /), or leave drbd out of MIRROR_BENCH_SERVERS');
  }
  // Vigil's failover first (its vigild is stopped after it), then node1 boots again for DRBD's.
  const failovers = failoverEnv === '1' ? (['vigil', 'drbd'] as const).filter((p) => passes.includes(p)) : [];
  // Disks, the same list on both nodes: one pair per pass, node1's plain disk, then one small pair
  // per failover pass.
  const plainIndex = passes.length;
  const disksMb = [...Array<number>(passes.length + 1).fill(diskMb), ...failovers.map(() => FAILOVER_DISK_MB)];
  const c = await Cluster.start({ nodes: 2, p2p: [['node1', 'node2']], localDisksMb: disksMb });
  try {
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    await n1.writeFile('/tmp/vigil.conf', 'VIGIL_NODE_NAME=node1\nVIGIL_STATE_DIR=/tmp/vigil-state\nVIGIL_NBD_TIMEOUT=5\nLKDR_SPEED_LIMIT=2000000\n');
    const mdResults: ServerFigures[] = [];
    let drbd: DrbdFigures | undefined;
    let meta: { arrayMiB: number; bitmapChunkKiB: number } | undefined;
    const plain = n1.localDisks[plainIndex]!;
    for (const [i, kind] of passes.entries()) {
      if (kind === 'drbd') {
        drbd = await measureDrbdMirror(n1, n2, n1.localDisks[i]!, plain, WRITE_MB);
        continue;
      }
      const r = await measureMirror(n1, n2, kind, i, plain);
      meta = r.meta;
      mdResults.push(r.figures);
    }
    const by = Object.fromEntries(mdResults.map((r) => [r.server, r])) as Partial<Record<ServerKind, ServerFigures>>;
    const v = by.vigil;
    const d = by.debian;

    // Failovers last: each kills node1.
    const failover: Record<string, unknown> = {};
    for (const [j, kind] of failovers.entries()) {
      const disk = n1.localDisks[plainIndex + 1 + j]!;
      if (j > 0) await n1.boot(300_000);
      try {
        failover[kind] = kind === 'drbd' ? await drbdFailover(n1, n2, disk) : await vigilFailover(n1, n2, disk, plainIndex + 1 + j);
      } catch (e) {
        // A failed failover is reported as such, beside the mirror figures already measured.
        failover[kind] = { error: (e as Error).message };
      }
    }
    const vf = failover.vigil as Partial<Awaited<ReturnType<typeof vigilFailover>>> | undefined;
    const df = failover.drbd as Partial<Awaited<ReturnType<typeof drbdFailover>>> | undefined;
    return {
      kernel: c.image.kernelVersion,
      diskMiB: diskMb,
      ...meta,
      sequentialWriteMiB: WRITE_MB,
      ...(v ? { vigil: v, goalPartialToFullMax: GOAL_PARTIAL_TO_FULL, goalMet: v.partialToFullCopyRatio <= GOAL_PARTIAL_TO_FULL && v.partialToFullRatio <= GOAL_PARTIAL_TO_FULL } : {}),
      ...(d ? { debianNbdServer: d } : {}),
      ...(drbd ? { drbd } : {}),
      ...(v && d
        ? {
            ratioVigilOverDebian: {
              fullCopyTime: ratio(v.fullCopyS, d.fullCopyS),
              mirroredWrite: ratio(v.mirroredWriteMiBps, d.mirroredWriteMiBps),
              mirroredToLocal: ratio(v.mirroredToLocalRatio, d.mirroredToLocalRatio),
              partialCopyTime: ratio(v.partialCopyS, d.partialCopyS),
            },
          }
        : {}),
      ...(failovers.length ? { failoverDiskMiB: FAILOVER_DISK_MB, failover } : {}),
      ...(v && drbd
        ? {
            ratioVigilOverDrbd: {
              // Times: lower is better; throughputs: higher is better.
              fullResyncTime: ratio(v.fullResyncS, drbd.fullResyncS),
              fullCopyTime: ratio(v.fullCopyS, drbd.fullCopyS),
              mirroredWrite: ratio(v.mirroredWriteMiBps, drbd.mirroredWriteMiBps),
              mirroredToLocal: ratio(v.mirroredToLocalRatio, drbd.mirroredToLocalRatio),
              partialResyncTime: ratio(v.partialResyncS, drbd.partialResyncS),
              partialCopyTime: ratio(v.partialCopyS, drbd.partialCopyS),
              // Not like for like: Vigil's includes the decision after detection (md assembled,
              // mounted, read); DRBD's is drbdadm primary, mount and read only.
              ...(vf?.afterDetectionMs && df?.promoteMountReadMs ? { failoverAfterDetection: ratio(vf.afterDetectionMs, df.promoteMountReadMs) } : {}),
            },
          }
        : {}),
    };
  } finally {
    await c.teardown();
  }
}

/** Mirror number `i`: node1's disk i to node2's disk i served by `kind`, measured, then deleted. */
async function measureMirror(n1: VmNode, n2: VmNode, kind: ServerKind, i: number, plain: string) {
  const mirrored = n1.localDisks[i]!;
  const md = `md${i}`;
  const cli = `${repoRoot}/dist/src/cli/main.js`;
  const env = { VIGIL_CONFIG: '/tmp/vigil.conf' };
  const vigil = async (...args: string[]) => {
    const r = await n1.exec([process.execPath, cli, ...args], { timeoutMs: 600_000, env });
    if (r.code !== 0 && args[0] !== 'netraid_status') throw new Error(`vigil ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
    return r;
  };
  // md's state through sysfs (a cat, not a node process per look): in sync = not degraded, idle.
  const waitInSync = (deadlineMs: number) =>
    n1.waitFor(async () => (await n1.run(`cat /sys/block/${md}/md/degraded /sys/block/${md}/md/sync_action`)).split('\n').join(' ').trim() === '0 idle', {
      deadlineMs,
      intervalMs: 250,
      what: `${md} in sync`,
    });
  /** Runs `start` after a kernel-log mark and returns md's copy that followed, on the kernel's clock. */
  const timedResync = async (mark: string, start: () => Promise<unknown>, deadlineMs: number) => {
    await n1.run(`echo ${mark} > /dev/kmsg`);
    await start();
    await waitInSync(deadlineMs);
    const status = (await vigil('netraid_status', String(i))).stdout.trim();
    if (status !== '100') throw new Error(`${md}: netraid_status ${status} after the copy`);
    const log = await n1.run('dmesg');
    const copy = copyAfter(log, md, markStamp(log, mark));
    return { resyncS: copy.endS - markStamp(log, mark), copyS: copy.endS - copy.startS };
  };

  const server = await startGuestServer(n2, kind, { host: n2.ip('p2p1'), port: PORTS[kind], device: n2.localDisks[i]!, mirror: `netraid${i}`, generation: 1, primary: 'node1' });
  try {
    await vigil('netraid_create', mirrored, String(i));
    const full = await timedResync(
      `vigil-bench-${kind}-full`,
      () => vigil('netraid_extend', 'node1', mirrored, n2.localDisks[i]!, n2.ip('p2p1'), String(server.port), String(i), '--export', server.exportName),
      1_800_000,
    );
    const bitmapChunkKiB = Number((await n1.run(`cat /sys/block/${md}/md/bitmap/chunksize`)).trim()) / 1024;
    const arrayMiB = Math.floor(Number((await n1.run(`cat /sys/block/${md}/size`)).trim()) / 2048);

    const localWriteMiBps = await ddMiBps(n1, plain, WRITE_MB);
    const mirroredWriteMiBps = await ddMiBps(n1, `/dev/${md}`, WRITE_MB);

    // 1% of the array rewritten while the backup is cut off.
    const rewriteMiB = Math.max(1, Math.round(arrayMiB / 100));
    // md clears bitmap bits lazily (a few seconds after the writes): wait until the throughput
    // run above left none set, so the partial resync copies only what the outage dirtied.
    const dirtyNow = async () => Number(/Bitmap : \d+ bits \(chunks\), (\d+) dirty/.exec(await n1.run(`mdadm -X ${mirrored}`))?.[1] ?? -1);
    for (let t = 0; t < 120 && (await dirtyNow()) !== 0; t++) await new Promise((res) => setTimeout(res, 1000));
    await n2.setLink('p2p1', false);
    await n1.run(`dd if=/dev/urandom of=/dev/${md} bs=1M seek=${Math.floor(arrayMiB / 2)} count=${rewriteMiB} oflag=direct conv=fsync status=none`, { timeoutMs: 120_000 });
    const dirty = /Bitmap : \d+ bits \(chunks\), (\d+) dirty/.exec(await n1.run(`mdadm -X ${mirrored}`))?.[1];
    await n2.setLink('p2p1', true);
    await new Promise((res) => setTimeout(res, 1000));
    const partial = await timedResync(`vigil-bench-${kind}-partial`, () => vigil('netraid_resync', `netraid${i}`), 600_000);

    // The next server's pass runs with this array stopped.
    await vigil('netraid_delete', mirrored, String(i), n2.ip('p2p1'), String(server.port));
    const figures: ServerFigures = {
      server: kind,
      fullResyncS: round2(full.resyncS),
      fullCopyS: round2(full.copyS),
      fullCopyMiBps: Math.round((arrayMiB / full.copyS) * 10) / 10,
      localWriteMiBps,
      mirroredWriteMiBps,
      mirroredToLocalRatio: ratio(mirroredWriteMiBps, localWriteMiBps),
      partialRewriteMiB: rewriteMiB,
      partialDirtyChunks: dirty === undefined ? null : Number(dirty),
      partialResyncS: round2(partial.resyncS),
      partialCopyS: round2(partial.copyS),
      partialToFullRatio: ratio(partial.resyncS, full.resyncS),
      partialToFullCopyRatio: ratio(partial.copyS, full.copyS),
    };
    return { figures, meta: { arrayMiB, bitmapChunkKiB } };
  } finally {
    await server.stop();
  }
}
