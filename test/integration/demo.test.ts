// `vigil demo`, the README's main job, end to end: the whole run passes every step it checks
// (crash of node1, takeover by node2 with the data, switchback, clean-up), prints the takeover's
// progress as it happens, and leaves nothing behind. Then with its output cut off
// (`vigil demo | head -N`): when the reader goes away the demo must end quietly (no stack trace,
// exit 141 as for SIGPIPE) and clean up as Ctrl-C does: no vigild left running, no loop device
// left attached, no temporary directory left. Cut once right after the first lines (nodes
// starting) and once after the loop device was attached (root only).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { ensureDaemonBuilt, VIGIL } from './helpers/vigild-proc.js';

const asRoot = process.getuid?.() === 0;

function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text)) found.push(`${pid}: ${cmd}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

function loopDevicesOf(dir: string): string {
  const r = spawnSync('losetup', ['-l', '-n', '-O', 'NAME,BACK-FILE'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.includes(dir)).join('\n');
}

describe('vigil demo', () => {
  it('runs every step to the end, shows the takeover as it happens, and leaves nothing behind', () => {
    ensureDaemonBuilt();
    const r = spawnSync(process.execPath, [VIGIL, 'demo'], { encoding: 'utf8', timeout: 150_000, cwd: '/tmp' });
    const dir = /Vigil two-node demo in (\S+)/.exec(r.stdout)?.[1];
    expect(dir, r.stdout + r.stderr).toBeDefined();
    expect(r.status, r.stdout + r.stderr).toBe(0);
    // Progress while node2 takes over: what it reports, with the time since the crash.
    expect(r.stdout).toMatch(/^ {5}\d+\.\d s after the crash node2 reports .*demo-web ISP/m);
    expect(r.stdout).toMatch(/ok: node2 declared node1 DEAD after \d+ ms/);
    expect(r.stdout).toMatch(/ok: hierarchy ISP on node2 \d+ ms after the crash/);
    expect(r.stdout).toMatch(/ok: the greeting node1 wrote before the crash is served by node2/);
    expect(r.stdout).toMatch(/ok: switched back \d+ ms after node1 was restarted/);
    expect(r.stdout).toMatch(/^Demo finished: every step verified in [\d.]+ s\. Failure detection \d+ ms, failover \d+ ms\.$/m);
    if (asRoot) expect(r.stdout).toMatch(/ok: restored children first: demo-fs at \+\d+ ms, demo-web at \+\d+ ms/);
    expect(processesMentioning(dir!)).toEqual([]);
    expect(loopDevicesOf(dir!)).toBe('');
    expect(existsSync(dir!)).toBe(false);
  });
});

describe('vigil demo with its output cut off', () => {
  for (const lines of asRoot ? [3, 9] : [3]) {
    it(`vigil demo | head -${lines}: ends with 141, no stack trace, nothing left behind`, () => {
      ensureDaemonBuilt();
      const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${VIGIL}" demo 2>demo.err | head -${lines}; echo "rc=\${PIPESTATUS[0]}"; cat demo.err`], {
        encoding: 'utf8',
        timeout: 120_000,
        cwd: '/tmp',
      });
      const dir = /Vigil two-node demo in (\S+)/.exec(r.stdout)?.[1];
      expect(dir, r.stdout).toBeDefined();
      const rc = /rc=(\d+)/.exec(r.stdout)?.[1];
      const stderr = r.stdout.slice(r.stdout.indexOf('rc='));
      expect(rc, r.stdout).toBe('141');
      expect(stderr).not.toMatch(/Error|EPIPE|at .*\.js/);
      expect(processesMentioning(dir!)).toEqual([]);
      expect(loopDevicesOf(dir!)).toBe('');
      expect(existsSync(dir!)).toBe(false);
      if (lines === 9) expect(r.stdout).toMatch(/Protect an ext4 file system/);
    });
  }
});
