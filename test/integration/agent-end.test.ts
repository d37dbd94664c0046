// NodePower.endAgent on Linux, the last resort of a node that must stop serving (quorum lost and
// the power-off did not happen, a kit's halt): a real process marked like vigild (markThisAgent)
// starts a service through the addon's program runner, whose program runs in a process group of
// its own and leaves the service running; endAgent must end the process itself and that service,
// and nothing that does not carry its mark.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { ensureBuilt, repoRoot } from './helpers/core-build.js';
import { killProcessesWithEnv, processesWithEnv } from '../../src/platform/linux/agent-mark.js';
import { processRunning } from '../../src/common/process-alive.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-agent-end-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

describe('agent mark', () => {
  it('finds and ends the processes carrying a value, and only those', async () => {
    const marked = spawn('sh', ['-c', 'sleep 60 & wait'], { env: { ...process.env, VIGIL_TEST_MARK: 'one' }, stdio: 'ignore', detached: true });
    const other = spawn('sleep', ['60'], { env: { ...process.env, VIGIL_TEST_MARK: 'two' }, stdio: 'ignore' });
    try {
      // The shell and its background sleep (which inherited the variable).
      expect(await until(() => processesWithEnv('VIGIL_TEST_MARK', 'one').length === 2, 5_000)).toBe(true);
      expect(processesWithEnv('VIGIL_TEST_MARK', 'on')).toEqual([]);
      expect(killProcessesWithEnv('VIGIL_TEST_MARK', 'one')).toBe(2);
      expect(await until(() => processesWithEnv('VIGIL_TEST_MARK', 'one').length === 0, 5_000)).toBe(true);
      expect(processRunning(other.pid!)).toBe(true);
    } finally {
      other.kill('SIGKILL');
      marked.kill('SIGKILL');
    }
  });
});

describe('NodePower.endAgent', () => {
  it('ends the agent and the service its program left running in a group of its own', async () => {
    ensureBuilt(['dist/src/platform/linux/index.js', 'dist/src/platform/linux/agent-mark.js']);
    const pidFile = join(dir, 'service.pid');
    const restore = join(dir, 'restore');
    writeFileSync(restore, `#!/bin/sh\nsleep 300 > /dev/null 2>&1 &\necho $! > ${pidFile}\n`, { mode: 0o755 });
    const agentJs = join(dir, 'agent.mjs');
    writeFileSync(
      agentJs,
      `import { markThisAgent } from '${repoRoot}/dist/src/platform/linux/agent-mark.js';
import { createLinuxPlatform } from '${repoRoot}/dist/src/platform/linux/index.js';
const plat = createLinuxPlatform({ agentMark: markThisAgent() });
const r = await plat.programs.run(${JSON.stringify(restore)}, [], { timeoutMs: 10_000, ownGroup: true });
if (r.code !== 0) { console.error('restore failed', r); process.exit(3); }
plat.nodePower.endAgent('test');
await new Promise((res) => setTimeout(res, 10_000));
process.exit(4);
`,
    );
    const r = spawnSync(process.execPath, [agentJs], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toContain('ending vigild and every process it started: test');
    expect(r.signal).toBe('SIGKILL');
    const service = Number(readFileSync(pidFile, 'utf8'));
    expect(service).toBeGreaterThan(1);
    expect(await until(() => !processRunning(service), 5_000)).toBe(true);
  });
});
