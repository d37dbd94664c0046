// The Linux platform: real kernel interfaces over the native addon, procfs and sysfs.
import type { Platform } from '../platform.js';
import { LinuxBlockDevices } from './block-devices.js';
import { LinuxDurableFiles } from './durable-files.js';
import { LinuxMdControl } from './md-control.js';
import { LinuxMountTable } from './mount-table.js';
import { LinuxNbdControl } from './nbd-control.js';
import { LinuxPeerCredentials } from './peer-credentials.js';
import { LinuxTimedStat } from './timed-stat.js';

export { addonCandidates, loadNativeAddon, loadNativeAddonFrom } from './addon-loader.js';
export { LinuxBlockDevices, LinuxDurableFiles, LinuxMountTable, LinuxPeerCredentials, LinuxTimedStat };
export { LinuxMdControl, LinuxNbdControl };

export function createLinuxPlatform(): Platform {
  const mounts = new LinuxMountTable();
  const timedStat = new LinuxTimedStat(mounts);
  return {
    mounts,
    timedStat,
    durableFiles: new LinuxDurableFiles((path) => timedStat.keyFor(path)),
    blockDevices: new LinuxBlockDevices(),
    peerCredentials: new LinuxPeerCredentials(),
    md: new LinuxMdControl(),
    nbd: new LinuxNbdControl(),
  };
}
