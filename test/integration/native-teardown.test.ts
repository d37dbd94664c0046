// The addon's thread-safe function calls when Node tears an environment down: 200 worker
// threads each start a native NBD session whose client sends a bad request, and are terminated
// while that protocol-error report is on its way to JavaScript. Node delivers such a call during
// the teardown, when JavaScript can no longer run; the addon must drop it. Before the addon was
// built with NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS this aborted the process ("terminate called
// after throwing an instance of 'Napi::Error'") in most runs of the fixture, and once killed a
// test worker of nbd-server-native.test.ts. Runs in a child process, so an abort is a verdict.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = join(__dirname, '..', '..');
const addon = join(repo, 'build', 'Release', 'vigil_native.node');

describe('native thread-safe calls during environment teardown', () => {
  it('200 worker threads terminated while an NBD session reports its end: the process lives', () => {
    const r = spawnSync(process.execPath, [join(repo, 'test', 'fixtures', 'tsfn-teardown', 'run.mjs'), addon, '200'], { encoding: 'utf8', timeout: 90_000 });
    expect(r.stderr).not.toMatch(/terminate called/);
    expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
    expect(r.stdout.trim()).toBe('ok 200');
  });
});
