// The configuration reference and the example file are what the schema says: they fail here when
// a key is added, removed or changed in src/common/config.ts without `npm run docs:config`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { configReference, renderConfigurationMarkdown, renderExampleFile } from '../../src/common/config-doc.js';
import { buildConfig, KNOWN_CONFIG_KEYS, parseKeyValueText } from '../../src/common/config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');

describe('configuration reference', () => {
  it('docs/configuration.md and deploy/default/vigil are up to date (npm run docs:config)', () => {
    expect(read('docs/configuration.md')).toBe(renderConfigurationMarkdown());
    expect(read('deploy/default/vigil')).toBe(renderExampleFile());
  });

  it('documents every key with a type, a range and a meaning', () => {
    const rows = configReference();
    expect(rows.map((r) => r.key)).toEqual(KNOWN_CONFIG_KEYS);
    for (const r of rows) {
      expect(r.type, r.key).not.toBe('');
      expect(r.range, r.key).not.toBe('');
      expect(r.meaning.length, r.key).toBeGreaterThan(10);
      expect(read('docs/configuration.md')).toContain(`| \`${r.key}\` |`);
    }
  });

  it('shows the real defaults: the example file uncommented is the default configuration', () => {
    const lines = read('deploy/default/vigil')
      .split('\n')
      .filter((l) => /^#[A-Z_]+=[^<]/.test(l))
      .map((l) => l.slice(1));
    const fromExample = buildConfig(parseKeyValueText(lines.join('\n'), 'example')).config;
    const defaults = buildConfig({}).config;
    const { raw: _a, source: _b, ...a } = fromExample;
    const { raw: _c, source: _d, ...b } = defaults;
    expect(a).toEqual(b);
  });
});
