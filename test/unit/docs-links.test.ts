// The documentation stands alone: every relative link in README.md and docs/ points at a file of
// this repository that exists (nothing outside the checkout, nothing missing).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const docs = ['README.md', 'deploy/README.md', 'src/cluster/README.md', ...fs.readdirSync(path.join(root, 'docs')).map((f) => `docs/${f}`)].filter((f) => f.endsWith('.md'));

describe('documentation links', () => {
  it.each(docs)('%s links only to files inside the repository', (doc) => {
    const text = fs.readFileSync(path.join(root, doc), 'utf8');
    const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t) && !t.startsWith('#'));
    for (const t of targets) {
      const resolved = path.resolve(path.dirname(path.join(root, doc)), t.split('#')[0]!);
      expect(resolved.startsWith(root + path.sep), `${doc}: ${t} leaves the repository`).toBe(true);
      expect(fs.existsSync(resolved), `${doc}: ${t} does not exist`).toBe(true);
    }
  });
});
