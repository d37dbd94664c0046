// The KEY=VALUE syntax of /etc/default/vigil, without validation: kept apart from config.ts so
// the CLI can read a key (the admin socket path) without loading the schema library.
import * as fs from 'node:fs';
import { VigilError } from './errors.js';

export const DEFAULT_CONFIG_PATH = '/etc/default/vigil';

/**
 * Parse KEY=VALUE text: blank lines and # comments are ignored, an optional leading `export`
 * is accepted, values may be "double" or 'single' quoted; an unquoted value ends at " #".
 */
export function parseKeyValueText(text: string, source = 'config'): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  lines.forEach((line, idx) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(trimmed);
    if (!m) throw new VigilError(0, `${source}:${idx + 1}: expected KEY=VALUE, got "${trimmed}"`, { source, line: idx + 1 });
    const key = m[1]!;
    let value = m[2]!;
    if (value.startsWith('"') || value.startsWith("'")) {
      const q = value[0]!;
      let end = 1;
      while (end < value.length && value[end] !== q) end += q === '"' && value[end] === '\\' ? 2 : 1;
      if (end >= value.length) end = -1;
      if (end < 0) throw new VigilError(0, `${source}:${idx + 1}: ${key}: unterminated ${q} quote`, { source, key, line: idx + 1 });
      const rest = value.slice(end + 1).trim();
      if (rest !== '' && !rest.startsWith('#')) {
        throw new VigilError(0, `${source}:${idx + 1}: ${key}: unexpected text after the closing quote`, { source, key });
      }
      value = value.slice(1, end);
      if (q === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    } else {
      value = value.replace(/\s+#.*$/, '').trim();
    }
    out[key] = value;
  });
  return out;
}

/** The raw value of `key` in a config file, or undefined if the file or the key is absent. */
export function readConfigValue(file: string, key: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return parseKeyValueText(text, file)[key];
  } catch {
    return undefined;
  }
}
