// deploy/systemd/vigil-standby.service: a oneshot that holds vigild back (ordered before it and
// required by it) until `vigil standby` exits, with no start time limit, and parses cleanly.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const unit = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../deploy/systemd/vigil-standby.service');
const haveAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('deploy/systemd/vigil-standby.service', () => {
  const text = fs.readFileSync(unit, 'utf8');
  it('is a oneshot ordered before vigild and required by it, waiting without a time limit', () => {
    expect(text).toMatch(/^Type=oneshot$/m);
    expect(text).toMatch(/^RemainAfterExit=yes$/m);
    expect(text).toMatch(/^Before=vigild\.service$/m);
    expect(text).toMatch(/^RequiredBy=vigild\.service$/m);
    expect(text).toMatch(/^TimeoutStartSec=infinity$/m);
  });
  it("runs the CLI where the package installs it, on the package's Node, like vigild.service", () => {
    const vigild = fs.readFileSync(path.join(path.dirname(unit), 'vigild.service'), 'utf8');
    const runtime = /^ExecStart=(\S+) /m.exec(vigild)![1]!;
    expect(runtime).toBe('/usr/lib/vigil/node/bin/node');
    expect(text).toMatch(new RegExp(`^ExecStart=${runtime} /usr/lib/vigil/app/dist/src/cli/main\\.js standby --config /etc/default/vigil$`, 'm'));
  });
  it.skipIf(!haveAnalyze)('passes systemd-analyze verify without warnings (needs systemd-analyze)', () => {
    // The packaged Node replaced by this one, so verify finds an executable.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-standby-unit-'));
    const file = path.join(dir, 'vigil-standby.service');
    fs.writeFileSync(file, text.replace('/usr/lib/vigil/node/bin/node', process.execPath));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
