// CI cannot pass by skipping: the same vitest run with one skipped test exits 0 on a developer's
// machine and fails under CI=true, naming the skipped test and its file.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/core-build.js';

const VITEST = path.join(repoRoot, 'node_modules/vitest/vitest.mjs');
const CONFIG = path.join(repoRoot, 'test/fixtures/skip-in-ci/vitest.config.ts');

function runFixture(ci: string | undefined, extra: string[] = []): { code: number | null; output: string } {
  const env = { ...process.env };
  delete env.CI;
  if (ci !== undefined) env.CI = ci;
  const r = spawnSync(process.execPath, [VITEST, 'run', '--config', CONFIG, ...extra], { cwd: repoRoot, env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('a skipped test under CI', () => {
  it('passes outside CI and fails under CI=true, naming the skipped test', () => {
    const dev = runFixture(undefined);
    expect(dev.output).toMatch(/2 skipped/);
    expect(dev.code).toBe(0);
    const ci = runFixture('true');
    expect(ci.code).toBe(1);
    expect(ci.output).toMatch(/CI=true: 2 skipped test\(s\) count as failures/);
    expect(ci.output).toMatch(/SKIPPED test\/fixtures\/skip-in-ci\/skipping\.fixture\.ts > fixture > needs a tool this machine lacks \(skipped: no such tool\)/);
    expect(ci.output).toMatch(/SKIPPED test\/fixtures\/skip-in-ci\/skipping\.fixture\.ts > fixture > needs a device this machine lacks \(no such device\)/);
  });

  it('does not count tests left out by -t under CI=true', () => {
    const r = runFixture('true', ['-t', 'runs']);
    expect(r.output).toMatch(/1 passed/);
    expect(r.output).not.toMatch(/count as failures/);
    expect(r.code).toBe(0);
  });
});
