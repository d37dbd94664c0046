// vigild's start-up refusals, on real processes: every configuration problem is reported before
// any subsystem starts (no state directory, no socket, no stack trace), with the key, the rule or
// the nearest known key; a configuration file others may write is refused; --version answers and
// an unknown flag is a usage error.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDaemonBuilt, startVigild, stopAll, VIGILD, writeNodeConfig } from './helpers/vigild-proc.js';

let root: string;
beforeAll(() => {
  ensureDaemonBuilt();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-vigild-config-'));
});
afterAll(async () => {
  await stopAll();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Start vigild on a config with `extra`; it must exit 78 (EX_CONFIG: systemd does not restart on it) before touching its state directory. */
async function refusedStart(name: string, extra: Record<string, string>, prepare?: (conf: string) => void): Promise<string> {
  const dir = path.join(root, name);
  const conf = writeNodeConfig(dir, name, extra);
  prepare?.(conf);
  const d = await startVigild(name, dir, conf, false);
  expect((await d.exited).code).toBe(78);
  const out = d.output();
  expect(out).not.toMatch(/\n\s+at /); // no stack trace
  expect(fs.existsSync(path.join(dir, 'state'))).toBe(false); // nothing started
  expect(fs.existsSync(path.join(dir, 'run'))).toBe(false);
  return out;
}

describe('vigild configuration checks at start-up', () => {
  it.each([
    ['recattempts', { VIGIL_LOCAL_RECOVERY_ATTEMPTS: 'lots' }, /^vigild: Error: invalid configuration in .*vigil\.conf: VIGIL_LOCAL_RECOVERY_ATTEMPTS="lots": must be a whole number\n$/],
    ['appinterval', { LKCHECKINTERVAL_GEN_APP: '-4' }, /^vigild: Error: invalid configuration in .*: LKCHECKINTERVAL_GEN_APP="-4": must be a number of seconds/],
    ['halt', { VIGIL_HALT_ACTION: 'explode' }, /VIGIL_HALT_ACTION="explode": must be one of exit, sysrq/],
    ['typo', { LCMHBEATTME: '1' }, /LCMHBEATTME: unknown key \(did you mean LCMHBEATTIME\?\)/],
    ['quorum', { QUORUM_MODE: 'storage' }, /QUORUM_MODE="storage": needs QUORUM_DISK \(the shared LUN that holds every system's heartbeat record\)/],
    ['quorumhosts', { QUORUM_MODE: 'tcp_remote' }, /QUORUM_MODE="tcp_remote": needs QUORUM_HOSTS/],
  ])('refuses %s before anything starts', async (name, extra, re) => {
    expect(await refusedStart(name, extra)).toMatch(re);
  });

  it('a missing configuration file is exit 78 too (systemd does not restart on it), naming the file', () => {
    const conf = path.join(root, 'missing', 'vigil.conf');
    const r = spawnSync(process.execPath, [VIGILD, '--config', conf], { encoding: 'utf8', timeout: 30_000 });
    expect([r.status, r.stdout]).toEqual([78, '']);
    expect(r.stderr).toBe(`vigild: Error: cannot read configuration ${conf}: ENOENT: no such file or directory, open '${conf}'\n`);
    expect(fs.existsSync(path.join(root, 'missing'))).toBe(false);
  });

  it('refuses a configuration file that group or others may write', async () => {
    const out = await refusedStart('groupwritable', {}, (conf) => fs.chmodSync(conf, 0o664));
    expect(out).toMatch(/^vigild: Error: configuration .*vigil\.conf is writable by group \(mode 0664\); refusing it: run chmod go-w /);
  });
});

describe('vigild command line', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [VIGILD, ...args], { encoding: 'utf8', timeout: 30_000 });

  it('prints its version', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(VIGILD), '../../../package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = run(flag);
      expect(r.stdout).toBe(`vigild ${pkg.version}\n`);
      expect(r.status).toBe(0);
    }
  });

  it.each([
    [['--confg', '/etc/default/vigil'], /^vigild: unknown option "--confg"\nusage: vigild/],
    [['start'], /^vigild: unexpected argument "start"\nusage: vigild/],
    [['--config'], /^vigild: --config needs a file path\n/],
    [['--config', '/a', '--config=/b'], /^vigild: --config given twice\n/],
  ])('refuses %j as a usage error (exit 2)', (args, re) => {
    const r = run(...args);
    expect(r.stderr).toMatch(re);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(2);
  });
});
