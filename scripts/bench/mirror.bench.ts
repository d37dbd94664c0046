// NetRAID mirror benchmark on the VM cluster (`npm run bench -- mirror`; reports skipped with the
// reason where VMs cannot run). Two nodes on a point-to-point link, node1's first 1 GiB disk
// mirrored to node2's over NBD (Debian's nbd-server on node2) with the netraid utilities:
//  - full resync time of the 1 GiB mirror (extend until netraid_status says 100);
//  - sequential O_DIRECT write throughput through /dev/md0 against node1's second, plain local
//    disk (same size, same kind of virtual disk);
//  - partial resync: the link is cut, 1% of the array is rewritten, the link comes back and
//    netraid_resync re-adds the backup; the time until in sync again, against the full one.
// Figures are from TCG-emulated guests, so absolute numbers are low; the ratios are the point.
import { Cluster, vmclusterUnavailableReason } from '../vmcluster/cluster.js';
import type { VmNode } from '../vmcluster/node.js';
import { repoRoot } from '../vmcluster/paths.js';

const DISK_MB = 1024;
const WRITE_MB = 256;
const PORT = 10809;

export async function bench(): Promise<Record<string, unknown>> {
  const unavailable = vmclusterUnavailableReason();
  if (unavailable) return { skipped: unavailable };
  const c = await Cluster.start({ nodes: 2, p2p: [['node1', 'node2']], localDisksMb: [DISK_MB, DISK_MB] });
  try {
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    const [mirrored, plain] = [n1.localDisks[0]!, n1.localDisks[1]!];
    const cli = `${repoRoot}/dist/src/cli/main.js`;
    const env = { VIGIL_CONFIG: '/tmp/vigil.conf' };
    const vigil = async (...args: string[]) => {
      const r = await n1.exec([process.execPath, cli, ...args], { timeoutMs: 600_000, env });
      if (r.code !== 0 && args[0] !== 'netraid_status') throw new Error(`vigil ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
      return r;
    };
    const secondsUntilInSync = async (deadlineMs: number): Promise<number> => {
      const t0 = Date.now();
      for (;;) {
        const r = await vigil('netraid_status', '0');
        if (r.stdout.trim() === '100') return (Date.now() - t0) / 1000;
        if (Date.now() - t0 > deadlineMs) throw new Error(`not in sync after ${deadlineMs} ms (status ${r.stdout.trim()})`);
        await new Promise((res) => setTimeout(res, 250));
      }
    };
    const ddMBps = async (n: VmNode, target: string, seekMb: number, mb: number): Promise<number> => {
      const t0 = Date.now();
      await n.run(`dd if=/dev/zero of=${target} bs=1M seek=${seekMb} count=${mb} oflag=direct conv=fsync status=none`, { timeoutMs: 600_000 });
      return mb / ((Date.now() - t0) / 1000);
    };

    await n2.writeFile('/tmp/nbd.conf', `[generic]\n  user = root\n  group = root\n  listenaddr = ${n2.ip('p2p1')}\n  port = ${PORT}\n[netraid0]\n  exportname = ${n2.localDisks[0]}\n`);
    await n2.run('nbd-server -C /tmp/nbd.conf', { timeoutMs: 30_000 });
    await n1.writeFile('/tmp/vigil.conf', 'VIGIL_NODE_NAME=node1\nVIGIL_STATE_DIR=/tmp/vigil-state\nVIGIL_NBD_TIMEOUT=5\nLKDR_SPEED_LIMIT=2000000\n');

    await vigil('netraid_create', mirrored, '0');
    const extendT0 = Date.now();
    await vigil('netraid_extend', 'node1', mirrored, n2.localDisks[0]!, n2.ip('p2p1'), String(PORT), '0');
    await secondsUntilInSync(1_800_000);
    const fullResyncS = (Date.now() - extendT0) / 1000;
    const bitmapChunkKiB = Number((await n1.run('cat /sys/block/md0/md/bitmap/chunksize')).trim()) / 1024;

    const localMBps = await ddMBps(n1, plain, 0, WRITE_MB);
    const mirroredMBps = await ddMBps(n1, '/dev/md0', 0, WRITE_MB);

    // 1% of the array rewritten while the backup is cut off.
    const arrayMb = Math.floor(Number((await n1.run('cat /sys/block/md0/size')).trim()) / 2048);
    const rewriteMb = Math.max(1, Math.round(arrayMb / 100));
    // md clears bitmap bits lazily (a few seconds after the writes): wait until the throughput
    // run above left none set, so the partial resync copies only what the outage dirtied.
    const dirtyNow = async () => Number(/Bitmap : \d+ bits \(chunks\), (\d+) dirty/.exec(await n1.run(`mdadm -X ${mirrored}`))?.[1] ?? -1);
    for (let i = 0; i < 120 && (await dirtyNow()) !== 0; i++) await new Promise((res) => setTimeout(res, 1000));
    await n2.setLink('p2p1', false);
    await n1.run(`dd if=/dev/urandom of=/dev/md0 bs=1M seek=${Math.floor(arrayMb / 2)} count=${rewriteMb} oflag=direct conv=fsync status=none`, { timeoutMs: 120_000 });
    const dirty = /Bitmap : \d+ bits \(chunks\), (\d+) dirty/.exec(await n1.run(`mdadm -X ${mirrored}`))?.[1];
    await n2.setLink('p2p1', true);
    await new Promise((res) => setTimeout(res, 1000));
    const partialT0 = Date.now();
    await vigil('netraid_resync', 'netraid0');
    await secondsUntilInSync(600_000);
    const partialResyncS = (Date.now() - partialT0) / 1000;

    return {
      kernel: c.image.kernelVersion,
      diskMiB: DISK_MB,
      arrayMiB: arrayMb,
      bitmapChunkKiB,
      fullResyncS: Number(fullResyncS.toFixed(2)),
      fullResyncMBps: Number((arrayMb / fullResyncS).toFixed(1)),
      sequentialWriteMiB: WRITE_MB,
      localWriteMBps: Number(localMBps.toFixed(1)),
      mirroredWriteMBps: Number(mirroredMBps.toFixed(1)),
      mirroredToLocalRatio: Number((mirroredMBps / localMBps).toFixed(3)),
      partialRewriteMiB: rewriteMb,
      partialDirtyChunks: dirty === undefined ? null : Number(dirty),
      partialResyncS: Number(partialResyncS.toFixed(2)),
      partialToFullRatio: Number((partialResyncS / fullResyncS).toFixed(4)),
    };
  } finally {
    await c.teardown();
  }
}
