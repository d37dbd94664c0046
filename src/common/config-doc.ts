// The configuration reference, produced from the schema in config.ts: one row per key (type,
// range, default, meaning), rendered as docs/configuration.md and as the commented example
// file deploy/default/vigil. scripts/gen-config-docs.ts writes both; a unit test fails when
// either differs from what the schema says.
import { z } from 'zod';
import { CONFIG_SCHEMA, DEFAULT_CONFIG_PATH, type ValueDoc } from './config.js';

export interface ConfigKeyDoc {
  key: string;
  type: string;
  range: string;
  /** The default as it would be written in the file; undefined when the key has none. */
  default: string | undefined;
  /** What the default is, in words, when it is not a fixed value (e.g. derived from the host). */
  defaultDoc: string | undefined;
  meaning: string;
}

interface Meta {
  description?: string;
  defaultDoc?: string;
}

type AnySchema = z.core.$ZodType;

/** Reads the rows from the schema; a key without a meaning or a value type is an error naming it. */
export function configReference(): ConfigKeyDoc[] {
  return Object.entries(CONFIG_SCHEMA.shape).map(([key, schema]) => {
    let s = schema as AnySchema;
    const outer = (z.globalRegistry.get(s) ?? {}) as Meta;
    let dflt: string | undefined;
    let defaultDoc = outer.defaultDoc;
    for (;;) {
      const def = s._zod.def as { type: string; innerType?: AnySchema; defaultValue?: unknown };
      if ((def.type === 'default' || def.type === 'prefault') && def.innerType) {
        if (defaultDoc === undefined) dflt = String(def.defaultValue);
        s = def.innerType;
      } else if (def.type === 'optional' && def.innerType) {
        s = def.innerType;
      } else break;
    }
    const value = z.globalRegistry.get(s) as Partial<ValueDoc> | undefined;
    if (!outer.description) throw new Error(`configuration key ${key} has no meaning: add .describe('...') in src/common/config.ts`);
    if (!value?.type || !value.range) throw new Error(`configuration key ${key} has no value type: build it with seconds(), integer(), oneOf() ... in src/common/config.ts`);
    return { key, type: value.type, range: value.range, default: dflt, defaultDoc, meaning: outer.description };
  });
}

const GENERATED = 'Generated from src/common/config.ts by `npm run docs:config`; do not edit by hand.';

function defaultText(d: ConfigKeyDoc): string {
  if (d.defaultDoc) return d.defaultDoc;
  return d.default === undefined ? '(none)' : `\`${d.default}\``;
}

export function renderConfigurationMarkdown(rows = configReference()): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '# Configuration reference',
    '',
    `<!-- ${GENERATED} -->`,
    '',
    `vigild reads \`KEY=VALUE\` lines from \`${DEFAULT_CONFIG_PATH}\` (or the file named by \`--config\` or`,
    '`$VIGIL_CONFIG`): blank lines and `#` comments are ignored, values may be quoted. Every key is',
    'checked before anything starts; vigild refuses to start, naming the key, when a value breaks its',
    'rule, when a key is unknown (with the nearest known key), or when group or others may write the',
    'file. A commented example with every default is [deploy/default/vigil](../deploy/default/vigil).',
    '',
    '| Key | Type | Range | Default | Meaning |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| \`${r.key}\` | ${esc(r.type)} | ${esc(r.range)} | ${esc(defaultText(r))} | ${esc(r.meaning)} |`),
    '',
  ].join('\n');
}

/** Wraps `text` into `# ` comment lines of at most 100 characters. */
function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/)) {
    if (line.length + 1 + word.length > 100 && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

export function renderExampleFile(rows = configReference()): string {
  const out = [
    `# ${DEFAULT_CONFIG_PATH}: configuration of vigild, the Vigil node agent.`,
    `# ${GENERATED}`,
    '#',
    `# Copy to ${DEFAULT_CONFIG_PATH} with mode 0600 (vigild refuses a file that group or others may`,
    '# write) and uncomment what you change. Each commented line shows the default; keys without one',
    '# show the kind of value in <>. The reference is docs/configuration.md.',
  ];
  for (const r of rows) {
    out.push('', ...comment(`${r.meaning} (${r.type}: ${r.range}${r.defaultDoc ? `; default: ${r.defaultDoc}` : ''})`));
    out.push(`#${r.key}=${r.default ?? `<${r.type}>`}`);
  }
  return out.join('\n') + '\n';
}
