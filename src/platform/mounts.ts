// The Platform's mount interfaces (part of Platform, see platform.ts): mounting and unmounting,
// finding and ending the processes that hold a mount, and read/write probes with time limits.
// Implemented in linux/mount-control.ts, linux/mount-holders.ts, linux/fs-probe.ts and
// memory/mounts.ts; the contract suite runs the same cases against both.

export interface MountRequest {
  source: string;
  mountPoint: string;
  fsType: string;
  /** mount -o options, e.g. ['rw', 'noatime']; empty for defaults. */
  options: string[];
}

export type UnmountMode = 'normal' | 'force' | 'lazy';

export interface MountControl {
  /** Mounts; rejects with a reason (the program's message) on failure or after timeoutMs. */
  mount(req: MountRequest, timeoutMs: number): Promise<void>;
  /**
   * Unmounts; rejects with EBUSY-like reasons when held. `force` (umount -f: aborts the NFS
   * requests in flight) and `lazy` (umount -l: detaches the mount now, frees it when the last
   * user goes) never canonicalize the path, so a dead server cannot hang the path lookup.
   */
  umount(mountPoint: string, timeoutMs: number, mode?: UnmountMode): Promise<void>;
  /** Creates the mount point directory (and parents) if missing. */
  ensureMountPoint(mountPoint: string): Promise<void>;
  /** mount -o remount,<options> */
  remount(mountPoint: string, options: string[], timeoutMs: number): Promise<void>;
}

export interface Holder {
  pid: number;
  /** What refers into the mount: 'cwd', 'root', 'fd 3', 'maps'... */
  how: string;
  command: string;
}

export interface MountHolders {
  /**
   * Processes with a cwd, root, open file or mapped file under the mount point, found by
   * walking /proc (readlink only: never stats the target, so a dead NFS mount cannot hang it).
   */
  find(mountPoint: string): Promise<Holder[]>;
  /** TERM, wait up to graceMs for them to exit, then KILL what is left; returns the pids ended. */
  end(holders: Holder[], graceMs: number): Promise<number[]>;
}

export interface FsProbe {
  /** Lists a directory within timeoutMs (off the event loop). */
  readDir(path: string, timeoutMs: number): Promise<string[]>;
  /** Writes, fsyncs and deletes a probe file in `dir` within timeoutMs. */
  writeProbe(dir: string, timeoutMs: number): Promise<void>;
}
