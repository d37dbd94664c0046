// The storage behind one export: a regular file or a block device, opened twice — a plain
// read/write descriptor, and an O_DSYNC one through which FUA writes go, so a FUA write is
// durable when its write() returns without syncing everything else the way fdatasync() would.
// Reads and writes are positional (no shared file offset). Two I/O modes: 'pool' runs them on
// libuv's thread pool, so requests proceed concurrently without blocking the calling thread;
// 'sync' runs them on the calling thread, which is for the server's own worker thread only
// (server-thread.ts): no hop to another thread and back per request, and a disk that hangs
// blocks that thread alone rather than the process-wide pool every fs call of vigild needs. Trim is carried out as zeroing: the protocol
// leaves trimmed bytes unspecified, and zeroes keep the two halves of the md mirror identical
// (the primary's disk may read discarded blocks as zeroes), at the cost of writing them.
import { close, constants, fdatasync, fdatasyncSync, fstat, open, read, readSync, writev, writevSync, type Stats } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { promisify } from 'node:util';
import { VigilError } from '../../common/errors.js';

const openAsync = promisify(open);
const fstatAsync = promisify(fstat);
const closeAsync = promisify(close);

/** Zero buffer shared by WRITE_ZEROES and TRIM; writes go out in chunks of this size. */
const ZERO_CHUNK = Buffer.alloc(1024 * 1024);

type IoCallback<T> = (err: NodeJS.ErrnoException | null, value: T) => void;

/** The three primitives the export needs, with node's callback signatures. */
interface FileIo {
  read(fd: number, into: Buffer, at: number, length: number, position: number, cb: IoCallback<number>): void;
  writev(fd: number, parts: Buffer[], position: number, cb: IoCallback<number>): void;
  fdatasync(fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void;
}

const poolIo: FileIo = {
  read: (fd, into, at, length, position, cb) => read(fd, into, at, length, position, cb),
  writev: (fd, parts, position, cb) => writev(fd, parts, position, cb),
  fdatasync: (fd, cb) => fdatasync(fd, cb),
};

/** Same primitives on the calling thread; the callback runs before the call returns. */
const syncIo: FileIo = {
  read: (fd, into, at, length, position, cb) => settle(() => readSync(fd, into, at, length, position), cb),
  writev: (fd, parts, position, cb) => settle(() => writevSync(fd, parts, position), cb),
  fdatasync: (fd, cb) => settle(() => fdatasyncSync(fd), cb),
};

function settle<T>(op: () => T, cb: IoCallback<T>): void {
  let value: T;
  try {
    value = op();
  } catch (err) {
    return cb(err as NodeJS.ErrnoException, undefined as T);
  }
  cb(null, value);
}

export type IoMode = 'pool' | 'sync';

/** Size of a block device, from the platform (ioctl BLKGETSIZE64 through the addon). */
export type DeviceSizeLookup = (devicePath: string) => Promise<number>;

export class ExportFile {
  private closed = false;
  /** Operations under way; close() waits for them so a descriptor is never reused under one. */
  private busy = 0;
  private idle: (() => void) | undefined;

  private constructor(
    readonly path: string,
    readonly sizeBytes: number,
    readonly isBlockDevice: boolean,
    private readonly fd: number,
    private readonly dsyncFd: number,
    private readonly io: FileIo,
  ) {}

  /** Opens `path` for read and write; block devices get their size from `deviceSize`. */
  static async open(path: string, deviceSize: DeviceSizeLookup, mode: IoMode = 'pool'): Promise<ExportFile> {
    // Blocking disk I/O on vigild's main thread would stall heartbeats behind a slow disk.
    if (mode === 'sync' && isMainThread) throw new VigilError(0, 'synchronous NBD export I/O is only allowed on a worker thread');
    const fd = await openAsync(path, constants.O_RDWR);
    let dsyncFd = -1;
    try {
      dsyncFd = await openAsync(path, constants.O_RDWR | constants.O_DSYNC);
      const st: Stats = await fstatAsync(fd);
      let size: number;
      if (st.isBlockDevice()) size = await deviceSize(path);
      else if (st.isFile()) size = st.size;
      else throw new VigilError(0, `NBD export ${path} is neither a regular file nor a block device`, { path });
      return new ExportFile(path, size, st.isBlockDevice(), fd, dsyncFd, mode === 'sync' ? syncIo : poolIo);
    } catch (err) {
      await closeAsync(fd).catch(() => undefined);
      if (dsyncFd >= 0) await closeAsync(dsyncFd).catch(() => undefined);
      throw err;
    }
  }

  /** Fills `into[at .. at+length)` from `offset`; short reads are retried, end of file is EIO. */
  read(into: Buffer, at: number, length: number, offset: number, callback: (err: NodeJS.ErrnoException | null) => void): void {
    const done = this.track(callback);
    if (!done) return;
    const step = (err: NodeJS.ErrnoException | null, n: number): void => {
      if (err) return done(err);
      if (n === 0 && length > 0) return done(Object.assign(new Error(`unexpected end of ${this.path} at ${offset}`), { code: 'EIO' }));
      at += n;
      offset += n;
      length -= n;
      if (length === 0) return done(null);
      this.io.read(this.fd, into, at, length, offset, step);
    };
    this.io.read(this.fd, into, at, length, offset, step);
  }

  /** Writes the buffers at `offset`; with `fua` through the O_DSYNC descriptor. */
  write(parts: Buffer[], offset: number, fua: boolean, callback: (err: NodeJS.ErrnoException | null) => void): void {
    const done = this.track(callback);
    if (!done) return;
    const fd = fua ? this.dsyncFd : this.fd;
    let remaining = parts.reduce((s, p) => s + p.length, 0);
    const step = (err: NodeJS.ErrnoException | null, n: number): void => {
      if (err) return done(err);
      remaining -= n;
      offset += n;
      if (remaining === 0) return done(null);
      // Short write: drop what was written and continue with the rest.
      let skip = n;
      while (skip > 0 && parts.length > 0) {
        const first = parts[0]!;
        if (first.length <= skip) {
          skip -= first.length;
          parts = parts.slice(1);
        } else {
          parts = [first.subarray(skip), ...parts.slice(1)];
          skip = 0;
        }
      }
      this.io.writev(fd, parts, offset, step);
    };
    this.io.writev(fd, parts, offset, step);
  }

  /** Writes `length` zero bytes at `offset` (WRITE_ZEROES, and TRIM as explained above). */
  writeZeroes(offset: number, length: number, fua: boolean, done: (err: NodeJS.ErrnoException | null) => void): void {
    // A loop rather than recursion when writes complete synchronously ('sync' mode), so a
    // request zeroing gigabytes does not nest one stack frame per chunk.
    let looping = false;
    let completedInLoop = false;
    const next = (err: NodeJS.ErrnoException | null): void => {
      if (err) return done(err);
      if (looping) {
        completedInLoop = true;
        return;
      }
      looping = true;
      do {
        completedInLoop = false;
        if (length === 0) {
          looping = false;
          return done(null);
        }
        const n = Math.min(length, ZERO_CHUNK.length);
        const at = offset;
        offset += n;
        length -= n;
        this.write([ZERO_CHUNK.subarray(0, n)], at, fua, next);
      } while (completedInLoop);
      looping = false;
    };
    next(null);
  }

  /** Makes every completed write durable. */
  flush(callback: (err: NodeJS.ErrnoException | null) => void): void {
    const done = this.track(callback);
    if (!done) return;
    this.io.fdatasync(this.fd, done);
  }

  /**
   * The two descriptors, for a data path that duplicates them at once (platform NbdDataPath);
   * undefined once the file is closed.
   */
  descriptors(): { fd: number; dsyncFd: number } | undefined {
    return this.closed ? undefined : { fd: this.fd, dsyncFd: this.dsyncFd };
  }

  /** Closes both descriptors once the operations under way have finished; later ones fail with EBADF. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.busy > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await Promise.allSettled([closeAsync(this.fd), closeAsync(this.dsyncFd)]);
  }

  /** Counts an operation in; undefined (after failing it) when the file is already closed. */
  private track(callback: (err: NodeJS.ErrnoException | null) => void): ((err: NodeJS.ErrnoException | null) => void) | undefined {
    if (this.closed) {
      const err: NodeJS.ErrnoException = Object.assign(new Error(`NBD export ${this.path} is closed`), { code: 'EBADF' });
      queueMicrotask(() => callback(err));
      return undefined;
    }
    this.busy++;
    return (err) => {
      this.busy--;
      if (this.busy === 0 && this.idle) {
        const idle = this.idle;
        this.idle = undefined;
        idle();
      }
      callback(err);
    };
  }
}
