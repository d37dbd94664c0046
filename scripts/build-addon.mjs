// Builds the native addon with node-gyp against the headers of the Node binary that runs
// this script (never downloading headers), so the same checkout builds for Node 20 and 24.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const nodedir = dirname(dirname(process.execPath));
const header = join(nodedir, 'include', 'node', 'node_api.h');
if (!existsSync(header)) {
  console.error(`build-addon: Node headers not found at ${header}; install the Node development headers for ${process.execPath}`);
  process.exit(1);
}
const require = createRequire(import.meta.url);
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const jobs = process.env.JOBS ?? 'max';
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, `--jobs=${jobs}`], { stdio: 'inherit' });
process.exit(r.status ?? 1);
