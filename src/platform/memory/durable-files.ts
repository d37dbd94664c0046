// DurableFiles in memory for unit tests: the same step sequence as native/durable_write.cc
// (open temp, write, fsync, close, rename, open + fsync the directory), each step a MemoryKernel
// syscall so its faults apply — kernel.hang(dir) holds a write before its commit point,
// kernel.hang(dir, 'rename') holds it just after (commitStarted), kernel.failWith(dir, 'EIO',
// 'fsync') fails one step — and the same commit-point rule against the deadline.
import { posix } from 'node:path';

import { SysError } from '../errors.js';
import type { DurableFiles, DurableWriteOptions } from '../platform.js';
import { mountPointOf } from '../mount-key.js';
import type { MemoryKernel } from './kernel.js';
import type { MemoryProbeRunner } from './probe-runner.js';

/** The pid in temp-file names, as the native writer uses getpid(). */
const PID = process.pid;

class MemoryWriteJob {
  private phase: 'writing' | 'committing' | 'abandoned' = 'writing';
  step = 'open';
  private readonly dir: string;
  private readonly tmp: string;

  constructor(
    private readonly kernel: MemoryKernel,
    private readonly path: string,
    private readonly data: Buffer,
    private readonly mode: number,
  ) {
    this.dir = posix.dirname(path);
    this.tmp = posix.join(this.dir, `.tmp-${posix.basename(path)}.${PID}`);
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
    await this.enter('open', this.tmp);
    this.kernel.createFile(this.tmp, this.mode);
    try {
      for (const name of ['write', 'fsync', 'close']) {
        if (this.phase === 'abandoned') {
          this.removeTemp();
          return false;
        }
        await this.enter(name, this.tmp);
        if (name === 'write') this.kernel.writeData(this.tmp, this.data);
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

  keyFor(path: string): string {
    return mountPointOf(posix.dirname(posix.resolve(path)), this.kernel.mounts);
  }

  stuck(key: string): number {
    return this.runner.counters().parkedByKey[key] ?? 0;
  }
}
