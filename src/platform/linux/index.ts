// The Linux platform: real kernel interfaces over the native addon, procfs and sysfs.
import type { Platform } from '../platform.js';
import { LinuxBlockDevices } from './block-devices.js';
import { LinuxDurableFiles } from './durable-files.js';
import { LinuxMountTable } from './mount-table.js';
import { LinuxPeerCredentials } from './peer-credentials.js';
import { LinuxDirectBlockIo, LinuxScsiGeneric } from './scsi-generic.js';
import { LinuxTimedStat } from './timed-stat.js';

export { addonCandidates, loadNativeAddon, loadNativeAddonFrom } from './addon-loader.js';
export { LinuxBlockDevices, LinuxDurableFiles, LinuxMountTable, LinuxPeerCredentials, LinuxTimedStat };
export { LinuxDirectBlockIo, LinuxScsiGeneric };

export function createLinuxPlatform(): Platform {
  const mounts = new LinuxMountTable();
  const timedStat = new LinuxTimedStat(mounts);
  return {
    mounts,
    timedStat,
    durableFiles: new LinuxDurableFiles((path) => timedStat.keyFor(path)),
    blockDevices: new LinuxBlockDevices(),
    peerCredentials: new LinuxPeerCredentials(),
    scsi: new LinuxScsiGeneric(),
    directIo: new LinuxDirectBlockIo(),
  };
}
