// The kernel-facing interfaces of Vigil. Everything above src/platform talks to the machine
// only through these; linux/ implements them over the native addon and procfs/sysfs, memory/
// implements them in memory with fault hooks for unit tests. One contract suite
// (test/contract/platform.contract.test.ts) runs against both.
import type { FsProbe, MountControl, MountHolders } from './mounts.js';

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

export interface DurableWriteOptions {
  /** Permission bits of the new file, applied exactly (not filtered by the umask). */
  mode: number;
  /** Time limit for the whole sequence; past it the call rejects with ProbeTimeoutError. */
  timeoutMs: number;
  /** The key the probe-thread bounds apply to; by default the mount point of the file's directory. */
  key?: string;
}

/**
 * Crash-safe replacement of small files that never blocks the caller: a temp file
 * (`.tmp-<basename>.<pid>`) in the same directory is written, fsynced and renamed over the
 * target, then the directory is fsynced, all on a thread of its own with a time limit.
 *
 * Outcomes: resolves once the new contents are durable; rejects with SysError (errno, syscall,
 * path) and the target untouched — unless the error has `commitStarted: true` (the directory
 * fsync failed after the rename); rejects with ProbeTimeoutError when the limit passed:
 * `commitStarted: false` means the write was abandoned before the rename and changes nothing,
 * even when the kernel lets it go later; `commitStarted: true` means the rename had begun, so
 * the new file is or will be in place, but its durability is not confirmed. Refused at once
 * with ProbeCapacityError when too many threads are stuck on the key.
 */
export interface DurableFiles {
  writeAtomic(path: string, data: Uint8Array | string, options: DurableWriteOptions): Promise<void>;
  /** The key writeAtomic uses for `path` when the options name none. */
  keyFor(path: string): string;
  /** Writes (and probes) on `key` that timed out and whose thread is still stuck in the kernel. */
  stuck(key: string): number;
}

/**
 * Stopping this node at once, without syncing or unmounting (the quorum-loss actions fastkill
 * and fastboot): a node that lost quorum must not write one more block, so nothing is flushed.
 * The call does not return on a real node; the memory twin records it instead.
 */
export interface NodePower {
  /** Power off immediately (sysrq 'o'). */
  powerOff(reason: string): void;
  /** Reboot immediately (sysrq 'b'). */
  reboot(reason: string): void;
}

export interface Platform {
  timedStat: TimedStat;
  durableFiles: DurableFiles;
  blockDevices: BlockDevices;
  mounts: MountTable;
  peerCredentials: PeerCredentials;
  /** Mounting and unmounting (mounts.ts). */
  mountControl: MountControl;
  /** The processes that hold a mount, and ending them (mounts.ts). */
  mountHolders: MountHolders;
  /** Read and write probes of a mounted file system (mounts.ts). */
  fsProbe: FsProbe;
  /** Immediate power-off and reboot (quorum-loss actions). */
  nodePower: NodePower;
}
