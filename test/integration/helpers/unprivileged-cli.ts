// Test helper: run the vigil CLI as an unprivileged user (uid/gid 65534) from any checkout. The
// checkout may sit under a directory only root can enter (a fresh clone in /root/src/vigil, mode
// 0700), where that user cannot load dist/ or node_modules/ — nor node itself when it lives in
// the checkout (CI's second Node). So the CLI is bundled into one file in a world-readable temp
// directory, and node is copied there too when others cannot reach the running one.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { repoRoot } from './core-build.js';

export interface UnprivilegedCli {
  /** The node binary uid 65534 can execute. */
  node: string;
  /** The bundled CLI (dist/src/cli/main.js and its packages) uid 65534 can read. */
  cli: string;
  /** Command prefix that drops to uid/gid 65534 with no supplementary groups. */
  wrapper: string[];
  dispose(): void;
}

/** True when every directory above `file` is searchable by others and the file is executable by them. */
function reachableByOthers(file: string): boolean {
  let p = path.resolve(file);
  if ((fs.statSync(p).mode & 0o001) === 0) return false;
  while (p !== path.dirname(p)) {
    p = path.dirname(p);
    if ((fs.statSync(p).mode & 0o001) === 0) return false;
  }
  return true;
}

/** Prepare the bundle (needs dist/ built). Call dispose() to remove the temp directory. */
export function prepareUnprivilegedCli(): UnprivilegedCli {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-cli-'));
  fs.chmodSync(dir, 0o755);
  const cli = path.join(dir, 'vigil.mjs');
  buildSync({
    entryPoints: [path.join(repoRoot, 'dist/src/cli/main.js')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: cli,
    // commander and friends are CommonJS and call require() for node's own modules.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'error',
  });
  fs.chmodSync(cli, 0o644);
  let node = fs.realpathSync(process.execPath);
  if (!reachableByOthers(node)) {
    const copy = path.join(dir, 'node');
    fs.copyFileSync(node, copy);
    fs.chmodSync(copy, 0o755);
    node = copy;
  }
  return {
    node,
    cli,
    wrapper: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
    dispose: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
