// The Linux platform: real kernel interfaces over the native addon, procfs and sysfs.
import type { Platform } from '../platform.js';
import { LinuxBlockDevices } from './block-devices.js';
import { LinuxMountTable } from './mount-table.js';
import { LinuxPeerCredentials } from './peer-credentials.js';
import { LinuxTimedStat } from './timed-stat.js';

export { addonCandidates, loadNativeAddon, loadNativeAddonFrom } from './addon-loader.js';
export { LinuxBlockDevices, LinuxMountTable, LinuxPeerCredentials, LinuxTimedStat };

export function createLinuxPlatform(): Platform {
  const mounts = new LinuxMountTable();
  return {
    mounts,
    timedStat: new LinuxTimedStat(mounts),
    blockDevices: new LinuxBlockDevices(),
    peerCredentials: new LinuxPeerCredentials(),
  };
}
