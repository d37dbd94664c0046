// Bundles vigild, its NBD server thread and the vigil CLI into one file each, in place of tsc's
// output (dist/src/daemon/main.js, dist/src/replication/nbd/server-thread-worker.js,
// dist/src/cli/main.js). Run by `npm run build:ts` after tsc, so the tests, the demo and the
// Debian package all run the bundles.
//
// Why: vigild's start-up is the time a restarted node's heartbeats are silent. Unbundled it loads
// about 430 files (our modules, zod, pino, prom-client); Node spends most of its start-up reading,
// resolving and compiling them. One file starts in about half the time (500 against 850 ms on the
// development machine; 24 s in the emulated test VMs). The CLI is run by scripts and by
// administrators many times a minute: bundled it starts in 0.25 s against 0.41 s on the
// development machine. esbuild is the bundler tsx already uses.
//
// Not bundled: `serialport` (it finds its native binding relative to its own files; imported only
// when a serial path opens) and the addon (loaded by path, src/platform/linux/addon-loader.ts).
// Every bundle sits at the depth of the file it replaces (dist/src/<dir>/main.js), so the paths the
// code finds from its own location (package.json, the addon, dist/src/daemon) stay right.
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

// The NBD server thread's file, relative to a bundle in dist/src/<dir>/ (src/replication/nbd/server-thread.ts).
const withWorker = { define: { VIGIL_NBD_WORKER_URL: JSON.stringify('../replication/nbd/server-thread-worker.js') } };
for (const [file, extra] of [
  [dist('src/daemon/main.js'), withWorker],
  [dist('src/cli/main.js'), withWorker],
  [dist('src/replication/nbd/server-thread-worker.js'), {}],
]) {
  if (needsBundling(file)) await build({ ...common, entryPoints: [file], outfile: file, ...extra });
}
