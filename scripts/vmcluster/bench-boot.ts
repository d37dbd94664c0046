// Boot-time benchmark (JSON on stdout): image preparation from the cache, then N one-VM boots in
// sequence (qemu start -> guest agent ready), then one 3-VM cluster boot (2 nodes + NFS server),
// with the peak sum of qemu RSS. Usage: npx tsx scripts/vmcluster/bench-boot.ts [runs]
import os from 'node:os';
import { Cluster } from './cluster.js';
import { prepareImage } from './image.js';

const runs = Number(process.argv[2] ?? 3);
const t0 = Date.now();
const image = prepareImage();
const imageMs = Date.now() - t0;
const single: number[] = [];
for (let i = 0; i < runs; i++) {
  const c = await Cluster.start({ nodes: 1 });
  single.push(c.node('node1').bootMs);
  await c.teardown();
}
const t1 = Date.now();
const c = await Cluster.start({ nodes: 2, nfs: true, sharedScsiMb: 16, serial: [['node1', 'node2']] });
const clusterUpMs = Date.now() - t1;
const perNode = Object.fromEntries(c.nodes.map((n) => [n.name, n.bootMs]));
await new Promise((r) => setTimeout(r, 2000));
c.sampleMemory();
const peakRssMiB = Math.round(c.peakRssKb / 1024);
await c.teardown();
console.log(
  JSON.stringify(
    {
      kernel: image.kernelVersion,
      imageCachedMs: imageMs,
      singleVmBootMs: single,
      singleVmBootMedianMs: [...single].sort((a, b) => a - b)[Math.floor(single.length / 2)],
      threeVmClusterUpMs: clusterUpMs,
      threeVmBootMs: perNode,
      threeVmPeakQemuRssMiB: peakRssMiB,
      loadAverage1m: os.loadavg()[0],
    },
    null,
    2,
  ),
);
