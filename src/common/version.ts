// The version of this Vigil, read from the package.json that ships with the code (next to src/
// when run by tsx, next to dist/src/ when built).
import { readFileSync } from 'node:fs';

export function vigilVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vigil' && pkg.version) return pkg.version;
    } catch {
      // Not at this level; try the next one up.
    }
  }
  return 'unknown';
}
