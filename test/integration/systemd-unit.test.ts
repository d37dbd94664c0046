// The systemd unit under a real systemd: the .deb of `npm run package` is installed in a
// container that boots this host's own systemd (systemd-nspawn -b over a read-only bind of / with
// a tmpfs overlay, --volatile=overlay; private network: only its own loopback), and
// test/integration/systemd/in-container.sh drives vigild.service there: the package leaves it
// disabled and stopped; with a good configuration it starts, logs "vigild ready" and answers
// the CLI, running the packaged Node; with an invalid one it exits 78 and systemd does not
// restart it (RestartPreventExitStatus=78: one start, no loop), with the key named in the
// journal; `systemd-analyze security` scores the unit as loaded by systemd (docs/install.md).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from './helpers/core-build.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const driver = path.join(root, 'test/integration/systemd');
const haveRoot = process.getuid?.() === 0;
const haveNspawn = spawnSync('systemd-nspawn', ['--version']).status === 0;
const haveSystemd = fs.existsSync('/lib/systemd/systemd');
const haveDpkgDeb = spawnSync('dpkg-deb', ['--version']).status === 0;
const missing = [!haveRoot && 'root', !haveNspawn && 'systemd-nspawn (apt-get install systemd-container)', !haveSystemd && 'systemd', !haveDpkgDeb && 'dpkg-deb'].filter(Boolean);
const title = missing.length ? `vigild.service under real systemd (skipped: needs ${missing.join(', ')})` : 'vigild.service under real systemd (systemd-nspawn)';
/** The exposure docs/install.md reports; more means a protection was lost. */
const DOCUMENTED_EXPOSURE = 7.0;

describe.skipIf(missing.length > 0)(title, () => {
  let work = '';
  let hostRoot = '';
  let out = '';
  let results: Record<string, string> = {};
  const file = (name: string) => fs.readFileSync(path.join(out, name), 'utf8');

  beforeAll(() => {
    ensureBuilt(['dist/src/daemon/main.js', 'dist/src/cli/main.js']);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-systemd-'));
    const debDir = path.join(work, 'deb');
    out = path.join(work, 'out');
    hostRoot = path.join(work, 'root');
    for (const d of [debDir, out, hostRoot]) fs.mkdirSync(d);
    let t0 = Date.now();
    const b = spawnSync(process.execPath, [path.join(root, 'scripts/package/build-deb.mjs'), '--out', debDir, '--no-compile'], { cwd: root, encoding: 'utf8' });
    expect(b.status, `${b.stdout}${b.stderr}`).toBe(0);
    console.log(`systemd-unit.test: package built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // Only the root file system itself (no submounts): the container sees this host's OS, with
    // its writes going to a tmpfs overlay that vanishes with it.
    const m = spawnSync('mount', ['--bind', '/', hostRoot], { encoding: 'utf8' });
    expect(m.status, m.stderr).toBe(0);
    t0 = Date.now();
    const n = spawnSync(
      'systemd-nspawn',
      [
        '--directory', hostRoot, '--volatile=overlay', '--boot',
        // No machined or systemd on this host's side to register with or to make a scope.
        '--register=no', '--keep-unit', '--link-journal=no',
        '--private-network', '--console=pipe', `--machine=vigil-unit-${process.pid}`,
        `--bind-ro=${debDir}:/vigil-deb`, `--bind=${out}:/vigil-out`, `--bind-ro=${driver}:/vigil-test`,
        `--bind-ro=${path.join(driver, 'vigil-systemd-test.service')}:/etc/systemd/system/vigil-systemd-test.service`,
        '--', 'systemd.wants=vigil-systemd-test.service',
      ],
      // SIGTERM makes nspawn shut the container down cleanly if the driver hangs.
      { encoding: 'utf8', timeout: 480_000, killSignal: 'SIGTERM' },
    );
    console.log(`systemd-unit.test: container booted, ran the driver and powered off in ${((Date.now() - t0) / 1000).toFixed(1)} s (exit ${n.status})`);
    const text = fs.existsSync(path.join(out, 'results')) ? file('results') : '';
    results = Object.fromEntries(text.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    if (results.done !== '1') {
      const log = fs.existsSync(path.join(out, 'script.log')) ? file('script.log') : '(no driver log)';
      throw new Error(`the driver did not finish (nspawn exit ${n.status}):\n${n.stdout}${n.stderr}\n--- driver log ---\n${log}`);
    }
  }, 900_000);

  afterAll(() => {
    if (hostRoot) spawnSync('umount', [hostRoot]);
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('the package installs the unit disabled and does not start it', () => {
    expect(results.dpkg_install).toBe('0');
    expect(results.enabled_after_install).toBe('disabled');
    expect(results.active_after_install).toBe('inactive');
  });

  it('with a good configuration vigild starts, is ready, runs the packaged Node and answers the CLI; stops cleanly', () => {
    expect(results.start_good).toBe('0');
    expect(results.ready).toBe('0');
    expect(results.active_good).toBe('active');
    expect(results.main_exe).toBe('/usr/lib/vigil/node/bin/node');
    expect(results.cli_sys_list).toBe('0');
    expect(results.sys_list?.trim()).toBe('nspawn1');
    expect(results.stop_good).toBe('0');
    expect(results.result_good).toBe('success');
  });

  it('an invalid configuration: exit 78, the unit stays failed without a restart, the journal names the key', () => {
    expect(results.failed_bad).toBe('0');
    expect(results.state_bad).toBe('failed');
    expect(results.result_bad).toBe('exit-code');
    expect(results.status_bad).toBe('78');
    expect(results.restarts_bad).toBe('0');
    expect(results.starts_logged).toBe('2'); // the good start and the bad one: no restart
    expect(file('journal.txt')).toMatch(/invalid configuration in \/etc\/default\/vigil: VIGIL_HALT_ACTION="explode": must be one of/);
    expect(file('journal.txt')).toMatch(/status=78\/CONFIG/);
  });

  it(`systemd-analyze security scores the loaded unit at most ${DOCUMENTED_EXPOSURE} (docs/install.md)`, () => {
    expect(results.analyze_security).toBe('0');
    const m = /exposure level for vigild\.service: (\d+\.\d) (\w+)/.exec(results.exposure ?? '');
    expect(m, results.exposure).not.toBeNull();
    console.log(`systemd-unit.test: ${results.exposure}`);
    expect(Number(m![1])).toBeLessThanOrEqual(DOCUMENTED_EXPOSURE);
  });
});
