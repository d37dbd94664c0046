// DurableFiles over the addon: writeFileDurable (native/durable_write.cc: the temp file, write,
// fsync, rename and directory fsync) and appendFileDurable (native/durable_append.cc: write and
// fdatasync) run on a native thread with a time limit, so a stalled disk holds that thread,
// never the event loop; lockFileExclusive (native/file_lock.cc) is an flock(2). This file picks
// the default key (the mount point of the file) and maps native errors to the typed ones.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';

import { mapNativeError, SysError } from '../errors.js';
import type { DurableAppendOptions, DurableFiles, DurableWriteOptions, FileLock } from '../platform.js';
import { loadNativeAddon } from './addon-loader.js';

function toBuffer(data: Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export class LinuxDurableFiles implements DurableFiles {
  private readonly addon = loadNativeAddon();

  /** `keyFor`: the probe key of a path (LinuxTimedStat.keyFor: its mount point). */
  constructor(private readonly mountKeyFor: (path: string) => string) {}

  async writeAtomic(path: string, data: Uint8Array | string, options: DurableWriteOptions): Promise<void> {
    const key = options.key ?? this.keyFor(path);
    try {
      await this.addon.writeFileDurable(path, toBuffer(data), options.mode, options.timeoutMs, key);
    } catch (err) {
      throw mapNativeError(err);
    }
  }

  async append(path: string, data: Uint8Array | string, options: DurableAppendOptions): Promise<void> {
    const key = options.key ?? this.keyFor(path);
    try {
      await this.addon.appendFileDurable(path, toBuffer(data), options.timeoutMs, key);
    } catch (err) {
      throw mapNativeError(err);
    }
  }

  tryLockExclusive(path: string): FileLock | { heldByPid: number | undefined } {
    let fd: number;
    try {
      fd = this.addon.lockFileExclusive(path);
    } catch (err) {
      const mapped = mapNativeError(err);
      if (mapped instanceof SysError && (mapped.code === 'EWOULDBLOCK' || mapped.code === 'EAGAIN')) return { heldByPid: holderPid(path) };
      throw mapped;
    }
    let held = true;
    return {
      path,
      release: () => {
        if (!held) return;
        held = false;
        this.addon.unlockFile(fd);
      },
    };
  }

  keyFor(path: string): string {
    return this.mountKeyFor(posix.dirname(posix.resolve(path)));
  }

  stuck(key: string): number {
    return this.addon.probeCounters().parkedByKey[key] ?? 0;
  }
}

/** The pid the lock's holder wrote into the lock file (read only to name it in a refusal). */
function holderPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
