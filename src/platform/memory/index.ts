// The in-memory platform for unit tests: the platform interfaces over a MemoryKernel, with the
// same probe bounds and counters as the native addon.
import { mountPointOf } from '../mount-key.js';
import type {
  BlockDeviceInfo,
  BlockDevices,
  FileStat,
  MountEntry,
  MountTable,
  Platform,
  ProbeCounters,
  ProbeLimits,
  ProbeOptions,
  TimedStat,
} from '../platform.js';
import { MemoryDurableFiles } from './durable-files.js';
import { MemoryKernel } from './kernel.js';
import { MemoryMounts } from './mounts.js';
import { MemoryPeerCredentials } from './peer-credentials.js';
import { MemoryProbeRunner } from './probe-runner.js';
import { MemoryProgramRunner } from './program-runner.js';
import { MemoryScheduling } from './scheduling.js';
import { MemoryScsiFabric, MemoryScsiLun } from './scsi-lun.js';
import { MemoryNasTools } from './nas-tools.js';
import { MemoryNodePower } from './node-power.js';
import { MemoryWatchdog } from './watchdog.js';

export { MemoryDurableFiles, MemoryKernel, MemoryMounts, MemoryNodePower, MemoryPeerCredentials, MemoryProbeRunner, MemoryScheduling };
export { MemoryScsiFabric, MemoryScsiLun };
export type { MemoryLunOptions } from './scsi-lun.js';
import { MemoryMdControl, MemoryNbdControl, MemoryReplicationKernel } from './replication.js';

export { MemoryMdControl, MemoryNasTools, MemoryNbdControl, MemoryProgramRunner, MemoryReplicationKernel, MemoryWatchdog };
export type { MemoryBlockDevice } from './kernel.js';

export class MemoryTimedStat implements TimedStat {
  constructor(
    private readonly kernel: MemoryKernel,
    private readonly runner: MemoryProbeRunner,
  ) {}

  stat(path: string, timeoutMs: number, options: ProbeOptions = {}): Promise<FileStat> {
    const key = options.key ?? mountPointOf(path, this.kernel.mounts);
    return this.runner.run('stat', path, key, timeoutMs, () => this.kernel.stat(path));
  }

  counters(): ProbeCounters {
    return this.runner.counters();
  }

  configure(limits?: Partial<ProbeLimits>): ProbeLimits {
    return this.runner.configure(limits);
  }
}

export class MemoryBlockDevices implements BlockDevices {
  constructor(
    private readonly kernel: MemoryKernel,
    private readonly runner: MemoryProbeRunner,
  ) {}

  async list(): Promise<string[]> {
    return this.kernel.blockDeviceNames();
  }

  async info(devicePath: string, timeoutMs: number): Promise<BlockDeviceInfo> {
    const raw = await this.runner.run('open', devicePath, devicePath, timeoutMs, () => this.kernel.blockDeviceInfo(devicePath));
    return { path: devicePath, ...raw };
  }
}

export class MemoryMountTable implements MountTable {
  readonly path = '/proc/self/mounts';
  /** Fault hook: when set, list() fails with this errno code (EMFILE, ENOMEM...). */
  failWith: string | undefined;

  constructor(private readonly kernel: MemoryKernel) {}

  async list(): Promise<MountEntry[]> {
    if (this.failWith) throw Object.assign(new Error(`${this.failWith}: cannot open ${this.path}`), { code: this.failWith });
    return this.kernel.mounts.map((m) => ({ ...m, options: [...m.options] }));
  }
}

export interface MemoryPlatform extends Platform {
  kernel: MemoryKernel;
  mounts: MemoryMountTable;
  durableFiles: MemoryDurableFiles;
  peerCredentials: MemoryPeerCredentials;
  /** MountControl, MountHolders and FsProbe in one object, with its fault hooks. */
  memoryMounts: MemoryMounts;
  scheduling: MemoryScheduling;
  /** The shared LUNs this node's `scsi` and `directIo` reach (pass one fabric to several nodes). */
  scsiFabric: MemoryScsiFabric;
  nodePower: MemoryNodePower;
  md: MemoryMdControl;
  nbd: MemoryNbdControl;
  /** The md/NBD side of the memory kernel, with its fault hooks. */
  replication: MemoryReplicationKernel;
  nasTools: MemoryNasTools;
  programs: MemoryProgramRunner;
  watchdog: MemoryWatchdog;
}

export function createMemoryPlatform(
  kernel: MemoryKernel = new MemoryKernel(),
  scsi: { fabric: MemoryScsiFabric; initiator: string } = { fabric: new MemoryScsiFabric(), initiator: 'local' },
  replication: MemoryReplicationKernel = new MemoryReplicationKernel(),
): MemoryPlatform {
  const runner = new MemoryProbeRunner();
  const memoryMounts = new MemoryMounts(kernel);
  return {
    replication,
    md: new MemoryMdControl(replication, runner),
    nbd: new MemoryNbdControl(replication, runner),
    kernel,
    timedStat: new MemoryTimedStat(kernel, runner),
    durableFiles: new MemoryDurableFiles(kernel, runner),
    blockDevices: new MemoryBlockDevices(kernel, runner),
    mounts: new MemoryMountTable(kernel),
    peerCredentials: new MemoryPeerCredentials(),
    memoryMounts,
    mountControl: memoryMounts,
    mountHolders: memoryMounts,
    fsProbe: memoryMounts,
    scheduling: new MemoryScheduling(),
    scsiFabric: scsi.fabric,
    scsi: scsi.fabric.initiator(scsi.initiator, runner),
    directIo: scsi.fabric.directIo(runner),
    nodePower: new MemoryNodePower(),
    nasTools: new MemoryNasTools(),
    programs: new MemoryProgramRunner(),
    watchdog: new MemoryWatchdog(),
  };
}
