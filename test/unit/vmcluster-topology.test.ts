// The VM cluster's topology planner: addresses, roles, disks and the VM limit, for the storage
// VM in particular (its LUNs are its own disks; it counts toward the limit of 4 VMs).
import { describe, expect, it } from 'vitest';
import { maxVms, planCluster } from '../../scripts/vmcluster/topology.js';

describe('planCluster', () => {
  it('adds a storage VM on the LAN at .200 whose disks are the iSCSI LUNs', () => {
    const plan = planCluster({ nodes: 2, nfs: true, iscsiLunsMb: [32, 8] });
    expect(plan.nodes.map((n) => [n.name, n.role])).toEqual([
      ['node1', 'node'],
      ['node2', 'node'],
      ['nfs', 'nfs'],
      ['storage', 'storage'],
    ]);
    const storage = plan.nodes.find((n) => n.name === 'storage')!;
    expect(storage.nics).toEqual([{ segment: 'lan', mac: '52:54:00:77:00:c8', ip: '10.77.0.200', prefix: 24 }]);
    expect(storage.localDisksMb).toEqual([32, 8]);
    expect(storage.sharedScsi).toBe(false);
    expect(plan.iscsiLunsMb).toEqual([32, 8]);
    expect(plan.iscsiReplacementTimeoutS).toBe(30);
    expect(planCluster({ nodes: 1, iscsiLunsMb: [8], iscsiReplacementTimeoutS: 5 }).iscsiReplacementTimeoutS).toBe(5);
    expect(plan.nodes.find((n) => n.name === 'node1')!.localDisksMb).toEqual([64]);
  });

  it('has no storage VM without LUNs', () => {
    const plan = planCluster({ nodes: 2, iscsiLunsMb: [] });
    expect(plan.nodes.map((n) => n.name)).toEqual(['node1', 'node2']);
    expect(plan.iscsiLunsMb).toEqual([]);
  });

  it('counts the storage and NFS VMs toward the VM limit', () => {
    expect(maxVms).toBe(4);
    expect(() => planCluster({ nodes: 3, nfs: true, iscsiLunsMb: [16] })).toThrow(/5 VMs requested, at most 4/);
    expect(planCluster({ nodes: 2, nfs: true, iscsiLunsMb: [16] }).nodes).toHaveLength(4);
  });

  it('refuses LUN sizes that are not positive whole megabytes, and a replacement timeout below 1 s', () => {
    expect(() => planCluster({ nodes: 2, iscsiLunsMb: [0] })).toThrow(/positive integers/);
    expect(() => planCluster({ nodes: 2, iscsiLunsMb: [1.5] })).toThrow(/positive integers/);
    expect(() => planCluster({ nodes: 2, iscsiLunsMb: [8], iscsiReplacementTimeoutS: 0 })).toThrow(/iscsiReplacementTimeoutS must be a positive integer/);
  });
});
