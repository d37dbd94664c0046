// Test helper: make sure dist/ holds a compiled copy of the sources before a test spawns real
// processes from it (npm test builds first; a single `npx vitest run file` may not have).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** Hold a directory lock so that test files running in parallel do not run tsc at the same time. */
function withBuildLock<T>(fn: () => T): T {
  const lock = path.join(repoRoot, 'dist', '.test-build.lock');
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock older than two minutes belongs to a test run that died while building.
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 120_000) fs.rmSync(lock, { recursive: true, force: true });
      } catch {
        // removed by its owner meanwhile
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the build lock ${lock}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function isStale(outputs: string[]): boolean {
  const srcTime = newestMtime(path.join(repoRoot, 'src'));
  return outputs.some((o) => {
    const p = path.join(repoRoot, o);
    return !fs.existsSync(p) || fs.statSync(p).mtimeMs < srcTime;
  });
}

/** Compile with tsc if any of `outputs` (paths under dist/) is missing or older than the sources. */
export function ensureBuilt(outputs: string[]): void {
  if (!isStale(outputs)) return;
  withBuildLock(() => {
    if (!isStale(outputs)) return; // another test file built it while we waited
    // Type errors elsewhere do not stop tsc from emitting; the check below is what matters.
    spawnSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
      cwd: repoRoot,
      stdio: 'ignore',
    });
    // Then what `npm run build:ts` does next: vigild as the one-file bundle that ships.
    spawnSync(process.execPath, [path.join(repoRoot, 'scripts/bundle-dist.mjs')], { cwd: repoRoot, stdio: 'ignore' });
  });
  for (const o of outputs) {
    if (!fs.existsSync(path.join(repoRoot, o))) throw new Error(`build did not produce ${o}`);
  }
}
