// A booted VM cluster: segment hubs, serial wires, shared SCSI disk image, the nodes and the NFS
// server, all under one run directory, with a single teardown() that leaves nothing behind.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { L2Hub } from './hub.js';
import { prepareImage, type GuestImage } from './image.js';
import { VmNode } from './node.js';
import { runRoot } from './paths.js';
import { SerialWire } from './serial-wire.js';
import { planCluster, type ClusterPlan, type TopologySpec } from './topology.js';

let clusterCounter = 0;

/**
 * Export directory of the NFS server VM: a tmpfs exported as the NFSv4 pseudo-root (fsid=0),
 * because the server's own / is an overlay that cannot be walked over NFS. Clients mount
 * `<nfs ip>:/` (see Cluster.nfsMountSource).
 */
export const nfsExportDir = '/srv/nfs';

export class Cluster {
  readonly nodes: VmNode[] = [];
  readonly hubs = new Map<string, L2Hub>();
  readonly wires = new Map<string, SerialWire>();
  private tornDown = false;
  /** Highest sum of qemu RSS (KiB) seen by sampleMemory(). */
  peakRssKb = 0;
  private sampler: NodeJS.Timeout | undefined;

  private constructor(readonly id: string, readonly runDir: string, readonly plan: ClusterPlan, readonly image: GuestImage) {}

  static async start(spec: TopologySpec, opts: { log?: (m: string) => void; bootDeadlineMs?: number } = {}): Promise<Cluster> {
    const plan = planCluster(spec);
    const image = prepareImage(opts.log);
    const id = `${process.pid}-${++clusterCounter}`;
    // Short run dir: unix socket paths are limited to 107 bytes.
    const runDir = path.join(runRoot, id);
    fs.rmSync(runDir, { recursive: true, force: true });
    fs.mkdirSync(runDir, { recursive: true });
    const c = new Cluster(id, runDir, plan, image);
    try {
      await c.boot(opts.bootDeadlineMs ?? 240_000);
    } catch (e) {
      await c.teardown();
      throw e;
    }
    return c;
  }

  private async boot(deadlineMs: number): Promise<void> {
    for (const s of this.plan.segments) this.hubs.set(s.name, await L2Hub.listen(path.join(this.runDir, `seg-${s.name}.sock`)));
    const serialEnds = new Map<string, string[]>();
    for (const w of this.plan.wires) {
      const pa = path.join(this.runDir, `${w.name}-${w.a}.sock`);
      const pb = path.join(this.runDir, `${w.name}-${w.b}.sock`);
      this.wires.set(w.name, await SerialWire.create(pa, pb));
      for (const [n, p] of [[w.a, pa], [w.b, pb]] as const) serialEnds.set(n, [...(serialEnds.get(n) ?? []), p]);
    }
    let sharedScsiImage: string | undefined;
    if (this.plan.sharedScsiMb) {
      sharedScsiImage = path.join(this.runDir, 'shared-scsi0.img');
      const fd = fs.openSync(sharedScsiImage, 'w');
      fs.ftruncateSync(fd, this.plan.sharedScsiMb * 1024 * 1024);
      fs.closeSync(fd);
    }
    const hubPaths = new Map([...this.hubs].map(([n, h]) => [n, h.path]));
    for (const plan of this.plan.nodes) {
      this.nodes.push(
        await VmNode.create({ clusterId: this.id, runDir: this.runDir, image: this.image, plan, hubs: hubPaths, serialEnds: serialEnds.get(plan.name) ?? [], sharedScsiImage }),
      );
    }
    this.sampler = setInterval(() => this.sampleMemory(), 1000);
    this.sampler.unref();
    // The NFS server is set up as soon as it is up, while the other nodes are still booting.
    await Promise.all(this.nodes.map((n) => n.boot(deadlineMs).then(() => (n.plan.role === 'nfs' ? startNfsServer(n) : undefined))));
    this.sampleMemory();
  }

  /** A node by name (node1.., nfs). */
  node(name: string): VmNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name} in cluster ${this.id} (have ${this.nodes.map((x) => x.name).join(', ')})`);
    return n;
  }

  get nfs(): VmNode {
    return this.node('nfs');
  }

  /** What a node passes to `mount -t nfs -o vers=4.2` to mount the NFS server VM's export. */
  nfsMountSource(): string {
    return `${this.nfs.ip()}:/`;
  }

  /** The serial wire between two nodes (either order). */
  wire(a: string, b: string): SerialWire {
    const w = this.plan.wires.find((x) => (x.a === a && x.b === b) || (x.a === b && x.b === a));
    if (!w) throw new Error(`no serial link between ${a} and ${b}`);
    return this.wires.get(w.name)!;
  }

  /** The guest device of the serial link between `node` and `peer`, e.g. /dev/ttyS1. */
  serialDevice(node: string, peer: string): string {
    const w = this.plan.wires.find((x) => (x.a === node && x.b === peer) || (x.a === peer && x.b === node));
    if (!w) throw new Error(`no serial link between ${node} and ${peer}`);
    const idx = this.node(node).plan.serialWires.indexOf(w.name);
    return `/dev/ttyS${idx + 1}`;
  }

  cutSerial(a: string, b: string): void {
    this.wire(a, b).cut();
  }

  restoreSerial(a: string, b: string): void {
    this.wire(a, b).restore();
  }

  sampleMemory(): number {
    const sum = this.nodes.reduce((s, n) => s + n.rssKb(), 0);
    this.peakRssKb = Math.max(this.peakRssKb, sum);
    return sum;
  }

  /** Kill every VM, close hubs and wires, remove the run directory. Safe to call twice. */
  async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    clearInterval(this.sampler);
    await Promise.all(this.nodes.map((n) => n.destroy().catch(() => {})));
    for (const h of this.hubs.values()) h.close();
    for (const w of this.wires.values()) w.close();
    fs.rmSync(this.runDir, { recursive: true, force: true });
  }
}

/** Kernel nfsd, NFSv4 only (mountd for the export cache; no rpcbind/statd), exporting a tmpfs at /srv/nfs. */
async function startNfsServer(nfs: VmNode): Promise<void> {
  await nfs.run(
    [
      'set -e',
      'modprobe nfsd',
      'mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd',
      `mkdir -p ${nfsExportDir} && mount -t tmpfs -o mode=0777 tmpfs ${nfsExportDir}`,
      `echo '${nfsExportDir} 10.77.0.0/24(rw,sync,no_root_squash,no_subtree_check,fsid=0)' > /etc/exports`,
      'exportfs -ra',
      // mountd answers the kernel's export-cache upcalls (client address -> export), v4 included.
      'rpc.mountd -N 3',
      'rpc.nfsd -N 3 -V 4 4',
      'cat /proc/fs/nfsd/versions',
    ].join('\n'),
    { timeoutMs: 60_000 },
  );
}

/** Why the VM cluster cannot run here, or undefined when it can (qemu, setpriv and the kernel package are available). */
export function vmclusterUnavailableReason(): string | undefined {
  const need = (cmd: string, args: string[]) => {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (!need(process.env.VMCLUSTER_QEMU ?? 'qemu-system-x86_64', ['--version'])) return 'qemu-system-x86_64 is not installed';
  if (!need('setpriv', ['--version'])) return 'setpriv (util-linux) is not installed';
  for (const tool of ['cpio', 'depmod', 'dpkg-deb', 'apt-get']) if (!need('sh', ['-c', `command -v ${tool}`])) return `${tool} is not installed`;
  if (!fs.existsSync('/bin/busybox') && !fs.existsSync('/usr/bin/busybox')) return 'busybox-static is not installed';
  try {
    prepareImage();
  } catch (e) {
    return `the guest kernel image cannot be prepared: ${(e as Error).message.split('\n')[0]}`;
  }
  return undefined;
}
