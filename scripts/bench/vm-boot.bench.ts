// VM cluster boot benchmark (`npm run bench -- vm-boot`): image preparation from the cache, then
// VM_BOOT_RUNS (default 5) one-VM boots in sequence, each from qemu start to the guest agent
// answering "ready", with the guest's own boot timeline from /var/log/vmc/boot.log; then one
// 3-VM cluster (2 nodes + NFS server, shared SCSI disk, serial link) booted at once on this
// machine's cores, with the peak sum of qemu RSS. The budget is <= 10 s per VM.
import os from 'node:os';
import { Cluster, vmclusterUnavailableReason } from '../vmcluster/cluster.js';
import { prepareImage } from '../vmcluster/image.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** boot.log lines "<uptime s> <stage>" as {stage: ms}. */
function timeline(log: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of log.trim().split('\n')) {
    const [up, stage] = line.split(' ');
    if (stage) out[stage] = Math.round(Number(up) * 1000);
  }
  return out;
}

export async function bench(): Promise<Record<string, unknown>> {
  const unavailable = vmclusterUnavailableReason();
  if (unavailable) return { skipped: unavailable };
  const runs = Number(process.env.VM_BOOT_RUNS ?? 5);
  const t0 = Date.now();
  const image = prepareImage();
  const imageCachedMs = Date.now() - t0;
  const single: number[] = [];
  const guestTimelines: Record<string, number>[] = [];
  for (let i = 0; i < runs; i++) {
    const c = await Cluster.start({ nodes: 1 });
    try {
      const n = c.node('node1');
      single.push(n.bootMs);
      guestTimelines.push(timeline((await n.readFile('/var/log/vmc/boot.log')).toString()));
    } finally {
      await c.teardown();
    }
  }
  const t1 = Date.now();
  const c = await Cluster.start({ nodes: 2, nfs: true, sharedScsiMb: 16, serial: [['node1', 'node2']] });
  let threeVm: Record<string, unknown>;
  try {
    const clusterUpMs = Date.now() - t1;
    await new Promise((r) => setTimeout(r, 2000));
    c.sampleMemory();
    threeVm = {
      clusterUpMs,
      bootMs: Object.fromEntries(c.nodes.map((n) => [n.name, n.bootMs])),
      peakQemuRssMiB: Math.round(c.peakRssKb / 1024),
    };
  } finally {
    await c.teardown();
  }
  return {
    kernel: image.kernelVersion,
    imageCachedMs,
    singleVmBootMs: single,
    singleVmBootMedianMs: median(single),
    singleVmBootMaxMs: Math.max(...single),
    // Guest clock (ms since the kernel started): stage 1 start, drivers loaded, NICs up,
    // switch_root, stage 2, ready, agent answering. Median over the runs.
    guestTimelineMedianMs: Object.fromEntries(Object.keys(guestTimelines[0] ?? {}).map((k) => [k, median(guestTimelines.map((t) => t[k] ?? NaN))])),
    threeVmAtOnce: threeVm,
    loadAverage1m: os.loadavg()[0],
  };
}
