// The raw shape of build/Release/vigil_native.node, kept apart from the public platform API.
// Errors it rejects with are plain Errors with code/errno/syscall/path (see ../errors.ts).
import type { FileStat, NbdServeEnd, NbdServeSpec, NbdTransmissionCounts, ProbeCounters } from '../platform.js';

/** nbdServeStart's events: the end of the connection, then 'released' with the final counts. */
export type RawNbdServeEvent = NbdServeEnd | { kind: 'released'; counters: NbdTransmissionCounts };

/** stat(2) as the addon returns it: already the platform's plain FileStat. */
export type RawStat = FileStat;

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

export interface RawSchedulingState {
  policy: 'other' | 'fifo' | 'rr' | 'batch' | 'idle';
  priority: number;
  resetOnFork: boolean;
  /** How often the CPU budget guard has demoted the real-time thread (native/realtime.cc). */
  budgetDemotions: number;
}

export interface NativeAddon {
  statWithTimeout(path: string, timeoutMs: number, key: string): Promise<RawStat>;
  /**
   * Atomic, durable replacement of `path` on a probe thread (native/durable_write.cc). Timeout
   * and errno errors carry `commitStarted` (whether the rename had begun).
   */
  writeFileDurable(path: string, data: Buffer, mode: number, timeoutMs: number, key: string): Promise<void>;
  /**
   * Durable append to an existing file on a probe thread (native/durable_append.cc). Timeout and
   * errno errors carry `commitStarted` (whether the first write had begun).
   */
  appendFileDurable(path: string, data: Buffer, timeoutMs: number, key: string): Promise<void>;
  /** Exclusive flock(2) on `path` with this pid written into it; returns the descriptor (native/file_lock.cc). */
  lockFileExclusive(path: string): number;
  /** Closes a descriptor from lockFileExclusive, releasing its lock. */
  unlockFile(fd: number): void;
  blockDeviceInfo(path: string, timeoutMs: number, key: string): Promise<RawBlockDeviceInfo>;
  probeCounters(): RawProbeCounters;
  configureProbes(limits?: Partial<RawProbeLimits>): RawProbeLimits;
  /** getsockopt(fd, SOL_SOCKET, SO_PEERCRED); throws the errno-carrying Error on failure. */
  peerCredentials(fd: number): RawPeerCredential;
  /** mlock2 of the code and stack, and sched_setscheduler for the calling thread (native/realtime.cc). */
  scheduling: { lockMemory(): number; setRealtime(priority: number): void; state(): RawSchedulingState };
  /** One SCSI command through SG_IO on a probe thread (native/sg_io.cc). */
  scsiCommand(
    path: string,
    cdb: Buffer,
    direction: 'none' | 'in' | 'out',
    dataOut: Buffer | null,
    dataInLength: number,
    timeoutMs: number,
    key: string,
  ): Promise<RawScsiResult>;
  /** O_DIRECT pread of `length` bytes at `offset` (native/direct_io.cc). */
  directRead(path: string, offset: number, length: number, timeoutMs: number, key: string): Promise<Buffer>;
  /** O_DIRECT|O_DSYNC pwrite of `data` at `offset`. */
  directWrite(path: string, offset: number, data: Buffer, timeoutMs: number, key: string): Promise<void>;
  /**
   * Serves an NBD connection's transmission phase on native threads (native/nbd_server.cc);
   * the descriptors are duplicated before it returns. Throws an errno-carrying Error.
   */
  nbdServeStart(spec: NbdServeSpec, onEvent: (event: RawNbdServeEvent) => void): { stop(): void; counters(): NbdTransmissionCounts };
}

export interface RawScsiResult {
  status: number;
  hostStatus: number;
  driverStatus: number;
  sense: Buffer;
  data: Buffer;
  residual: number;
  durationMs: number;
}

// ---- md and NBD (native/md.cc, native/nbd.cc) ----------------------------------------------

export interface RawMdArrayInfo {
  majorVersion: number;
  minorVersion: number;
  level: number;
  sizeKiB: number;
  nrDisks: number;
  raidDisks: number;
  mdMinor: number;
  notPersistent: boolean;
  state: number;
  activeDisks: number;
  workingDisks: number;
  failedDisks: number;
  spareDisks: number;
}

export interface RawMdDisk {
  number: number;
  major: number;
  minor: number;
  raidDisk: number;
  state: number;
}

export interface RawMdWatchEvent {
  path: string;
  value?: string;
  code?: string;
  errno?: number;
}

/** { index } a device's connection died (-1: the listener joined after failures); or an error. */
export interface RawNbdLinkEvent {
  index?: number;
  code?: string;
  errno?: number;
  syscall?: string;
}

export interface RawNbdConnectSpec {
  index?: number;
  fd: number;
  sizeBytes: number;
  blockSize?: number;
  timeoutSec: number;
  deadConnTimeoutSec?: number;
  serverFlags?: number;
  backend?: string;
}

export interface NativeAddon {
  mdArrayInfo(md: string, timeoutMs: number): Promise<RawMdArrayInfo>;
  mdMembers(md: string, timeoutMs: number): Promise<RawMdDisk[]>;
  mdControl(md: string, op: 'setFaulty' | 'hotRemove' | 'hotAdd' | 'stop' | 'run', major: number, minor: number, timeoutMs: number): Promise<void>;
  mdAddDisk(md: string, disk: RawMdDisk, timeoutMs: number): Promise<void>;
  /** Whole-value read of an attribute under /sys/block/mdN/md/ on a probe thread. */
  mdSysfsRead(path: string, timeoutMs: number): Promise<string>;
  mdSysfsWrite(path: string, value: string, timeoutMs: number): Promise<void>;
  /** Starts a poll() thread on md sysfs attributes; returns its close function. */
  mdWatch(paths: string[], onEvent: (event: RawMdWatchEvent) => void): () => void;
  nbdConnect(spec: RawNbdConnectSpec, timeoutMs: number): Promise<{ index: number }>;
  nbdDisconnect(index: number, timeoutMs: number): Promise<void>;
  nbdStatus(index: number, timeoutMs: number): Promise<{ index: number; connected: boolean }>;
  /** NBD_CMD_RECONFIGURE with one new socket (replaces the dead one). */
  nbdReconfigure(index: number, fd: number, timeoutMs: number): Promise<void>;
  /** Starts a thread on the nbd multicast group reporting NBD_CMD_LINK_DEAD; returns its close function. */
  nbdWatchLinkDead(onEvent: (event: RawNbdLinkEvent) => void): () => void;
}

// ---- running programs (native/process_spawner.cc) -------------------------------------------

export interface RawProgramResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  aborted: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** The errno-carrying Error of the call that failed (posix_spawn, pidfd_open, pipe2). */
  spawnError?: Error & { code: string; errno: number; syscall: string; path: string };
}

export interface RawProcessSpawner {
  spawn(
    file: string,
    args: string[],
    env: string[],
    cwd: string | null,
    ownGroup: boolean,
    timeoutMs: number,
    killGraceMs: number,
    maxOutput: number,
    drainMs: number,
  ): { id: number; result: Promise<RawProgramResult> };
  /** Ends the program as a time limit would; its result reports aborted. */
  stop(id: number): void;
  counters(): { pending: number; supervised: number; startedTotal: number; timedOutTotal: number };
}

export interface NativeAddon {
  /** A launcher and a supervisor thread for external programs. */
  createProcessSpawner(): RawProcessSpawner;
}

// ---- the self-fencing watchdog (native/watchdog.cc) -----------------------------------------

export interface RawWatchdogState {
  /** CLOCK_MONOTONIC now, ms. */
  nowMs: number;
  /** The lease deadline, CLOCK_MONOTONIC ms (Infinity: unbounded). */
  leaseMs: number;
  pets: number;
  lastPetMs: number | null;
  expired: boolean;
  realtime: boolean;
  petError: string | null;
}

export interface RawWatchdog {
  timeoutSecs: number;
  identity: string;
  magicClose: boolean;
  /** Lease deadline in CLOCK_MONOTONIC ms; false when the lease had lapsed already. */
  setLease(deadlineMs: number): boolean;
  state(): RawWatchdogState;
  disarm(): { magicClosed: boolean };
}

export interface NativeAddon {
  /** Opens and arms a watchdog device; its keeper thread pets it while the lease holds. */
  openWatchdog(device: string, timeoutSecs: number): RawWatchdog;
}
