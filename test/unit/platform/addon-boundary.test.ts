// The native boundary: one loader whose failure names every place it looked, and no code
// outside src/platform/linux that loads or names the addon.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

import { addonCandidates, loadNativeAddonFrom } from '../../../src/platform/linux/addon-loader.js';

describe('addon loader', () => {
  it('tries build/Release then build/Debug under the package root', () => {
    expect(addonCandidates('/opt/vigil')).toEqual(['/opt/vigil/build/Release/vigil_native.node', '/opt/vigil/build/Debug/vigil_native.node']);
  });

  it('fails with every path it tried and why', () => {
    const root = mkdtempSync(join(tmpdir(), 'vigil-loader-'));
    try {
      mkdirSync(join(root, 'build', 'Debug'), { recursive: true });
      writeFileSync(join(root, 'build', 'Debug', 'vigil_native.node'), 'not a shared object');
      const [release, debug] = addonCandidates(root);
      expect(() => loadNativeAddonFrom(addonCandidates(root))).toThrow(
        new RegExp(`Tried:\\n  ${release}: not found\\n  ${debug}: .*(invalid ELF header|too short|file)`),
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('native boundary', () => {
  it('only src/platform/linux refers to the addon or its loader', () => {
    const src = join(import.meta.dirname, '..', '..', '..', 'src');
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.(ts|js|mjs|cjs)$/.test(name) && /vigil_native|addon-loader/.test(readFileSync(p, 'utf8'))) offenders.push(relative(src, p));
      }
    };
    walk(src);
    expect(offenders.length).toBeGreaterThan(0);
    expect(offenders.filter((p) => !p.startsWith('platform/linux/'))).toEqual([]);
  });
});
