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
  /** Each logged-in node's iSCSI LUN devices, in LUN order. */
  private readonly iscsiDisks = new Map<string, string[]>();
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
    // The NFS server and the iSCSI target are set up as soon as their VMs are up, while the
    // other nodes are still booting; each node logs in to the target once both are up.
    const storage = this.nodes.find((n) => n.plan.role === 'storage');
    const initiators = this.nodes.filter((n) => n.plan.role === 'node').map((n) => n.name);
    const target = storage ? storage.boot(deadlineMs).then(() => startIscsiTarget(storage, initiators)) : undefined;
    await Promise.all([
      target,
      ...this.nodes
        .filter((n) => n !== storage)
        .map(async (n) => {
          await n.boot(deadlineMs);
          if (n.plan.role === 'nfs') await startNfsServer(n);
          if (n.plan.role === 'node' && target) {
            // iscsid starts while the target is still being set up.
            await startInitiator(n, this.plan.iscsiReplacementTimeoutS);
            await target;
            await this.iscsiLogin(n);
          }
        }),
    ]);
    this.sampleMemory();
  }

  /** The storage VM (the iSCSI target). */
  get storage(): VmNode {
    return this.node('storage');
  }

  /** The block device (/dev/sdX) under which `node` sees iSCSI LUN `lun` of the storage VM. */
  iscsiDisk(node: string, lun = 0): string {
    const disks = this.iscsiDisks.get(node);
    if (!disks) throw new Error(`${node} is not logged in to an iSCSI target (topology has iscsiLunsMb: ${JSON.stringify(this.plan.iscsiLunsMb)})`);
    const dev = disks[lun];
    if (!dev) throw new Error(`${node} has no iSCSI LUN ${lun} (has ${disks.length})`);
    return dev;
  }

  /**
   * Log `node` in to the storage VM's target with open-iscsi (iscsid + iscsiadm from the host's
   * root) under its own initiator name, and return its LUNs' block devices in LUN order. Also
   * used to log in again after iscsiLogout.
   */
  async iscsiLogin(node: VmNode): Promise<string[]> {
    await startInitiator(node, this.plan.iscsiReplacementTimeoutS);
    const luns = this.plan.iscsiLunsMb.length;
    const sessionLun = (l: number | string) => `/sys/class/iscsi_session/session*/device/target*/*:*:*:${l}/block/*`;
    // Discovery and login in one iscsiadm run: each start of it costs about a second under TCG.
    const out = await node.runScript(
      [
        `/usr/sbin/iscsiadm -m discovery -t sendtargets -p ${this.storage.ip()}:3260 --login >/dev/null`,
        // The LUN scan after login is asynchronous: wait for every LUN's block device.
        `for i in $(seq 100); do`,
        `  n=0; for l in $(seq 0 ${luns - 1}); do ls -d ${sessionLun('$l')} >/dev/null 2>&1 && n=$((n+1)); done`,
        `  [ $n -eq ${luns} ] && break; sleep 0.1`,
        'done',
        `for l in $(seq 0 ${luns - 1}); do basename $(ls -d ${sessionLun('$l')}); done`,
      ],
      { timeoutMs: 60_000 },
    );
    const devs = out.trim().split('\n').filter(Boolean).map((d) => `/dev/${d}`);
    if (devs.length !== luns) throw new Error(`${node.name}: iSCSI login found ${devs.length} of ${luns} LUNs: ${out}`);
    this.iscsiDisks.set(node.name, devs);
    return devs;
  }

  /** Log `node` out of the storage VM's target (its LUN devices go away). */
  async iscsiLogout(node: VmNode): Promise<void> {
    await node.run(`iscsiadm -m node -T ${iscsiTarget} -p ${this.storage.ip()}:3260 --logout >/dev/null`, { timeoutMs: 60_000 });
    this.iscsiDisks.delete(node.name);
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

/** The storage VM's iSCSI target name, and the initiator name of each cluster node. */
export const iscsiTarget = 'iqn.2026-11.vigil.vmc:storage';
export const iscsiInitiator = (node: string): string => `iqn.2026-11.vigil.vmc:${node}`;

/**
 * Start open-iscsi's iscsid on a node (once) under the node's own initiator name. The session
 * defaults are set in iscsid.conf, which discovery copies into every node record.
 */
async function startInitiator(node: VmNode, replacementTimeoutS: number): Promise<void> {
  await node.runScript(
    [
      'pgrep -x iscsid >/dev/null && exit 0',
      `echo "InitiatorName=${iscsiInitiator(node.name)}" > /etc/iscsi/initiatorname.iscsi`,
      // I/O waits this long for a lost connection to come back before it fails; the last
      // setting in the file wins.
      `echo "node.session.timeo.replacement_timeout = ${replacementTimeoutS}" >> /etc/iscsi/iscsid.conf`,
      // iscsiadm would start iscsid through systemctl; there is no systemd in the guest.
      '/usr/sbin/iscsid',
    ],
    { timeoutMs: 60_000 },
  );
}

/**
 * The kernel's LIO target set up through configfs (no targetcli: a python start-up under TCG costs
 * seconds): LUN i is the storage VM's disk i as an iblock backstore, one target with one portal on
 * the LAN, and an explicit ACL for each cluster node's initiator name, so that SCSI-3 persistent
 * reservations see each node as its own I_T nexus.
 */
async function startIscsiTarget(storage: VmNode, nodes: string[]): Promise<void> {
  const t = '/sys/kernel/config/target';
  const tpg = `${t}/iscsi/${iscsiTarget}/tpgt_1`;
  const lines = [
    '/usr/sbin/modprobe target_core_iblock',
    '/usr/sbin/modprobe iscsi_target_mod',
    `mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config`,
    // LIO writes its persistent-reservation state under /var/target/pr on every PR change (APTPL
    // or not) and answers NOT READY when it cannot; /etc/target is its config root.
    'mkdir -p /var/target/pr /etc/target',
    `mkdir -p ${tpg}`,
  ];
  const luns = storage.localDisks.length;
  storage.localDisks.forEach((dev, l) => {
    const bs = `${t}/core/iblock_${l}/lun${l}`;
    lines.push(
      `mkdir -p ${bs}`,
      `echo udev_path=${dev} > ${bs}/control`,
      `echo vmc-storage-lun${l} > ${bs}/wwn/vpd_unit_serial`,
      `echo 1 > ${bs}/enable`,
      `mkdir ${tpg}/lun/lun_${l}`,
      `ln -s ${bs} ${tpg}/lun/lun_${l}/backstore`,
    );
  });
  lines.push(`mkdir ${tpg}/np/${storage.ip()}:3260`);
  for (const node of nodes) {
    const acl = `${tpg}/acls/${iscsiInitiator(node)}`;
    lines.push(`mkdir -p ${acl}`);
    for (let l = 0; l < luns; l++) lines.push(`mkdir ${acl}/lun_${l}`, `ln -s ${tpg}/lun/lun_${l} ${acl}/lun_${l}/mapped`);
  }
  lines.push(`echo 0 > ${tpg}/attrib/authentication`, `echo 1 > ${tpg}/enable`);
  await storage.runScript(lines, { timeoutMs: 60_000 });
}

/** Kernel nfsd, NFSv4 only (mountd for the export cache; no rpcbind/statd), exporting a tmpfs at /srv/nfs. */
async function startNfsServer(nfs: VmNode): Promise<void> {
  await nfs.runScript(
    [
      '/usr/sbin/modprobe nfsd',
      'mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd',
      `mkdir -p ${nfsExportDir} && mount -t tmpfs -o mode=0777 tmpfs ${nfsExportDir}`,
      `echo '${nfsExportDir} 10.77.0.0/24(rw,sync,no_root_squash,no_subtree_check,fsid=0)' > /etc/exports`,
      '/usr/sbin/exportfs -ra',
      // mountd answers the kernel's export-cache upcalls (client address -> export), v4 included.
      '/usr/sbin/rpc.mountd -N 3',
      '/usr/sbin/rpc.nfsd -N 3 -V 4 4',
      'cat /proc/fs/nfsd/versions',
    ],
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
