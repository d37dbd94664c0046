// TimedStat over the addon's statWithTimeout (native/timed_stat.cc): each probe on its own
// native thread, bounded per mount; this file adds the default key (the path's mount point)
// and maps native errors to the typed ones.
import { mountPointOf } from '../mount-key.js';
import { mapNativeError } from '../errors.js';
import type { FileStat, MountEntry, ProbeCounters, ProbeLimits, ProbeOptions, TimedStat } from '../platform.js';
import { loadNativeAddon } from './addon-loader.js';
import type { LinuxMountTable } from './mount-table.js';

/** How long a read of the mount table is reused for picking probe keys. */
const MOUNT_CACHE_MS = 1000;

export class LinuxTimedStat implements TimedStat {
  private readonly addon = loadNativeAddon();
  private mountCache: { at: number; mounts: MountEntry[] } | undefined;

  constructor(private readonly mounts: LinuxMountTable) {}

  async stat(path: string, timeoutMs: number, options: ProbeOptions = {}): Promise<FileStat> {
    const key = options.key ?? this.keyFor(path);
    try {
      return await this.addon.statWithTimeout(path, timeoutMs, key);
    } catch (err) {
      throw mapNativeError(err);
    }
  }

  counters(): ProbeCounters {
    return this.addon.probeCounters();
  }

  configure(limits: Partial<ProbeLimits> = {}): ProbeLimits {
    return this.addon.configureProbes(limits);
  }

  keyFor(path: string): string {
    const now = Date.now();
    if (!this.mountCache || now - this.mountCache.at > MOUNT_CACHE_MS) {
      this.mountCache = { at: now, mounts: this.mounts.listSync() };
    }
    return mountPointOf(path, this.mountCache.mounts);
  }
}
