// The shipped systemd unit parses cleanly (systemd-analyze verify reports nothing) and keeps the
// properties vigild relies on: SIGTERM for the clean shutdown, a 0700 runtime directory for the
// root-only admin socket, the config path.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const unit = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/systemd/vigild.service');
const haveAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
if (!haveAnalyze) console.log('systemd-unit.test: verify skipped: needs systemd-analyze');

describe('deploy/systemd/vigild.service', () => {
  it('declares the shutdown signal, the runtime directory mode and the config file', () => {
    const text = fs.readFileSync(unit, 'utf8');
    expect(text).toMatch(/^KillSignal=SIGTERM$/m);
    expect(text).toMatch(/^RuntimeDirectory=vigil$/m);
    expect(text).toMatch(/^RuntimeDirectoryMode=0700$/m);
    expect(text).toMatch(/^ExecStart=\S+ \S+\/dist\/src\/daemon\/main\.js --config \/etc\/default\/vigil$/m);
  });
  it('lets vigild lock its memory and use real-time scheduling for heartbeats', () => {
    const text = fs.readFileSync(unit, 'utf8');
    expect(text).toMatch(/^LimitMEMLOCK=infinity$/m);
    expect(text).toMatch(/^LimitRTPRIO=99$/m);
    expect(text).not.toMatch(/^RestrictRealtime=yes$/m);
  });
  it.skipIf(!haveAnalyze)('passes systemd-analyze verify without warnings (needs systemd-analyze)', () => {
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
