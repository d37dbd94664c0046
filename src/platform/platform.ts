// The kernel-facing interfaces of Vigil. Everything above src/platform talks to the machine
// only through these; linux/ implements them over the native addon and procfs/sysfs, memory/
// implements them in memory with fault hooks for unit tests. One contract suite
// (test/contract/platform.contract.test.ts) runs against both.
import type { FsProbe, MountControl, MountHolders } from './mounts.js';
import type { NasTools } from './nas-tools.js';
import type { ProgramRunner } from './programs.js';
import type { Watchdog } from './watchdog.js';

import type { Capacity, PrKeys, PrReservation, PrType, StandardInquiry } from './scsi/cdb.js';

export type { Capacity, PrKeys, PrReservation, PrType };

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
  /** Where the table is read from, for error messages (Linux: /proc/self/mounts). */
  readonly path: string;
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

/** Options of DurableFiles.append. */
export interface DurableAppendOptions {
  /** Time limit for the whole append; past it the call rejects with ProbeTimeoutError. */
  timeoutMs: number;
  /** The key the probe-thread bounds apply to; by default the mount point of the file's directory. */
  key?: string;
}

/** An exclusive lock on a file, held until release() or the process's exit (kill -9 included). */
export interface FileLock {
  readonly path: string;
  release(): void;
}

/**
 * Crash-safe replacement of small files that never blocks the caller: a temp file of the
 * write's own (`.tmp-<basename>.<pid>.<sequence>`, created exclusively) in the same directory is written, fsynced and renamed over the
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
  /**
   * Appends `data` to the existing file `path` and makes it durable (fdatasync), on a thread of
   * its own with a time limit. The first write is the commit point: a ProbeTimeoutError or
   * SysError with `commitStarted: true` means the data may be in the file whole or in part;
   * with `commitStarted: false` nothing was appended, even when the kernel lets the call go.
   */
  append(path: string, data: Uint8Array | string, options: DurableAppendOptions): Promise<void>;
  /**
   * An exclusive lock on `path` (created 0600 if missing, this pid written into it), or, when
   * another holder has it, that holder's pid as written in the file (undefined if unreadable).
   * Synchronous: taken once at start-up, and it never waits for the holder.
   */
  tryLockExclusive(path: string): FileLock | { heldByPid: number | undefined };
  /** The key writeAtomic uses for `path` when the options name none. */
  keyFor(path: string): string;
  /** Writes (and probes) on `key` that timed out and whose thread is still stuck in the kernel. */
  stuck(key: string): number;
}

/** The scheduling of the calling thread. */
export interface SchedulingState {
  policy: 'other' | 'fifo' | 'rr' | 'batch' | 'idle';
  priority: number;
  /** Threads and processes created from now on start with the normal policy again. */
  resetOnFork: boolean;
  /**
   * How often the real-time thread, busy for too long, was demoted to a normal (favoured)
   * priority so that the kernel's network receive work and the NBD server thread could run.
   */
  budgetDemotions: number;
}

/**
 * Staying scheduled under load (what corosync does for its heartbeats): code kept in memory, and
 * real-time round-robin scheduling for the event-loop thread. Each call is a few short syscalls;
 * failures (EPERM without the privilege or RLIMIT) throw SysError.
 */
export interface Scheduling {
  /**
   * Locks the code (every file-backed read-only mapping) and the main stack as their pages are
   * touched, so they are never evicted and read back from disk. Not the heap: V8 returns heap
   * pages with madvise(MADV_DONTNEED), which locked pages refuse. Returns the bytes of mappings locked.
   */
  lockMemory(): number;
  /**
   * SCHED_RR at `priority` for the calling thread; what it creates later starts as normal. The
   * thread is demoted while it uses most of the CPU and real-time again once it is idle.
   */
  setRealtime(priority: number): void;
  state(): SchedulingState;
}

export interface ScsiCommandOptions {
  /** Time limit of the command; past it the call rejects with ProbeTimeoutError (see TimedStat). */
  timeoutMs: number;
}

export interface ScsiWriteOptions extends ScsiCommandOptions {
  /** Force Unit Access: the device writes (or reads) the medium, not only its cache. WRITE default: true. */
  fua?: boolean;
}

export interface ScsiInquiry extends StandardInquiry {
  /** Unit Serial Number (VPD page 0x80), when the device has one. */
  serial: string | undefined;
}

/**
 * SCSI commands to a LUN through /dev/sgN or its block device (SG_IO), each on a thread of its own
 * with a time limit. A command the device answered with a status other than GOOD rejects with a
 * typed ScsiError (scsi/errors.ts: reservation conflict, unit attention, not ready, other check
 * condition, transport failure); one that never reached the device with SysError (ENOTTY: the
 * device takes no SG_IO) or ProbeTimeoutError. Keys are 64-bit bigints; 0n means "none".
 */
export interface ScsiGeneric {
  inquiry(device: string, options: ScsiCommandOptions): Promise<ScsiInquiry>;
  testUnitReady(device: string, options: ScsiCommandOptions): Promise<void>;
  /** READ CAPACITY(16). */
  readCapacity(device: string, options: ScsiCommandOptions): Promise<Capacity>;
  /** READ(16) of `blocks` logical blocks of `blockSize` bytes at `lba`. */
  read(device: string, lba: number, blocks: number, blockSize: number, options: ScsiWriteOptions): Promise<Buffer>;
  /** WRITE(16) of whole blocks at `lba`, with FUA unless `fua: false`. */
  write(device: string, lba: number, data: Buffer, blockSize: number, options: ScsiWriteOptions): Promise<void>;
  /** PERSISTENT RESERVE IN, READ KEYS. */
  readKeys(device: string, options: ScsiCommandOptions): Promise<PrKeys>;
  /** PERSISTENT RESERVE IN, READ RESERVATION. */
  readReservation(device: string, options: ScsiCommandOptions): Promise<PrReservation>;
  /** REGISTER: `currentKey` 0n when not registered; `newKey` 0n unregisters. */
  register(device: string, currentKey: bigint, newKey: bigint, options: ScsiCommandOptions): Promise<void>;
  /** REGISTER AND IGNORE EXISTING KEY. */
  registerAndIgnoreExistingKey(device: string, newKey: bigint, options: ScsiCommandOptions): Promise<void>;
  reserve(device: string, key: bigint, type: PrType, options: ScsiCommandOptions): Promise<void>;
  release(device: string, key: bigint, type: PrType, options: ScsiCommandOptions): Promise<void>;
  clear(device: string, key: bigint, options: ScsiCommandOptions): Promise<void>;
  /** PREEMPT (or PREEMPT AND ABORT with `abort: true`) the registrations holding `victimKey`. */
  preempt(device: string, key: bigint, victimKey: bigint, type: PrType, options: ScsiCommandOptions & { abort?: boolean }): Promise<void>;
}

/**
 * Block I/O that bypasses the page cache (O_DIRECT; writes with O_DSYNC), on a thread of its own
 * with a time limit: the fallback where SG_IO does not apply (a loop device). Offsets and
 * lengths are multiples of 512.
 */
export interface DirectBlockIo {
  read(device: string, offset: number, length: number, timeoutMs: number): Promise<Buffer>;
  write(device: string, offset: number, data: Buffer, timeoutMs: number): Promise<void>;
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
  /**
   * End vigild at once (SIGKILL, no sync) with every process it started, the services its
   * programs left running in groups of their own included: what a node that must stop serving
   * does when it is not powered off (QUORUM_LOSS_ACTION's last resort, a kit's halt with exit).
   */
  endAgent(reason: string): void;
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
  scheduling: Scheduling;
  scsi: ScsiGeneric;
  directIo: DirectBlockIo;
  /** Immediate power-off and reboot (quorum-loss actions). */
  nodePower: NodePower;
  md: MdControl;
  nbd: NbdControl;
  /** An NFS server's export list, name lookups and this system's identity (nas-tools.ts). */
  nasTools: NasTools;
  /** External programs with a time limit (programs.ts). */
  programs: ProgramRunner;
  /** The kernel watchdog that resets this node when its lease lapses (watchdog.ts). */
  watchdog: Watchdog;
}

// ---- md (software RAID) and NBD client devices, for the data-replication mirror -------------

/** A block device's number, as md and the block layer name it. */
export interface DevNumber {
  major: number;
  minor: number;
}

/** GET_ARRAY_INFO of an md array. `clean` is the superblock's clean bit. */
export interface MdArrayInfo {
  md: string;
  level: number;
  raidDisks: number;
  /** Devices bound to the array (active, spare and faulty). */
  nrDisks: number;
  activeDisks: number;
  workingDisks: number;
  failedDisks: number;
  spareDisks: number;
  sizeKiB: number;
  clean: boolean;
  /** Superblock format, e.g. '1.0'. */
  metadata: string;
}

/** GET_DISK_INFO of one member, plus the kernel name of its device ('nbd0', 'vdb'). */
export interface MdMember {
  number: number;
  dev: DevNumber;
  /** Undefined when the device is gone from the system (e.g. a hot-unplugged disk). */
  name: string | undefined;
  /** Its slot in the array; -1 for a spare or a failed member. */
  raidDisk: number;
  faulty: boolean;
  active: boolean;
  sync: boolean;
  writeMostly: boolean;
  /**
   * Ranges md recorded as unreadable/unwritable on this member (dev-NAME/bad_blocks). md keeps a
   * member whose writes failed as the last working one, or where it could log the failure
   * instead of failing it: such a member no longer holds a complete copy.
   */
  badBlocks: number;
}

export type MdSyncAction = 'idle' | 'resync' | 'recover' | 'check' | 'repair' | 'reshape' | 'frozen';

/** The resync state from sysfs (sync_action, sync_completed, degraded, array_state, sync_speed_max). */
export interface MdSyncStatus {
  action: MdSyncAction;
  arrayState: string;
  /** Number of missing or failed members (md's `degraded`). */
  degraded: number;
  /** Progress of the running resync or recovery; undefined when none runs. */
  completed?: { doneSectors: number; totalSectors: number };
  /**
   * md's own rate of the running resync or recovery (`sync_speed`), in KiB/s: the sectors it
   * copied since its oldest progress mark (md keeps marks up to about 30 s back) over that time;
   * clean chunks a bitmap-based recovery skips are not counted. Undefined when none runs.
   */
  speedKiB?: number;
  /** The array's own resync speed ceiling in KiB/s, or 'system' when it follows /proc/sys/dev/raid. */
  speedMaxKiB: number | 'system';
}

/** The write-intent bitmap (bitmap/* in sysfs). */
export interface MdBitmapInfo {
  /** 'none', 'file', or the internal bitmap's offset from the superblock ('+8', '-1024'). */
  location: string;
  chunkBytes?: number;
}

export interface MdCreateSpec {
  md: string;
  /** Member devices; 'missing' leaves a slot empty (a degraded array). */
  members: string[];
  bitmap: 'internal' | 'none';
  bitmapChunkKiB?: number;
}

/** A changed md attribute: `attribute` is relative to /sys/block/mdN/md/ ('degraded', 'dev-nbd0/state'). */
export interface MdEvent {
  md: string;
  attribute: string;
  /** The new value, trimmed; undefined when it could not be read (`code` says why). */
  value?: string;
  code?: string;
}

export interface MdWatcher {
  close(): void;
}

/**
 * md arrays. Every call settles within its time limit (ProbeTimeoutError) or fails with SysError
 * (errno, syscall, path) or, for create/assemble, MdProgramError. Member devices are named by
 * path when they are added and by DevNumber afterwards (a failed disk's node may be gone).
 */
export interface MdControl {
  /** Writes a new superblock (RAID1, metadata 1.0) on the members and starts the array. */
  create(spec: MdCreateSpec, timeoutMs: number): Promise<void>;
  /** Starts an existing array from members that carry its superblock (degraded if some are missing). */
  assemble(md: string, members: string[], timeoutMs: number): Promise<void>;
  /** Whether the md device exists and runs an array. */
  exists(md: string, timeoutMs: number): Promise<boolean>;
  arrayInfo(md: string, timeoutMs: number): Promise<MdArrayInfo>;
  members(md: string, timeoutMs: number): Promise<MdMember[]>;
  setFaulty(md: string, dev: DevNumber, timeoutMs: number): Promise<void>;
  hotRemove(md: string, dev: DevNumber, timeoutMs: number): Promise<void>;
  /**
   * Adds a device. With `reAdd` (the slot and role it had) md takes it back in its old role and,
   * with a bitmap, copies only the regions written while it was away; when md refuses that (too
   * old for the bitmap), or without `reAdd`, the device is added as a new member and recovered in
   * full — whatever md superblock it carries is ignored (erased), so a device that was this
   * array's member in an earlier life is never taken back from the bitmap.
   */
  add(md: string, devicePath: string, timeoutMs: number, reAdd?: { number: number; raidDisk: number }): Promise<'re-added' | 'added'>;
  stop(md: string, timeoutMs: number): Promise<void>;
  /**
   * Erases the md superblock of a device that is no member of a running array (mdadm
   * --zero-superblock); a device without one is left as it is. The data area is not touched.
   */
  zeroSuperblock(devicePath: string, timeoutMs: number): Promise<void>;
  syncStatus(md: string, timeoutMs: number): Promise<MdSyncStatus>;
  setSyncAction(md: string, action: Exclude<MdSyncAction, 'reshape'>, timeoutMs: number): Promise<void>;
  setSyncSpeedMax(md: string, kib: number | 'system', timeoutMs: number): Promise<void>;
  bitmap(md: string, timeoutMs: number): Promise<MdBitmapInfo>;
  /**
   * Sets or clears a member flag through dev-NAME/state: 'failfast' makes md fail the member on
   * its first I/O error while other members work (instead of retrying and logging bad blocks),
   * which is what a network member needs; 'writemostly' keeps reads off it.
   */
  setMemberFlag(md: string, memberName: string, flag: 'failfast' | '-failfast' | 'writemostly' | '-writemostly', timeoutMs: number): Promise<void>;
  /** dev-NAME/state of a member, split at commas ('in_sync', 'faulty', 'write_mostly', ...). */
  memberState(md: string, memberName: string, timeoutMs: number): Promise<string[]>;
  /** The device number of a block device path (no I/O on the device). */
  devNumber(devicePath: string): Promise<DevNumber>;
  /**
   * Reports md's own change notifications (array_state, degraded, sync_action, sync_completed and
   * the members' states) from a dedicated thread; each attribute's current value is reported
   * first. Nothing is polled on a timer.
   */
  watch(md: string, memberNames: string[], onEvent: (event: MdEvent) => void): MdWatcher;
}

export interface NbdAttachOptions {
  sizeBytes: number;
  /** Transmission flags from the handshake (NBD_FLAG_SEND_FLUSH, ...). */
  transmissionFlags: number;
  blockSize?: number;
  /** I/O that gets no answer within this many seconds fails (EIO) instead of waiting. */
  ioTimeoutSec: number;
  /** How long I/O waits for a new connection after the link died; 0 fails it at once. */
  deadConnTimeoutSec?: number;
  /** Shown in /sys/block/nbdN/backend. */
  backend?: string;
}

export interface NbdStatus {
  index: number;
  device: string;
  connected: boolean;
  /** The process that connected the device (/sys/block/nbdN/pid, what `nbd-client -c` prints). */
  pid?: number;
  sizeBytes?: number;
  backend?: string;
}

/**
 * NBD client devices (/dev/nbdN). attach() hands a connected socket that already finished the
 * NBD handshake to the kernel; the caller may close its own descriptor afterwards. The device
 * then lives on its own (it survives the agent) until detach(). I/O on a vanished server fails
 * after ioTimeoutSec. Calls settle within their time limit.
 */
export interface NbdControl {
  attach(index: number, socketFd: number, options: NbdAttachOptions, timeoutMs: number): Promise<void>;
  detach(index: number, timeoutMs: number): Promise<void>;
  status(index: number, timeoutMs: number): Promise<NbdStatus>;
  /**
   * Hands a new, negotiated connection to a device whose connection died (NBD_CMD_RECONFIGURE):
   * the requests the kernel holds are sent on it. Refused (EINVAL) when the device is not connected.
   */
  reconnect(index: number, socketFd: number, timeoutMs: number): Promise<void>;
  /**
   * Reports the kernel's notice that a device's connection died (NBD_CMD_LINK_DEAD, multicast by
   * the nbd module) from a dedicated thread; with a dead-connection time-out the device holds its
   * requests from then on. onError: the listening thread stopped (the notices are lost).
   */
  watchLinkDead(onDead: (index: number) => void, onError?: (err: Error) => void): NbdLinkWatcher;
}

export interface NbdLinkWatcher {
  close(): void;
}

// ---- the NBD server's data path (the backup's side of the mirror) ----------------------------

/** What one NBD connection's transmission phase counted (the fields of the server's counters). */
export interface NbdTransmissionCounts {
  reads: number;
  writes: number;
  fuaWrites: number;
  flushes: number;
  trims: number;
  writeZeroes: number;
  invalidRequests: number;
  ioErrors: number;
  bytesRead: number;
  bytesWritten: number;
}

export interface NbdServeSpec {
  /** The connected socket, its handshake done and nothing left queued for sending on it. */
  socketFd: number;
  /** The export: a plain descriptor, and an O_DSYNC one for FUA writes (regular file or block device). */
  fd: number;
  dsyncFd: number;
  sizeBytes: number;
  /** Request bytes the handshake already read off the socket. */
  leftover: Buffer;
  /** I/O threads of the connection (default 4). */
  ioThreads?: number;
}

/**
 * How a served connection ended: the client's NBD_CMD_DISC (after every reply was sent), the
 * socket closing or failing (`code`: its errno name), or a request breaking the protocol.
 */
export interface NbdServeEnd {
  kind: 'disconnect' | 'closed' | 'protocol-error';
  message?: string;
  code?: string;
}

export interface NbdServeEvents {
  /** The connection ended (once; a protocol error is counted here before the client sees the close). */
  onEnd(end: NbdServeEnd): void;
  /** After onEnd, once no request is in flight any more: the final counts. */
  onReleased(counts: NbdTransmissionCounts): void;
}

export interface NbdServedConnection {
  /** Counters so far (they stop changing once the end is reported). */
  counters(): NbdTransmissionCounts;
  /** Cuts the connection at once (revocation); its end and release are still reported. */
  stop(): void;
}

/**
 * Serves the transmission phase of NBD connections outside the JavaScript thread (the Linux
 * implementation: native threads in the addon, native/nbd_server.cc): READ, WRITE, FLUSH, TRIM,
 * WRITE_ZEROES and DISC with simple replies, FUA honoured, exactly as transmission.ts serves
 * them. serve() duplicates the three descriptors before it returns: the caller then closes its
 * own (it must not read from or write to the socket any more). The events run on the calling
 * thread's event loop; nothing there ever waits for the connection's threads (a disk that hangs
 * delays onReleased, never the caller).
 */
export interface NbdDataPath {
  serve(spec: NbdServeSpec, events: NbdServeEvents): NbdServedConnection;
}
