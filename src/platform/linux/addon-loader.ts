// The one place that loads the native addon. It looks in build/Release then build/Debug under
// the package root (found by walking up from this file, so it works from src/ under tsx and
// from dist/), and when nothing loads it fails with every path it tried and why.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { NativeAddon } from './native-addon.js';

const ADDON_FILE = 'vigil_native.node';

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const name = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name;
      if (name === 'vigil') return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the vigil package root above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The candidate addon paths, in the order they are tried. */
export function addonCandidates(root: string = packageRoot()): string[] {
  return [join(root, 'build', 'Release', ADDON_FILE), join(root, 'build', 'Debug', ADDON_FILE)];
}

/** Loads the first candidate that loads; the error lists every candidate and why it failed. */
export function loadNativeAddonFrom(candidates: readonly string[]): NativeAddon {
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const candidate of candidates) {
    if (!existsSync(candidate)) {
      tried.push(`  ${candidate}: not found`);
      continue;
    }
    try {
      return require(candidate) as NativeAddon;
    } catch (err) {
      tried.push(`  ${candidate}: ${(err as Error).message}`);
    }
  }
  throw new Error(
    `cannot load the Vigil native addon (${ADDON_FILE}); build it with \`node scripts/build-addon.mjs\`. Tried:\n${tried.join('\n')}`,
  );
}

let cached: NativeAddon | undefined;

/** The addon of this checkout, loaded once per process. */
export function loadNativeAddon(): NativeAddon {
  cached ??= loadNativeAddonFrom(addonCandidates());
  return cached;
}
