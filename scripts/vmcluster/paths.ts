// Where the VM cluster harness keeps its cache and per-cluster run directories, and the marker
// string every qemu it starts carries in its command line (so `cleanup` can find strays).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const scriptDir = path.dirname(fileURLToPath(import.meta.url));
/** The checkout: the nearest folder up with a package.json (from dist/scripts/vmcluster too). */
export const repoRoot = ((): string => {
  for (let dir = scriptDir; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no package.json above ${scriptDir}`);
})();
export const cacheRoot = process.env.VMCLUSTER_CACHE ?? path.join(repoRoot, '.cache', 'vmcluster');
export const runRoot = path.join(cacheRoot, 'run');
/** The guest sources: always the checkout's, also when this module runs compiled from dist/. */
export const guestDir = path.join(repoRoot, 'scripts', 'vmcluster', 'guest');

/** Appears in every qemu command line we start (as `-name vigil-vmc:<cluster>:<node>`). */
export const qemuMarker = 'vigil-vmc';
