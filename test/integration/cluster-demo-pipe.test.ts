// `vigil demo | head -N`: when the reader of its output goes away the demo must end quietly (no
// stack trace, exit 141 as for SIGPIPE) and clean up as Ctrl-C does: no vigild left running, no
// loop device left attached, no temporary directory left. Cut once right after the first lines
// (nodes starting) and once after the loop device was attached (root only).
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
