// The shipped systemd unit parses cleanly (systemd-analyze verify reports nothing) and keeps the
// properties vigild relies on: SIGTERM for the clean shutdown, a 0700 runtime directory for the
// root-only admin socket, the config path, no restart loop on a configuration error (exit 78),
// and a sandbox that never puts vigild in its own mount namespace (its mounts must be the node's),
// with the exposure systemd-analyze security reports kept at or below the documented level.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const unit = path.join(root, 'deploy/systemd/vigild.service');
const text = fs.readFileSync(unit, 'utf8');
const haveAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
if (!haveAnalyze) console.log('systemd-unit.test: verify and security skipped: needs systemd-analyze');

/** The exposure docs/install.md reports for the unit ("after"). */
const DOCUMENTED_EXPOSURE = Number(/exposure after: \*\*(\d+\.\d)\*\*/.exec(fs.readFileSync(path.join(root, 'docs/install.md'), 'utf8'))?.[1]);

/** The unit with the packaged Node replaced by this one, so verify finds an executable. */
function unitForThisHost(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-unit-'));
  const file = path.join(dir, 'vigild.service');
  fs.writeFileSync(file, text.replace('/usr/lib/vigil/node/bin/node', process.execPath));
  return file;
}

describe('deploy/systemd/vigild.service', () => {
  it('declares the shutdown signal, the runtime directory mode and the config file', () => {
    expect(text).toMatch(/^KillSignal=SIGTERM$/m);
    expect(text).toMatch(/^RuntimeDirectory=vigil$/m);
    expect(text).toMatch(/^RuntimeDirectoryMode=0700$/m);
    expect(text).toMatch(/^StateDirectoryMode=0700$/m);
    expect(text).toMatch(/^ExecStart=\/usr\/lib\/vigil\/node\/bin\/node \/usr\/lib\/vigil\/app\/dist\/src\/daemon\/main\.js --config \/etc\/default\/vigil$/m);
  });
  it('does not restart on a configuration error (exit 78) and gives up after repeated failures', () => {
    expect(text).toMatch(/^RestartPreventExitStatus=78$/m);
    expect(text).toMatch(/^StartLimitBurst=\d+$/m);
    expect(Number(/^RestartSec=(\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(5);
  });
  it('takes no option that would give vigild a private mount namespace', () => {
    for (const k of ['ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'PrivateMounts', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups', 'ProtectProc', 'ProcSubset', 'ReadOnlyPaths', 'InaccessiblePaths', 'TemporaryFileSystem', 'BindPaths', 'MountFlags']) {
      expect(text, k).not.toMatch(new RegExp(`^${k}=(?!no$)`, 'm'));
    }
  });
  it('lets vigild lock its memory and use real-time scheduling for heartbeats', () => {
    const text = fs.readFileSync(unit, 'utf8');
    expect(text).toMatch(/^LimitMEMLOCK=infinity$/m);
    expect(text).toMatch(/^LimitRTPRIO=99$/m);
    expect(text).not.toMatch(/^RestrictRealtime=yes$/m);
  });
  it.skipIf(!haveAnalyze)('passes systemd-analyze verify without warnings (needs systemd-analyze)', () => {
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', unitForThisHost()], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
  it.skipIf(!haveAnalyze)('systemd-analyze security reports the exposure docs/install.md documents (needs systemd-analyze)', () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', unitForThisHost()], { encoding: 'utf8' });
    const level = Number(/Overall exposure level for vigild\.service: (\d+\.\d)/.exec(r.stdout)?.[1]);
    expect(level).toBe(DOCUMENTED_EXPOSURE);
  });
});
