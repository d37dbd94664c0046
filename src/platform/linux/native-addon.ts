// The raw shape of build/Release/vigil_native.node, kept apart from the public platform API.
// Errors it rejects with are plain Errors with code/errno/syscall/path (see ../errors.ts).
import type { ProbeCounters } from '../platform.js';

export interface RawStat {
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

export interface RawBlockDeviceInfo {
  sizeBytes: number;
  logicalSectorSize: number;
  readOnly: boolean;
}

/** The addon returns the counters exactly as the platform declares them. */
export type RawProbeCounters = ProbeCounters;

export interface RawProbeLimits {
  maxParked: number;
  maxParkedPerKey: number;
}

export interface RawPeerCredential {
  pid: number;
  uid: number;
  gid: number;
}

export interface NativeAddon {
  statWithTimeout(path: string, timeoutMs: number, key: string): Promise<RawStat>;
  /**
   * Atomic, durable replacement of `path` on a probe thread (native/durable_write.cc). Timeout
   * and errno errors carry `commitStarted` (whether the rename had begun).
   */
  writeFileDurable(path: string, data: Buffer, mode: number, timeoutMs: number, key: string): Promise<void>;
  blockDeviceInfo(path: string, timeoutMs: number, key: string): Promise<RawBlockDeviceInfo>;
  probeCounters(): RawProbeCounters;
  configureProbes(limits?: Partial<RawProbeLimits>): RawProbeLimits;
  /** getsockopt(fd, SOL_SOCKET, SO_PEERCRED); throws the errno-carrying Error on failure. */
  peerCredentials(fd: number): RawPeerCredential;
}
