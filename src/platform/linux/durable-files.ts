// DurableFiles over the addon's writeFileDurable (native/durable_write.cc): the temp file,
// write, fsync, rename and directory fsync run on a native thread with a time limit, so a
// stalled disk holds that thread, never the event loop. This file picks the default key (the
// mount point of the file) and maps native errors to the typed ones.
import { posix } from 'node:path';

import { mapNativeError } from '../errors.js';
import type { DurableFiles, DurableWriteOptions } from '../platform.js';
import { loadNativeAddon } from './addon-loader.js';

export class LinuxDurableFiles implements DurableFiles {
  private readonly addon = loadNativeAddon();

  /** `keyFor`: the probe key of a path (LinuxTimedStat.keyFor: its mount point). */
  constructor(private readonly mountKeyFor: (path: string) => string) {}

  async writeAtomic(path: string, data: Uint8Array | string, options: DurableWriteOptions): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const key = options.key ?? this.keyFor(path);
    try {
      await this.addon.writeFileDurable(path, bytes, options.mode, options.timeoutMs, key);
    } catch (err) {
      throw mapNativeError(err);
    }
  }

  keyFor(path: string): string {
    return this.mountKeyFor(posix.dirname(posix.resolve(path)));
  }

  stuck(key: string): number {
    return this.addon.probeCounters().parkedByKey[key] ?? 0;
  }
}
