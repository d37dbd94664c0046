// Test helper: the memory platform for unit tests whose LCD is reopened from its directory.
// Lcd.open reads lcd.json with node's fs at start-up (it is synchronous and runs once); all
// later writes go through the platform's DurableFiles. So that a reopen sees what the memory
// platform made durable, each write that succeeded is also copied to the real file. Nothing
// here needs the native addon or waits for fsync.
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
  const files: DurableFiles = {
    keyFor: (p) => mem.keyFor(p),
    stuck: (k) => mem.stuck(k),
    writeAtomic: async (path, data, options) => {
      await mem.writeAtomic(path, data, options);
      fs.writeFileSync(path, data, { mode: options.mode });
    },
    append: async (path, data, options) => {
      await mem.append(path, data, options);
      fs.appendFileSync(path, data);
    },
    tryLockExclusive: (path) => mem.tryLockExclusive(path),
  };
  return { memory: platform, platform: { ...platform, durableFiles: files }, files };
}
