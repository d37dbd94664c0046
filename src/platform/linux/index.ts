// The Linux platform: real kernel interfaces over the native addon, procfs and sysfs.
import type { Platform } from '../platform.js';
import { LinuxBlockDevices } from './block-devices.js';
import { LinuxDurableFiles } from './durable-files.js';
import { LinuxFsProbe } from './fs-probe.js';
import { LinuxMountControl } from './mount-control.js';
import { LinuxMountHolders } from './mount-holders.js';
import { LinuxMdControl } from './md-control.js';
import { LinuxNasTools } from './nas-tools.js';
import { LinuxMountTable } from './mount-table.js';
import { LinuxNodePower } from './node-power.js';
import { LinuxNbdControl } from './nbd-control.js';
import { LinuxPeerCredentials } from './peer-credentials.js';
import { LinuxProgramRunner } from './program-runner.js';
import { LinuxScheduling } from './scheduling.js';
import { LinuxDirectBlockIo, LinuxScsiGeneric } from './scsi-generic.js';
import { LinuxTimedStat } from './timed-stat.js';
import { LinuxWatchdog } from './watchdog.js';

export { addonCandidates, loadNativeAddon, loadNativeAddonFrom } from './addon-loader.js';
export { LinuxBlockDevices, LinuxDurableFiles, LinuxMountTable, LinuxPeerCredentials, LinuxScheduling, LinuxTimedStat };
export { LinuxDirectBlockIo, LinuxScsiGeneric };
export { LinuxMdControl, LinuxNasTools, LinuxNbdControl, LinuxProgramRunner, LinuxWatchdog };

/**
 * The one Linux platform of a process: vigild builds it where it is composed (daemon/main.ts).
 * `agentMark`: the mark vigild's programs carry (agent-mark.ts), for NodePower.endAgent.
 */
export function createLinuxPlatform(opts: { agentMark?: string } = {}): Platform {
  const mounts = new LinuxMountTable();
  const timedStat = new LinuxTimedStat(mounts);
  return {
    mounts,
    timedStat,
    durableFiles: new LinuxDurableFiles((path) => timedStat.keyFor(path)),
    blockDevices: new LinuxBlockDevices(),
    peerCredentials: new LinuxPeerCredentials(),
    mountControl: new LinuxMountControl(),
    mountHolders: new LinuxMountHolders(),
    fsProbe: new LinuxFsProbe(),
    scheduling: new LinuxScheduling(),
    scsi: new LinuxScsiGeneric(),
    directIo: new LinuxDirectBlockIo(),
    nodePower: new LinuxNodePower(opts.agentMark),
    md: new LinuxMdControl(),
    nbd: new LinuxNbdControl(),
    nasTools: new LinuxNasTools(),
    programs: new LinuxProgramRunner(),
    watchdog: new LinuxWatchdog(),
  };
}
