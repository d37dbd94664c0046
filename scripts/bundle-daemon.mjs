// Bundles vigild and its NBD server thread into one file each, in place of tsc's output
// (dist/src/daemon/main.js, dist/src/replication/nbd/server-thread-worker.js). Run by
// `npm run build:ts` after tsc, so the tests, the demo and the Debian package all run the bundle.
//
// Why: vigild's start-up is the time a restarted node's heartbeats are silent. Unbundled it loads
// about 430 files (our modules, zod, pino, prom-client); Node spends most of its start-up reading,
// resolving and compiling them. One file starts in about half the time (500 against 850 ms on the
// development machine; 24 s in the emulated test VMs). esbuild is the bundler tsx already uses.
//
// Not bundled: `serialport` (it finds its native binding relative to its own files; imported only
// when a serial path opens) and the addon (loaded by path, src/platform/linux/addon-loader.ts).
// The CLI stays unbundled: it loads about 20 files and imports each local command on demand.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (rel) => path.join(root, 'dist', rel);

const BANNER = "import { createRequire as vigilCreateRequire } from 'node:module'; const require = vigilCreateRequire(import.meta.url);";

/** tsc's output, not a bundle already (run twice without tsc between, there is nothing to do). */
function needsBundling(file) {
  return !fs.readFileSync(file, 'utf8').slice(0, 400).includes(BANNER);
}

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  allowOverwrite: true,
  external: ['serialport'],
  // CommonJS dependencies inside an ES module bundle call require(): give them one.
  banner: { js: BANNER },
  sourcemap: 'linked',
  logLevel: 'warning',
};

const daemon = dist('src/daemon/main.js');
const worker = dist('src/replication/nbd/server-thread-worker.js');
if (needsBundling(daemon)) await build({
  ...common,
  entryPoints: [daemon],
  outfile: daemon,
  // The NBD server thread's file, relative to the bundle (src/replication/nbd/server-thread.ts).
  define: { VIGIL_NBD_WORKER_URL: JSON.stringify('../replication/nbd/server-thread-worker.js') },
});
if (needsBundling(worker)) await build({ ...common, entryPoints: [worker], outfile: worker });
