// The ScsiGeneric contract (test/contract/scsi.contract.ts) on real LUNs: the VM cluster's shared
// virtio-scsi disk and an iSCSI LUN of the storage VM (LIO), with node1 and node2 as the two
// initiators. Each command runs in its VM through the addon's SG_IO (test/e2e/guest/scsi-server.ts).
// QEMU's scsi-hd without a pr-manager helper does not implement persistent reservations: Debian's
// sg_persist confirms it on the disk, so that run has the "refused as unsupported" case instead of
// the reservation cases; LIO implements them and runs them all, plus a frozen target (QMP stop of
// the storage VM) for the time limit and a link cut past the replacement timeout for a typed
// transport failure.
import { spawnSync } from 'node:child_process';
import { describe, expect } from 'vitest';

import { scsiContract, type ScsiContractSubject } from '../contract/scsi.contract.js';
import type { ScsiCommands } from '../../src/platform/scsi/commands.js';
import { guestScsi } from './scsi-guest-transport.js';
import { useCluster, useGuestSnapshot, vmUnavailable, type VmNode } from './helpers/vmcluster.js';

const unavailable = vmUnavailable ?? (spawnSync('sh', ['-c', 'command -v iscsiadm && command -v sg_persist']).status !== 0 ? 'open-iscsi or sg3-utils is not installed' : undefined);
const title = unavailable ? `ScsiGeneric on real LUNs (skipped: ${unavailable})` : 'ScsiGeneric on real LUNs';

describe.skipIf(!!unavailable)(title, () => {
  const snapshot = useGuestSnapshot(['src/platform', 'src/common']);
  const replacementTimeoutS = 5;
  const cluster = useCluster({ nodes: 2, sharedScsiMb: 16, iscsiLunsMb: [16], iscsiReplacementTimeoutS: replacementTimeoutS });
  let initiators: Promise<[ScsiCommands, ScsiCommands]> | undefined;
  const both = () => (initiators ??= Promise.all([guestScsi(cluster().node('node1'), snapshot()), guestScsi(cluster().node('node2'), snapshot())]));

  /** The node's virtio-scsi disk: the sd* whose vendor is QEMU (the iSCSI LUNs say LIO-ORG). */
  const qemuDisk = async (n: VmNode) => {
    const out = await n.run("for d in /sys/block/sd*; do echo $(basename $d) $(cat $d/device/vendor); done");
    const line = out.split('\n').find((l) => / QEMU\s*$/.test(l));
    expect(line, `${n.name} has a QEMU scsi-hd disk:\n${out}`).toBeDefined();
    return `/dev/${line!.split(' ')[0]}`;
  };
  /** Debian's sg_persist: does the device answer PERSISTENT RESERVE IN? */
  const sgPersistSupports = async (n: VmNode, dev: string) => (await n.exec(`sg_persist --in --read-keys ${dev}`, { timeoutMs: 60_000 })).code === 0;

  const subject = async (kind: 'qemu' | 'iscsi', expectPr: boolean): Promise<ScsiContractSubject> => {
    const c = cluster();
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    const [a, b] = await both();
    const deviceA = kind === 'qemu' ? await qemuDisk(n1) : c.iscsiDisk('node1');
    const deviceB = kind === 'qemu' ? await qemuDisk(n2) : c.iscsiDisk('node2');
    const independent = await sgPersistSupports(n1, deviceA);
    console.log(`e2e: ${kind} LUN ${deviceA}/${deviceB}: sg_persist ${independent ? 'reads keys' : 'is refused (no persistent reservations)'}`);
    expect(independent, `sg_persist on the ${kind} LUN`).toBe(expectPr);
    return {
      a,
      b,
      deviceA,
      deviceB,
      persistentReservations: independent,
      timeoutMs: 30_000,
      hang:
        kind === 'iscsi'
          ? async () => {
              await c.storage.freeze();
              return () => c.storage.thaw();
            }
          : undefined,
      // The storage VM's link cut past the iSCSI replacement timeout: the initiator fails
      // commands in the transport instead of queueing them.
      failTransport:
        kind === 'iscsi'
          ? async () => {
              await c.storage.setLink('lan', false);
              return async () => {
                await c.storage.setLink('lan', true);
                await n1.waitFor(async () => a.testUnitReady(deviceA, { timeoutMs: 5000 }).then(() => true, () => false), {
                  deadlineMs: 120_000,
                  intervalMs: 1000,
                  what: 'the iSCSI session back after the link cut',
                });
              };
            }
          : undefined,
    };
  };

  scsiContract('shared virtio-scsi disk (QEMU scsi-hd, no PR helper)', { persistentReservations: false, hang: false, failTransport: false }, () => subject('qemu', false));
  scsiContract('iSCSI LUN of the storage VM (LIO)', { persistentReservations: true, hang: true, failTransport: true }, () => subject('iscsi', true));
});
