// Where the VM cluster harness keeps its cache and per-cluster run directories, and the marker
// string every qemu it starts carries in its command line (so `cleanup` can find strays).
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const scriptDir = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(scriptDir, '..', '..');
export const cacheRoot = process.env.VMCLUSTER_CACHE ?? path.join(repoRoot, '.cache', 'vmcluster');
export const runRoot = path.join(cacheRoot, 'run');
export const guestDir = path.join(scriptDir, 'guest');

/** Appears in every qemu command line we start (as `-name vigil-vmc:<cluster>:<node>`). */
export const qemuMarker = 'vigil-vmc';
