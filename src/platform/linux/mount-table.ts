// Mounts of this process from /proc/self/mounts (procfs: reading it never touches the mounted
// file systems, so it cannot hang on a dead server).
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

import { parseMounts } from '../mount-key.js';
import type { MountEntry, MountTable } from '../platform.js';

export const PROC_MOUNTS = '/proc/self/mounts';

export class LinuxMountTable implements MountTable {
  readonly path = PROC_MOUNTS;

  async list(): Promise<MountEntry[]> {
    return parseMounts(await readFile(PROC_MOUNTS, 'utf8'));
  }

  /** Synchronous read for the probe path, which needs the key before it starts a thread. */
  listSync(): MountEntry[] {
    return parseMounts(readFileSync(PROC_MOUNTS, 'utf8'));
  }
}
