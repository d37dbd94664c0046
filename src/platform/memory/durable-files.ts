// DurableFiles in memory for unit tests: the same step sequence as native/durable_write.cc
// (open a temp file of the write's own with O_EXCL, write, fsync, close, rename, open + fsync
// the directory) and native/durable_append.cc (open, write, fdatasync, close), each step a
// MemoryKernel syscall so its faults apply — kernel.hang(dir) holds a write before its commit
// point, kernel.hang(dir, 'rename') holds it just after (commitStarted), kernel.failWith(dir,
// 'EIO', 'fsync') fails one step — and the same commit-point rules against the deadline. Writes
// go through the open file, as through an fd, so a late write lands where the real one would.
// Locks are the kernel's flock twin (MemoryKernel.locks).
import { posix } from 'node:path';

import { SysError } from '../errors.js';
import type { DurableAppendOptions, DurableFiles, DurableWriteOptions, FileLock } from '../platform.js';
import { mountPointOf } from '../mount-key.js';
import type { MemoryKernel, MemoryOpenFile } from './kernel.js';
import type { MemoryProbeRunner } from './probe-runner.js';

/** The pid in temp-file names, as the native writer uses getpid(). */
const PID = process.pid;
/** The native writer's per-process temp-file sequence. */
let nextTempSequence = 0;

class MemoryWriteJob {
  private phase: 'writing' | 'committing' | 'abandoned' = 'writing';
  step = 'open';
  private readonly dir: string;
  private readonly tmpPrefix: string;
  private tmp = '';

  constructor(
    private readonly kernel: MemoryKernel,
    private readonly path: string,
    private readonly data: Buffer,
    private readonly mode: number,
  ) {
    this.dir = posix.dirname(path);
    this.tmpPrefix = posix.join(this.dir, `.tmp-${posix.basename(path)}.${PID}.`);
  }

  /** The deadline's side of the compare-exchange on the phase. */
  onTimeout(): { commitStarted: boolean; note: string } {
    if (this.phase === 'writing') this.phase = 'abandoned';
    const commitStarted = this.phase === 'committing';
    // The same words as native/durable_write.cc, so logs read alike in tests and production.
    const note = commitStarted
      ? 'the rename had started: the new file is or will be in place, its durability is not confirmed'
      : 'abandoned before the rename: the target is unchanged and the temp file is removed when the kernel answers';
    return { commitStarted, note };
  }

  async run(): Promise<void> {
    if (!(await this.writeTemp())) return;
    if (this.phase !== 'writing') {
      // The deadline won: nothing may change under the target name.
      this.removeTemp();
      return;
    }
    this.phase = 'committing';
    try {
      await this.enter('rename', this.tmp);
      this.kernel.rename(this.tmp, this.path);
    } catch (err) {
      this.removeTemp();
      throw err;
    }
    try {
      await this.enter('open', this.dir);
      await this.enter('fsync', this.dir);
      await this.enter('close', this.dir);
    } catch (err) {
      if (err instanceof SysError) err.commitStarted = true;
      throw err;
    }
  }

  private async writeTemp(): Promise<boolean> {
    this.tmp = `${this.tmpPrefix}${nextTempSequence++}`;
    await this.enter('open', this.tmp);
    let file: MemoryOpenFile | undefined;
    for (let attempt = 0; !file; attempt++) {
      try {
        file = this.kernel.createFile(this.tmp, this.mode, { exclusive: true });
      } catch (err) {
        if (!(err instanceof SysError && err.code === 'EEXIST') || attempt >= 999) throw err;
        this.tmp = `${this.tmpPrefix}${nextTempSequence++}`;
      }
    }
    try {
      for (const name of ['write', 'fsync', 'close']) {
        if (this.phase === 'abandoned') {
          this.removeTemp();
          return false;
        }
        await this.enter(name, this.tmp);
        if (name === 'write') this.kernel.writeData(file, this.data);
      }
    } catch (err) {
      this.removeTemp();
      throw err;
    }
    return true;
  }

  private async enter(name: string, path: string): Promise<void> {
    this.step = name;
    await this.kernel.syscall(name, path);
  }

  private removeTemp(): void {
    this.step = 'unlink';
    this.kernel.remove(this.tmp);
  }
}

class MemoryAppendJob {
  private phase: 'writing' | 'committing' | 'abandoned' = 'writing';
  step = 'open';

  constructor(
    private readonly kernel: MemoryKernel,
    private readonly path: string,
    private readonly data: Buffer,
  ) {}

  onTimeout(): { commitStarted: boolean; note: string } {
    if (this.phase === 'writing') this.phase = 'abandoned';
    const commitStarted = this.phase === 'committing';
    const note = commitStarted
      ? 'the append had started: the record may be in the file, whole or cut short, its durability is not confirmed'
      : 'abandoned before the append: the file is unchanged and nothing is appended when the kernel answers';
    return { commitStarted, note };
  }

  async run(): Promise<void> {
    this.step = 'open';
    await this.kernel.syscall('open', this.path);
    const file = this.kernel.openFile(this.path);
    if (this.phase !== 'writing') return; // the deadline won: nothing may be appended
    this.phase = 'committing';
    try {
      for (const name of ['write', 'fdatasync', 'close']) {
        this.step = name;
        await this.kernel.syscall(name, this.path);
        if (name === 'write') this.kernel.appendData(file, this.data);
      }
    } catch (err) {
      if (err instanceof SysError) err.commitStarted = true;
      throw err;
    }
  }
}

export class MemoryDurableFiles implements DurableFiles {
  constructor(
    private readonly kernel: MemoryKernel,
    private readonly runner: MemoryProbeRunner,
  ) {}

  writeAtomic(path: string, data: Uint8Array | string, options: DurableWriteOptions): Promise<void> {
    if (typeof path !== 'string' || path.length === 0 || path.includes('\0') || path.endsWith('/')) {
      return Promise.reject(new TypeError('writeFileDurable: path must name a file, without NUL bytes'));
    }
    const { mode } = options;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      return Promise.reject(new RangeError('writeFileDurable: mode must be an integer from 0 to 0o7777'));
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    const job = new MemoryWriteJob(this.kernel, posix.resolve(path), bytes, mode);
    return this.runner.run('open', path, options.key ?? this.keyFor(path), options.timeoutMs, () => job.run(), {
      syscall: () => job.step,
      onTimeout: () => job.onTimeout(),
    });
  }

  append(path: string, data: Uint8Array | string, options: DurableAppendOptions): Promise<void> {
    if (typeof path !== 'string' || path.length === 0 || path.includes('\0') || path.endsWith('/')) {
      return Promise.reject(new TypeError('appendFileDurable: path must name a file, without NUL bytes'));
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    const job = new MemoryAppendJob(this.kernel, posix.resolve(path), bytes);
    return this.runner.run('open', path, options.key ?? this.keyFor(path), options.timeoutMs, () => job.run(), {
      syscall: () => job.step,
      onTimeout: () => job.onTimeout(),
    });
  }

  tryLockExclusive(path: string): FileLock | { heldByPid: number | undefined } {
    const p = posix.resolve(path);
    const holder = this.kernel.locks.get(p);
    if (holder) return { heldByPid: holder.pid };
    this.kernel.writeData(this.kernel.createFile(p, 0o600), Buffer.from(`${PID}\n`));
    const token = {};
    this.kernel.locks.set(p, { pid: PID, token });
    return {
      path: p,
      release: () => {
        if (this.kernel.locks.get(p)?.token === token) this.kernel.locks.delete(p);
      },
    };
  }

  keyFor(path: string): string {
    return mountPointOf(posix.dirname(posix.resolve(path)), this.kernel.mounts);
  }

  stuck(key: string): number {
    return this.runner.counters().parkedByKey[key] ?? 0;
  }
}
