// Test helper: the memory platform for unit tests whose LCD is reopened from its directory.
// Lcd.open reads and repairs lcd.json with node's fs at start-up (it is synchronous and runs
// once); all later writes go through the platform's DurableFiles. The real directory is the
// truth: before a write the memory kernel takes the target's current real contents (so an
// append lands behind what Lcd.open or the test wrote, and a file removed on the real disk is
// missing in memory too), the write runs through the memory kernel (its faults apply), and a
// write that succeeded is copied back to the real file so that a reopen sees it. Nothing here
// needs the native addon or waits for fsync.
import * as fs from 'node:fs';
import { createMemoryPlatform, type MemoryPlatform } from '../../src/platform/memory/index.js';
import type { DurableFiles, Platform } from '../../src/platform/platform.js';

export interface MemoryDisk {
  /** The memory platform itself, with its kernel and fault hooks. */
  memory: MemoryPlatform;
  /** The memory platform with `files` as its DurableFiles. */
  platform: Platform;
  /** The memory platform's DurableFiles, mirrored into the real directories on success. */
  files: DurableFiles;
}

/** A memory platform whose kernel holds `dirs`, with durable writes mirrored to the real files. */
export function memoryDisk(...dirs: string[]): MemoryDisk {
  const platform = createMemoryPlatform();
  for (const d of dirs) platform.kernel.addDirectory(d);
  const mem = platform.durableFiles;
  const { kernel } = platform;
  /** The memory kernel's copy of `path` := the real file (or no file, like the real disk). */
  const fromRealDisk = (path: string) => {
    let real: Buffer;
    try {
      real = fs.readFileSync(path);
    } catch {
      kernel.remove(path);
      return;
    }
    kernel.writeData(kernel.createFile(path, fs.statSync(path).mode & 0o7777), real);
  };
  const files: DurableFiles = {
    keyFor: (p) => mem.keyFor(p),
    stuck: (k) => mem.stuck(k),
    writeAtomic: async (path, data, options) => {
      fromRealDisk(path);
      await mem.writeAtomic(path, data, options);
      fs.writeFileSync(path, data, { mode: options.mode });
      fs.chmodSync(path, options.mode);
    },
    append: async (path, data, options) => {
      fromRealDisk(path);
      await mem.append(path, data, options);
      fs.appendFileSync(path, data);
    },
    tryLockExclusive: (path) => mem.tryLockExclusive(path),
  };
  return { memory: platform, platform: { ...platform, durableFiles: files }, files };
}
