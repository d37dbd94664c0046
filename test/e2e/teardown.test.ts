// The harness never leaves a qemu behind: not when the owning process is SIGKILLed (no exit
// handler runs), and not after a crash or teardown of a cluster.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listMarkedQemus } from '../../scripts/vmcluster/reaper.js';
import { waitFor } from '../../scripts/lib/wait.js';
import { repoRoot, vmUnavailable } from './helpers/vmcluster.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(!!vmUnavailable)(vmUnavailable ? `VM cluster teardown (skipped: ${vmUnavailable})` : 'VM cluster teardown', () => {
  it('kills the qemu of a harness process that dies by SIGKILL', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test/e2e/fixtures/orphan-cluster.ts')], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    try {
      await waitFor(() => /READY (\d+)/.test(out) || child.exitCode !== null, { deadlineMs: 120_000, what: 'fixture cluster up' });
      const qemuPid = Number(/READY (\d+)/.exec(out)?.[1]);
      expect(qemuPid, `fixture output: ${out}`).toBeGreaterThan(0);
      expect(alive(qemuPid)).toBe(true);
      expect(listMarkedQemus().some((q) => q.pid === qemuPid && q.owner === child.pid)).toBe(true);
      child.kill('SIGKILL');
      await waitFor(() => !alive(qemuPid), { deadlineMs: 15_000, what: `qemu ${qemuPid} to die with its owner` });
      expect(listMarkedQemus().filter((q) => q.owner === child.pid)).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
