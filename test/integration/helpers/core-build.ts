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

/** Compile with tsc if any of `outputs` (paths under dist/) is missing or older than the sources. */
export function ensureBuilt(outputs: string[]): void {
  const srcTime = newestMtime(path.join(repoRoot, 'src'));
  const stale = outputs.some((o) => {
    const p = path.join(repoRoot, o);
    return !fs.existsSync(p) || fs.statSync(p).mtimeMs < srcTime;
  });
  if (!stale) return;
  // Type errors elsewhere do not stop tsc from emitting; the check below is what matters.
  spawnSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
    cwd: repoRoot,
    stdio: 'ignore',
  });
  for (const o of outputs) {
    if (!fs.existsSync(path.join(repoRoot, o))) throw new Error(`build did not produce ${o}`);
  }
}
