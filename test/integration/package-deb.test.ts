// `npm run package` on this host: the .deb has the layout, modes and conffile the install
// relies on, its Node 24 runtime loads the addon built for it and runs the agent and CLI from
// the extracted tree, the maintainer scripts never start or enable vigild, and lintian reports
// no error (its warnings are fixed or overridden with reasons in scripts/package/debian/), and
// dpkg -i/-r/-P in a private root leave what they should.
// Installing it and running a cluster from it is test/e2e/package.test.ts.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from './helpers/core-build.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const haveDpkgDeb = spawnSync('dpkg-deb', ['--version']).status === 0;
const haveLintian = spawnSync('lintian', ['--version']).status === 0;
if (!haveLintian) console.log('package-deb.test: lintian check skipped: needs lintian (apt-get install lintian)');

let out: string;
let deb: string;
let tree: string;

describe.skipIf(!haveDpkgDeb)('npm run package (needs dpkg-deb)', () => {
  beforeAll(() => {
    ensureBuilt(['dist/src/daemon/main.js', 'dist/src/cli/main.js']);
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-deb-'));
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/package/build-deb.mjs'), '--out', out, '--no-compile'], { cwd: root, encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    deb = path.join(out, `vigil_${pkg.version}_amd64.deb`);
    console.log(`package-deb.test: built ${path.basename(deb)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    tree = path.join(out, 'tree');
    expect(spawnSync('dpkg-deb', ['-x', deb, tree]).status).toBe(0);
  }, 600_000);
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('has the programs, unit, conffile, directories, man pages and completion with their modes', () => {
    const listing = spawnSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' }).stdout;
    const mode = (p: string) => new RegExp(`^(\\S+) root/root\\s+\\d+ \\S+ \\S+ \\./${p.replace(/[.]/g, '\\.')}$`, 'm').exec(listing)?.[1];
    expect(mode('usr/sbin/vigil')).toBe('-rwxr-xr-x');
    expect(mode('usr/sbin/vigild')).toBe('-rwxr-xr-x');
    expect(mode('usr/lib/vigil/node/bin/node')).toBe('-rwxr-xr-x');
    expect(mode('lib/systemd/system/vigild.service')).toBe('-rw-r--r--');
    expect(mode('lib/systemd/system/vigil-standby.service')).toBe('-rw-r--r--');
    expect(mode('usr/share/doc/vigil/standby.md')).toBe('-rw-r--r--');
    expect(mode('etc/default/vigil')).toBe('-rw-r--r--');
    expect(mode('usr/lib/tmpfiles.d/vigil.conf')).toBe('-rw-r--r--');
    expect(mode('usr/share/man/man8/vigil.8.gz')).toBe('-rw-r--r--');
    expect(mode('usr/share/man/man8/vigild.8.gz')).toBe('-rw-r--r--');
    expect(mode('usr/share/bash-completion/completions/vigil')).toBe('-rw-r--r--');
    expect(listing).not.toMatch(/node_modules\/(typescript|vitest|esbuild|tsx|node-gyp)\//);
    expect(fs.readFileSync(path.join(tree, 'usr/lib/tmpfiles.d/vigil.conf'), 'utf8')).toMatch(/^d \/var\/lib\/vigil 0700 root root -$/m);
    expect(fs.readFileSync(path.join(tree, 'lib/systemd/system/vigild.service'), 'utf8')).toBe(fs.readFileSync(path.join(root, 'deploy/systemd/vigild.service'), 'utf8'));
    // The standby's unit runs the CLI the package installs, on the package's Node.
    const standby = fs.readFileSync(path.join(tree, 'lib/systemd/system/vigil-standby.service'), 'utf8');
    const [runtime, script] = /^ExecStart=(\S+) (\S+) standby /m.exec(standby)!.slice(1) as [string, string];
    for (const p of [runtime, script]) expect(fs.existsSync(path.join(tree, p)), p).toBe(true);
    expect(fs.readFileSync(path.join(tree, 'etc/default/vigil'), 'utf8')).toBe(fs.readFileSync(path.join(root, 'deploy/default/vigil'), 'utf8'));
    const control = spawnSync('dpkg-deb', ['-f', deb], { encoding: 'utf8' }).stdout;
    expect(control).toMatch(/^Architecture: amd64$/m);
    const ctl = path.join(out, 'control');
    expect(spawnSync('dpkg-deb', ['-e', deb, ctl]).status).toBe(0);
    expect(fs.readFileSync(path.join(ctl, 'conffiles'), 'utf8')).toBe('/etc/default/vigil\n');
    // The maintainer scripts never start or enable the agent.
    for (const s of ['postinst', 'prerm', 'postrm']) {
      const text = fs.readFileSync(path.join(ctl, s), 'utf8').split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
      expect(text, s).not.toMatch(/\b(start|enable|restart)\b.*vigild|deb-systemd-helper enable|systemctl .*(start|enable)/);
    }
  });

  it('its Node 24 runs the agent and the CLI from the extracted tree, with the addon built for it', () => {
    const node = path.join(tree, 'usr/lib/vigil/node/bin/node');
    expect(spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout).toMatch(/^v24\./);
    const app = path.join(tree, 'usr/lib/vigil/app');
    const load = spawnSync(node, ['-e', `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(path.join(app, 'build/Release/vigil_native.node'))}); console.log(Object.keys(m.exports).length)`], { encoding: 'utf8' });
    expect(load.stderr).toBe('');
    expect(Number(load.stdout)).toBeGreaterThan(0);
    const cli = spawnSync(node, [path.join(app, 'dist/src/cli/main.js'), '--version'], { encoding: 'utf8' });
    expect(cli.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version);
    const conf = path.join(out, 'vigil.conf');
    fs.writeFileSync(conf, 'LCMHBEATTIME=soon\n', { mode: 0o600 });
    const check = spawnSync(node, [path.join(app, 'dist/src/daemon/main.js'), '--config', conf, '--check-config'], { encoding: 'utf8' });
    expect([check.status, check.stderr]).toEqual([78, expect.stringMatching(/LCMHBEATTIME/)]);
  });

  it('dpkg -i, -r and -P in a private root: -r keeps the configuration and the state, -P removes them', () => {
    // dpkg --root with chrootless maintainer scripts (they honour $DPKG_ROOT): nothing of this
    // host is touched. The VM test installs it for real.
    const r = path.join(out, 'root');
    fs.mkdirSync(path.join(r, 'var/lib/dpkg/info'), { recursive: true });
    fs.mkdirSync(path.join(r, 'var/lib/dpkg/updates'), { recursive: true });
    fs.writeFileSync(path.join(r, 'var/lib/dpkg/status'), '');
    const dpkg = (...args: string[]) => {
      const res = spawnSync('dpkg', [`--root=${r}`, '--force-script-chrootless', '--force-depends', ...args], { encoding: 'utf8' });
      expect(res.status, `dpkg ${args.join(' ')}:\n${res.stdout}${res.stderr}`).toBe(0);
    };
    const has = (p: string) => fs.existsSync(path.join(r, p));
    dpkg('-i', deb);
    expect(fs.statSync(path.join(r, 'var/lib/vigil')).mode & 0o7777).toBe(0o700);
    expect(fs.statSync(path.join(r, 'run/vigil')).mode & 0o7777).toBe(0o700);
    expect(has('usr/sbin/vigild')).toBe(true);
    // What a running node leaves: its configuration edits, its key, its database.
    fs.appendFileSync(path.join(r, 'etc/default/vigil'), 'VIGIL_NODE_NAME=node1\n');
    fs.mkdirSync(path.join(r, 'etc/vigil'), { mode: 0o700 });
    fs.writeFileSync(path.join(r, 'etc/vigil/cluster.key'), 'key\n', { mode: 0o600 });
    fs.writeFileSync(path.join(r, 'var/lib/vigil/lcd.json'), '{}\n');
    dpkg('-r', 'vigil');
    expect(has('usr/sbin/vigild')).toBe(false);
    expect(has('usr/lib/vigil')).toBe(false);
    expect(fs.readFileSync(path.join(r, 'etc/default/vigil'), 'utf8')).toMatch(/VIGIL_NODE_NAME=node1/);
    expect(has('etc/vigil/cluster.key')).toBe(true);
    expect(has('var/lib/vigil/lcd.json')).toBe(true);
    dpkg('-P', 'vigil');
    for (const p of ['etc/default/vigil', 'etc/vigil', 'var/lib/vigil', 'run/vigil']) expect(has(p), p).toBe(false);
  });

  it.skipIf(!haveLintian)('lintian reports no error and no warning that is not overridden (needs lintian)', () => {
    const r = spawnSync('lintian', ['--tag-display-limit', '0', deb], { encoding: 'utf8' });
    const tags = r.stdout.split('\n').filter((l) => /^[EW]: /.test(l));
    expect(tags).toEqual([]);
  }, 600_000);
});
