// Cluster topology: what the harness boots. Plain data (JSON-compatible) plus the defaults and the
// address plan. Every address is on the VMs' private segments (10.77.x.0/24), never the host's.
export interface TopologySpec {
  /** Cluster nodes node1..nodeN (at most 4 VMs in all, the NFS and storage VMs included). */
  nodes: number;
  /** Local data disks per node (sparse raw files, virtio-blk, /dev/vda, /dev/vdb, ...), sizes in MB. */
  localDisksMb?: number[];
  /** Guest memory for cluster nodes, MB (default 512). */
  memMb?: number;
  /** Extra point-to-point network links between node pairs (a segment each), e.g. [["node1","node2"]]. */
  p2p?: [string, string][];
  /** Serial links: the first link a node has is its /dev/ttyS1, the next /dev/ttyS2, ... */
  serial?: [string, string][];
  /** A shared SCSI disk on every cluster node (virtio-scsi, share-rw, /dev/sg* and /dev/sd*), size MB. */
  sharedScsiMb?: number;
  /** An NFS server VM "nfs" on the LAN exporting /srv/nfs with the kernel nfsd. */
  nfs?: boolean;
  /**
   * A storage VM "storage" on the LAN exporting one LUN per entry (size MB, a sparse disk of its
   * own each) over iSCSI with the kernel's LIO target; every cluster node logs in at boot and sees
   * them as /dev/sd* (Cluster.iscsiDisk). Unlike the shared virtio-scsi disk, these LUNs implement
   * SCSI-3 persistent reservations, and a link cut or a frozen storage VM can be undone.
   */
  iscsiLunsMb?: number[];
  /**
   * How long (s) a node's I/O to the iSCSI LUNs waits for a lost connection to come back before
   * it fails with EIO (default 30; open-iscsi's own default is 120). The session keeps trying to
   * reconnect after that, so a restored link brings the LUN back either way.
   */
  iscsiReplacementTimeoutS?: number;
}

export interface NicPlan {
  /** Segment name; also the interface name inside the guest (lan, p2p1, ...). */
  segment: string;
  mac: string;
  ip: string;
  prefix: number;
}

export interface NodePlan {
  name: string;
  role: 'node' | 'nfs' | 'storage';
  memMb: number;
  nics: NicPlan[];
  localDisksMb: number[];
  /** Serial wires this node is on, in ttyS1.. order. */
  serialWires: string[];
  sharedScsi: boolean;
}

export interface SegmentPlan {
  name: string;
  subnet: number;
  members: string[];
}

export interface ClusterPlan {
  nodes: NodePlan[];
  segments: SegmentPlan[];
  wires: { name: string; a: string; b: string }[];
  sharedScsiMb: number;
  iscsiLunsMb: number[];
  iscsiReplacementTimeoutS: number;
}

export const maxVms = 4;

function hostNumber(name: string): number {
  if (name === 'nfs') return 100;
  if (name === 'storage') return 200;
  return Number(name.replace(/^node/, ''));
}

export function planCluster(spec: TopologySpec): ClusterPlan {
  const luns = spec.iscsiLunsMb ?? [];
  if (luns.some((mb) => !Number.isInteger(mb) || mb < 1)) throw new Error(`topology: iSCSI LUN sizes must be positive integers (MB), got ${JSON.stringify(luns)}`);
  const storage = luns.length > 0;
  const replacementTimeoutS = spec.iscsiReplacementTimeoutS ?? 30;
  if (!Number.isInteger(replacementTimeoutS) || replacementTimeoutS < 1) throw new Error(`topology: iscsiReplacementTimeoutS must be a positive integer, got ${replacementTimeoutS}`);
  const vmCount = spec.nodes + (spec.nfs ? 1 : 0) + (storage ? 1 : 0);
  if (!Number.isInteger(spec.nodes) || spec.nodes < 1) throw new Error(`topology: nodes must be a positive integer, got ${spec.nodes}`);
  if (vmCount > maxVms) throw new Error(`topology: ${vmCount} VMs requested, at most ${maxVms} at once (memory and cores)`);
  const names = Array.from({ length: spec.nodes }, (_, i) => `node${i + 1}`);
  const all = [...names, ...(spec.nfs ? ['nfs'] : []), ...(storage ? ['storage'] : [])];
  const segments: SegmentPlan[] = [{ name: 'lan', subnet: 0, members: all }];
  (spec.p2p ?? []).forEach(([a, b], i) => {
    for (const n of [a, b]) if (!names.includes(n)) throw new Error(`topology: p2p link names unknown node ${n}`);
    segments.push({ name: `p2p${i + 1}`, subnet: i + 1, members: [a, b] });
  });
  const wires = (spec.serial ?? []).map(([a, b], i) => {
    for (const n of [a, b]) if (!names.includes(n)) throw new Error(`topology: serial link names unknown node ${n}`);
    if (a === b) throw new Error('topology: a serial link needs two different nodes');
    return { name: `serial${i + 1}`, a, b };
  });
  const nodes: NodePlan[] = all.map((name) => {
    const h = hostNumber(name);
    const role = name === 'nfs' || name === 'storage' ? name : 'node';
    return {
      name,
      role,
      memMb: role === 'node' ? (spec.memMb ?? 512) : 384,
      nics: segments
        .filter((s) => s.members.includes(name))
        .map((s) => ({
          segment: s.name,
          mac: `52:54:00:77:${s.subnet.toString(16).padStart(2, '0')}:${h.toString(16).padStart(2, '0')}`,
          ip: `10.77.${s.subnet}.${h}`,
          prefix: 24,
        })),
      localDisksMb: role === 'storage' ? luns : role === 'nfs' ? [] : (spec.localDisksMb ?? [64]),
      serialWires: wires.filter((w) => w.a === name || w.b === name).map((w) => w.name),
      sharedScsi: role === 'node' && !!spec.sharedScsiMb,
    };
  });
  return { nodes, segments, wires, sharedScsiMb: spec.sharedScsiMb ?? 0, iscsiLunsMb: luns, iscsiReplacementTimeoutS: replacementTimeoutS };
}
