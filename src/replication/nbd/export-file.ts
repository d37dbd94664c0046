// The storage behind one export: a regular file or a block device, opened twice — a plain
// read/write descriptor, and an O_DSYNC one through which FUA writes go, so a FUA write is
// durable when its write() returns without syncing everything else the way fdatasync() would.
// I/O runs on libuv's thread pool with positional reads and writes (no shared file offset), so
// requests of one connection proceed concurrently. Trim is carried out as zeroing: the protocol
// leaves trimmed bytes unspecified, and zeroes keep the two halves of the md mirror identical
// (the primary's disk may read discarded blocks as zeroes), at the cost of writing them.
import { close, constants, fdatasync, fstat, open, read, writev, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import { VigilError } from '../../common/errors.js';

const openAsync = promisify(open);
const fstatAsync = promisify(fstat);
const closeAsync = promisify(close);

/** Zero buffer shared by WRITE_ZEROES and TRIM; writes go out in chunks of this size. */
const ZERO_CHUNK = Buffer.alloc(1024 * 1024);

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
  ) {}

  /** Opens `path` for read and write; block devices get their size from `deviceSize`. */
  static async open(path: string, deviceSize: DeviceSizeLookup): Promise<ExportFile> {
    const fd = await openAsync(path, constants.O_RDWR);
    let dsyncFd = -1;
    try {
      dsyncFd = await openAsync(path, constants.O_RDWR | constants.O_DSYNC);
      const st: Stats = await fstatAsync(fd);
      let size: number;
      if (st.isBlockDevice()) size = await deviceSize(path);
      else if (st.isFile()) size = st.size;
      else throw new VigilError(0, `NBD export ${path} is neither a regular file nor a block device`, { path });
      return new ExportFile(path, size, st.isBlockDevice(), fd, dsyncFd);
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
      read(this.fd, into, at, length, offset, step);
    };
    read(this.fd, into, at, length, offset, step);
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
      writev(fd, parts, offset, step);
    };
    writev(fd, parts, offset, step);
  }

  /** Writes `length` zero bytes at `offset` (WRITE_ZEROES, and TRIM as explained above). */
  writeZeroes(offset: number, length: number, fua: boolean, done: (err: NodeJS.ErrnoException | null) => void): void {
    const next = (err: NodeJS.ErrnoException | null): void => {
      if (err) return done(err);
      if (length === 0) return done(null);
      const n = Math.min(length, ZERO_CHUNK.length);
      const at = offset;
      offset += n;
      length -= n;
      this.write([ZERO_CHUNK.subarray(0, n)], at, fua, next);
    };
    next(null);
  }

  /** Makes every completed write durable. */
  flush(callback: (err: NodeJS.ErrnoException | null) => void): void {
    const done = this.track(callback);
    if (!done) return;
    fdatasync(this.fd, done);
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
