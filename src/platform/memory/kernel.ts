// A tiny in-memory "kernel" for unit tests: a tree of files (with contents), directories and
// block devices, a mount table, and fault hooks that make calls under a path — all of them, or
// only one syscall such as 'rename' — hang until released, fail with an errno, or answer late.
// Syscalls are async so a hang is a promise that stays pending.
import { posix } from 'node:path';

import { SysError } from '../errors.js';
import type { FileStat, MountEntry } from '../platform.js';

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFBLK = 0o060000;

export interface MemoryBlockDevice {
  sizeBytes: number;
  logicalSectorSize: number;
  readOnly: boolean;
}

interface Node {
  mode: number;
  ino: number;
  size: number;
  mtimeMs: number;
  device?: MemoryBlockDevice;
  data?: Buffer;
}

/** A file opened by createFile/openFile: stays the same file across renames, like an fd. */
export type MemoryOpenFile = object;

type Fault =
  | { kind: 'hang'; prefix: string; syscall?: string; released: Promise<void>; release: () => void }
  | { kind: 'fail'; prefix: string; syscall?: string; code: string }
  | { kind: 'delay'; prefix: string; ms: number };

function appliesTo(f: { syscall?: string }, syscall: string): boolean {
  return f.syscall === undefined || f.syscall === syscall;
}

function covers(prefix: string, path: string): boolean {
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
}

export class MemoryKernel {
  private readonly nodes = new Map<string, Node>();
  private faults: Fault[] = [];
  /** Hangs moved aside by holdOnlyStuck(): their held calls wait, new calls pass. */
  private stuckHeld: Extract<Fault, { kind: 'hang' }>[] = [];
  private nextIno = 2;
  readonly mounts: MountEntry[] = [{ source: 'memfs', mountPoint: '/', fsType: 'memfs', options: ['rw'] }];

  constructor() {
    this.nodes.set('/', { mode: S_IFDIR | 0o755, ino: 1, size: 4096, mtimeMs: Date.now() });
  }

  addDirectory(path: string): this {
    return this.add(path, { mode: S_IFDIR | 0o755, size: 4096 });
  }

  addFile(path: string, size = 0): this {
    return this.add(path, { mode: S_IFREG | 0o644, size });
  }

  addBlockDevice(path: string, device: MemoryBlockDevice): this {
    return this.add(path, { mode: S_IFBLK | 0o660, size: 0, device: { ...device } });
  }

  remove(path: string): this {
    this.nodes.delete(posix.resolve(path));
    return this;
  }

  addMount(entry: MountEntry): this {
    this.mounts.push({ ...entry, options: [...entry.options] });
    return this;
  }

  /** Calls on `prefix` or below (only `syscall` ones, when given) block until release(prefix). */
  hang(prefix: string, syscall?: string): this {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    this.faults.push({ kind: 'hang', prefix: posix.resolve(prefix), syscall, released, release });
    return this;
  }

  /**
   * Calls already held by hang(prefix) stay held until release(prefix); later ones pass (like
   * the fusehang fixture's "hold"): an old call stuck in the kernel while newer ones succeed.
   */
  holdOnlyStuck(prefix: string): this {
    const p = posix.resolve(prefix);
    for (const f of this.faults) if (f.kind === 'hang' && f.prefix === p) this.stuckHeld.push(f);
    this.faults = this.faults.filter((f) => !(f.kind === 'hang' && f.prefix === p));
    return this;
  }

  /** Lets every call held by hang(prefix) continue; later calls are not held. */
  release(prefix: string): this {
    const p = posix.resolve(prefix);
    for (const f of this.stuckHeld) if (f.prefix === p) f.release();
    this.stuckHeld = this.stuckHeld.filter((f) => f.prefix !== p);
    for (const f of this.faults) if (f.kind === 'hang' && f.prefix === p) f.release();
    this.faults = this.faults.filter((f) => !(f.kind === 'hang' && f.prefix === p));
    return this;
  }

  /** Calls on `prefix` or below (only `syscall` ones, when given) fail with this errno name ('EIO', ...). */
  failWith(prefix: string, code: string, syscall?: string): this {
    SysError.fromCode(code, 'check'); // rejects unknown names up front
    this.faults.push({ kind: 'fail', prefix: posix.resolve(prefix), syscall, code });
    return this;
  }

  /** Calls on `prefix` or below answer only after `ms` milliseconds. */
  delay(prefix: string, ms: number): this {
    this.faults.push({ kind: 'delay', prefix: posix.resolve(prefix), ms });
    return this;
  }

  /** Removes every fault; held calls are released. */
  clearFaults(): this {
    for (const f of this.faults) if (f.kind === 'hang') f.release();
    for (const f of this.stuckHeld) f.release();
    this.stuckHeld = [];
    this.faults = [];
    return this;
  }

  async stat(path: string): Promise<FileStat> {
    const p = posix.resolve(path);
    await this.applyFaults(p, 'stat');
    const node = this.lookup(p, 'stat');
    return {
      dev: 1,
      ino: node.ino,
      mode: node.mode,
      nlink: 1,
      uid: 0,
      gid: 0,
      rdev: 0,
      size: node.size,
      blksize: 4096,
      blocks: Math.ceil(node.size / 512),
      atimeMs: node.mtimeMs,
      mtimeMs: node.mtimeMs,
      ctimeMs: node.mtimeMs,
    };
  }

  async blockDeviceInfo(path: string): Promise<MemoryBlockDevice> {
    const p = posix.resolve(path);
    await this.applyFaults(p, 'open');
    const node = this.lookup(p, 'open');
    if (!node.device) throw SysError.fromCode('ENOTTY', 'ioctl(BLKGETSIZE64)', path);
    return { ...node.device };
  }

  /** The faults of `syscall` on `path`: waits out delays and hangs, throws a failure's SysError. */
  async syscall(name: string, path: string): Promise<void> {
    await this.applyFaults(posix.resolve(path), name);
  }

  /**
   * Creates (or truncates in place) a regular file, like open(O_CREAT | O_TRUNC) then
   * fchmod(mode); with `exclusive`, like O_CREAT | O_EXCL: EEXIST when the name is taken.
   * Returns the open file: writes through it reach the same file after a rename, as with an fd.
   */
  createFile(path: string, mode: number, opts: { exclusive?: boolean } = {}): MemoryOpenFile {
    const p = posix.resolve(path);
    const parent = this.nodes.get(posix.dirname(p));
    if (!parent) throw SysError.fromCode('ENOENT', 'open', p);
    if ((parent.mode & S_IFDIR) !== S_IFDIR) throw SysError.fromCode('ENOTDIR', 'open', p);
    const existing = this.nodes.get(p);
    if (existing && opts.exclusive) throw SysError.fromCode('EEXIST', 'open', p);
    if (existing && (existing.mode & S_IFDIR) === S_IFDIR) throw SysError.fromCode('EISDIR', 'open', p);
    if (existing) {
      existing.mode = S_IFREG | (mode & 0o7777);
      existing.data = Buffer.alloc(0);
      existing.size = 0;
      existing.mtimeMs = Date.now();
      return existing;
    }
    const node: Node = { mode: S_IFREG | (mode & 0o7777), ino: this.nextIno++, size: 0, mtimeMs: Date.now(), data: Buffer.alloc(0) };
    this.nodes.set(p, node);
    return node;
  }

  /** Opens an existing regular file (open without O_CREAT). */
  openFile(path: string): MemoryOpenFile {
    const p = posix.resolve(path);
    const node = this.lookup(p, 'open');
    if ((node.mode & S_IFDIR) === S_IFDIR) throw SysError.fromCode('EISDIR', 'open', p);
    return node;
  }

  /** write(2) of the whole contents at offset 0 of an open file. */
  writeData(file: MemoryOpenFile, data: Uint8Array): void {
    const node = file as Node;
    const old = node.data ?? Buffer.alloc(node.size);
    const next = Buffer.from(data);
    node.data = old.length > next.length ? Buffer.concat([next, old.subarray(next.length)]) : next;
    node.size = node.data.length;
    node.mtimeMs = Date.now();
  }

  /** write(2) on an O_APPEND file. */
  appendData(file: MemoryOpenFile, data: Uint8Array): void {
    const node = file as Node;
    node.data = Buffer.concat([node.data ?? Buffer.alloc(node.size), data]);
    node.size = node.data.length;
    node.mtimeMs = Date.now();
  }

  /** flock(2) twin: the owner token of each locked path. */
  readonly locks = new Map<string, { pid: number; token: object }>();

  /** rename(2) of a file within the tree; a directory in the way fails with EISDIR. */
  rename(from: string, to: string): void {
    const src = posix.resolve(from);
    const dst = posix.resolve(to);
    const node = this.lookup(src, 'rename');
    const target = this.nodes.get(dst);
    if (target && (target.mode & S_IFDIR) === S_IFDIR) throw SysError.fromCode('EISDIR', 'rename', src);
    this.nodes.delete(src);
    this.nodes.set(dst, node);
  }

  /** A regular file's contents (what was written; zeros for files added by size only). */
  readFile(path: string): Buffer {
    const node = this.lookup(posix.resolve(path), 'open');
    if ((node.mode & S_IFDIR) === S_IFDIR) throw SysError.fromCode('EISDIR', 'read', path);
    return Buffer.from(node.data ?? Buffer.alloc(node.size));
  }

  /** Names directly inside a directory, sorted. */
  list(dir: string): string[] {
    const d = posix.resolve(dir);
    return [...this.nodes.keys()].filter((p) => p !== d && posix.dirname(p) === d).map((p) => posix.basename(p)).sort();
  }

  /** Names of the block devices directly under /dev, like /sys/block lists them. */
  blockDeviceNames(): string[] {
    return [...this.nodes.entries()]
      .filter(([p, n]) => n.device && posix.dirname(p) === '/dev')
      .map(([p]) => posix.basename(p))
      .sort();
  }

  private add(path: string, node: Omit<Node, 'ino' | 'mtimeMs'>): this {
    const p = posix.resolve(path);
    for (let d = posix.dirname(p); !this.nodes.has(d); d = posix.dirname(d)) {
      this.nodes.set(d, { mode: S_IFDIR | 0o755, ino: this.nextIno++, size: 4096, mtimeMs: Date.now() });
    }
    this.nodes.set(p, { ...node, ino: this.nextIno++, mtimeMs: Date.now() });
    return this;
  }

  private lookup(p: string, syscall: string): Node {
    for (let d = posix.dirname(p); d !== '/'; d = posix.dirname(d)) {
      const parent = this.nodes.get(d);
      if (parent && (parent.mode & S_IFDIR) !== S_IFDIR) throw SysError.fromCode('ENOTDIR', syscall, p);
    }
    const node = this.nodes.get(p);
    if (!node) throw SysError.fromCode('ENOENT', syscall, p);
    return node;
  }

  private async applyFaults(p: string, syscall: string): Promise<void> {
    for (const f of this.faults) {
      if (f.kind === 'delay' && covers(f.prefix, p)) await new Promise((r) => setTimeout(r, f.ms));
    }
    for (;;) {
      const hang = this.faults.find((f) => f.kind === 'hang' && appliesTo(f, syscall) && covers(f.prefix, p));
      if (!hang || hang.kind !== 'hang') break;
      await hang.released;
    }
    const fail = this.faults.find((f) => f.kind === 'fail' && appliesTo(f, syscall) && covers(f.prefix, p));
    if (fail && fail.kind === 'fail') throw SysError.fromCode(fail.code, syscall, p);
  }
}
