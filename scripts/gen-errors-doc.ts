// Writes docs/errors.md from the one error table (src/common/error-table.ts), rendered by
// scripts/lib/error-reference.ts. `--check` writes nothing and exits 1 when
// the file is out of date.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderErrorReference } from './lib/error-reference.js';

const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs/errors.md');
const want = renderErrorReference();
const have = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
if (have !== want) {
  if (process.argv.includes('--check')) {
    process.stderr.write('docs/errors.md is out of date: run npm run docs:errors\n');
    process.exitCode = 1;
  } else {
    fs.writeFileSync(file, want);
    process.stdout.write('wrote docs/errors.md\n');
  }
}
