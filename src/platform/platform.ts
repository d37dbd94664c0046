// The kernel-facing interfaces of Vigil. Everything above src/platform talks to the machine
// only through these; linux/ implements them over the native addon and procfs/sysfs, memory/
// implements them in memory with fault hooks for unit tests. One contract suite
// (test/contract/platform.contract.test.ts) runs against both.

/** stat(2) facts, as plain data. Times in milliseconds since the epoch. */
export interface FileStat {
  dev: number;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** Live counters of the probe threads (see native/probe_runner.h). */
export interface ProbeCounters {
  /** Probes whose promise is still pending. */
  inFlight: number;
  /** Probes that timed out and are still stuck in the kernel. */
  parked: number;
  /** Parked probes whose syscall finally returned (thread reclaimed). */
  reclaimedTotal: number;
  timedOutTotal: number;
  /** Probes refused at once because the bounds were reached. */
  capacityRejectedTotal: number;
  /** Parked probes per key (mount point); keys with none are absent. */
  parkedByKey: Record<string, number>;
}

/**
 * Bounds on probe threads. A probe is admitted only while in-flight + parked probes stay below
 * both limits, so the number of threads that can end up stuck is bounded too.
 */
export interface ProbeLimits {
  maxParked: number;
  maxParkedPerKey: number;
}

export interface ProbeOptions {
  /** The key the per-key bound applies to; by default the mount point the path lives on. */
  key?: string;
}

/**
 * File-system probes that never block the caller: each call settles within its time limit
 * (ProbeTimeoutError), fails with SysError, or is refused at once with ProbeCapacityError.
 */
export interface TimedStat {
  stat(path: string, timeoutMs: number, options?: ProbeOptions): Promise<FileStat>;
  counters(): ProbeCounters;
  /** Changes the bounds (only the fields given) and returns the bounds now in force. */
  configure(limits?: Partial<ProbeLimits>): ProbeLimits;
}

export interface BlockDeviceInfo {
  path: string;
  sizeBytes: number;
  logicalSectorSize: number;
  readOnly: boolean;
}

export interface BlockDevices {
  /** Kernel names of the block devices of this node ('sda', 'loop0', ...), sorted. */
  list(): Promise<string[]>;
  /** Size, logical sector size and read-only flag from the device itself (ioctls), time-limited. */
  info(devicePath: string, timeoutMs: number): Promise<BlockDeviceInfo>;
}

export interface MountEntry {
  source: string;
  mountPoint: string;
  fsType: string;
  options: string[];
}

export interface MountTable {
  /** The mounts visible to this process, in mount order. */
  list(): Promise<MountEntry[]>;
}

/** Who is at the other end of a connected unix socket, as the kernel recorded it at connect(2). */
export interface PeerCredential {
  pid: number;
  uid: number;
  gid: number;
}

/**
 * SO_PEERCRED: the credentials of the process that connected a unix stream socket. The kernel
 * records them at connect(2), so the peer cannot change them afterwards. Synchronous: the
 * kernel only copies a struct it already holds. Fails with SysError (e.g. ENOTSOCK, EBADF).
 */
export interface PeerCredentials {
  of(fd: number): PeerCredential;
}

export interface Platform {
  timedStat: TimedStat;
  blockDevices: BlockDevices;
  mounts: MountTable;
  peerCredentials: PeerCredentials;
}
