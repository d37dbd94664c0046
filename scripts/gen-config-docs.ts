// Writes docs/configuration.md and deploy/default/vigil from the configuration schema
// (src/common/config.ts). `--check` writes nothing and exits 1 when either file is out of date.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderConfigurationMarkdown, renderExampleFile } from '../src/common/config-doc.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const GENERATED_CONFIG_FILES: Record<string, () => string> = {
  'docs/configuration.md': renderConfigurationMarkdown,
  'deploy/default/vigil': renderExampleFile,
};

const check = process.argv.includes('--check');
let stale = 0;
for (const [rel, render] of Object.entries(GENERATED_CONFIG_FILES)) {
  const file = path.join(root, rel);
  const want = render();
  const have = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  if (have === want) continue;
  if (check) {
    process.stderr.write(`${rel} is out of date: run npm run docs:config\n`);
    stale++;
  } else {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, want);
    process.stdout.write(`wrote ${rel}\n`);
  }
}
process.exitCode = stale ? 1 : 0;
