// ProgramRunner, both implementations (the addon's process spawner on Linux, the memory one):
// exit code, stdout/stderr, death by a signal, arguments and environment, the output tail, the
// time limit (SIGTERM then SIGKILL, to the whole process group with ownGroup, to the program
// alone without), stop through an AbortSignal, and programs that cannot start (ENOENT, EACCES).
// The Linux side also: a program that leaves a background child holding its pipes still
// settles, and hundreds of programs at once each get their own result.
import { readFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LinuxProgramRunner } from '../../src/platform/linux/index.js';
import { MemoryProgramRunner } from '../../src/platform/memory/index.js';
import type { ProgramRunner } from '../../src/platform/programs.js';
import { waitFor } from '../../scripts/lib/wait.js';

interface Fixture {
  runner: ProgramRunner;
  /** Prints "$1 $VIGIL_X" on stdout and "to-stderr" on stderr, exits with code $2. */
  echo: string;
  /** Prints 100 000 'x' then exits 0. */
  chatty: string;
  /** Ends itself with SIGKILL. */
  selfKill: string;
  /** Ignores SIGTERM, starts a child in its group that ignores it too, and runs until killed. */
  stubborn: string;
  /** Runs for 30 s unless signalled (SIGTERM ends it). */
  sleeper: string;
  missing: string;
  notExecutable: string;
  /** How many processes of the last `stubborn` run are still alive. */
  survivors(): number;
  cleanup(): void;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-programs-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string, mode = 0o755): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode });
  return p;
}

/** Alive and not a zombie (this container's init may not reap orphans at once). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function linuxFixture(): Fixture {
  const pidFile = join(dir, 'stubborn.pids');
  const pids = (): number[] => (existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim().split(/\s+/).map(Number) : []);
  return {
    runner: new LinuxProgramRunner(),
    echo: script('echo', 'echo "$1 $VIGIL_X"; echo to-stderr >&2; exit "$2"'),
    chatty: script('chatty', "head -c 100000 /dev/zero | tr '\\0' x"),
    selfKill: script('self-kill', 'kill -KILL $$'),
    stubborn: script('stubborn', `trap '' TERM\nsleep 30 &\necho "$$ $!" > ${pidFile}\nwhile :; do sleep 1; done`),
    sleeper: script('sleeper', 'exec sleep 30'),
    missing: join(dir, 'no-such-program'),
    notExecutable: script('not-executable', 'exit 0', 0o644),
    survivors: () => pids().filter(alive).length,
    cleanup: () => {
      for (const pid of pids()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      rmSync(pidFile, { force: true });
    },
  };
}

function memoryFixture(): Fixture {
  const runner = new MemoryProgramRunner();
  runner.define('/m/echo', (call) => ({ stdout: `${call.args[0]} ${call.env['VIGIL_X']}\n`, stderr: 'to-stderr\n', code: Number(call.args[1]) }));
  runner.define('/m/chatty', { stdout: 'x'.repeat(100_000) });
  runner.define('/m/self-kill', { signal: 'SIGKILL' });
  runner.define('/m/stubborn', { runsMs: Infinity, ignoresTerm: true, leavesInGroup: 1 });
  runner.define('/m/sleeper', { runsMs: 30_000 });
  runner.define('/m/not-executable', {}, { executable: false });
  return {
    runner,
    echo: '/m/echo',
    chatty: '/m/chatty',
    selfKill: '/m/self-kill',
    stubborn: '/m/stubborn',
    sleeper: '/m/sleeper',
    missing: '/m/no-such-program',
    notExecutable: '/m/not-executable',
    survivors: () => runner.running(),
    cleanup: () => undefined,
  };
}

describe.each([
  ['linux', linuxFixture],
  ['memory', memoryFixture],
] as const)('ProgramRunner contract (%s)', (_name, make: () => Fixture) => {
  it('reports the exit code, stdout and stderr, with the arguments and environment passed', async () => {
    const f = make();
    const r = await f.runner.run(f.echo, ['hello', '3'], { timeoutMs: 10_000, env: { ...process.env, VIGIL_X: 'world' } });
    expect(r).toMatchObject({ code: 3, signal: null, timedOut: false, aborted: false });
    expect(r.stdout).toBe('hello world\n');
    expect(r.stderr).toBe('to-stderr\n');
    expect(r.spawnError).toBeUndefined();
    const ok = await f.runner.run(f.echo, ['a', '0'], { timeoutMs: 10_000, env: { ...process.env, VIGIL_X: 'b' } });
    expect(ok.code).toBe(0);
  });

  it('sets extraEnv on top of env, for each program on its own even when env is the same object', async () => {
    const f = make();
    const env = { ...process.env, VIGIL_X: 'base' };
    const runs = await Promise.all(
      ['one', 'two', 'three'].map((x) => f.runner.run(f.echo, [x, '0'], { timeoutMs: 10_000, env, extraEnv: { VIGIL_X: x } })),
    );
    expect(runs.map((r) => r.stdout)).toEqual(['one one\n', 'two two\n', 'three three\n']);
    const plain = await f.runner.run(f.echo, ['p', '0'], { timeoutMs: 10_000, env });
    expect(plain.stdout).toBe('p base\n');
  });

  it('keeps only the tail of the output (maxOutput)', async () => {
    const f = make();
    const r = await f.runner.run(f.chatty, [], { timeoutMs: 10_000, maxOutput: 1000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('x'.repeat(1000));
  });

  it('reports a program ended by a signal: no code, the signal name', async () => {
    const f = make();
    const r = await f.runner.run(f.selfKill, [], { timeoutMs: 10_000 });
    expect(r).toMatchObject({ code: null, signal: 'SIGKILL', timedOut: false });
  });

  it('at the time limit settles at once, then SIGKILLs the whole process group after the grace (ownGroup)', async () => {
    const f = make();
    try {
      const run = f.runner.run(f.stubborn, [], { timeoutMs: 3_000, killGraceMs: 2_000, ownGroup: true });
      // Both processes must be up (and ignoring SIGTERM) before the limit, or nothing is shown.
      await waitFor(() => f.survivors() === 2, { deadlineMs: 2_500, intervalMs: 20, what: 'the program and its child to start' });
      const r = await run;
      expect(r).toMatchObject({ code: null, signal: null, timedOut: true, aborted: false });
      // Settled at the limit, not after the grace: both still run (SIGTERM is ignored).
      expect(f.survivors()).toBe(2);
      await waitFor(() => f.survivors() === 0, { deadlineMs: 10_000, intervalMs: 50, what: 'the group to be killed' });
    } finally {
      f.cleanup();
    }
  }, 30_000);

  it('without ownGroup the time limit ends only the program: what it started keeps running', async () => {
    const f = make();
    try {
      const run = f.runner.run(f.stubborn, [], { timeoutMs: 3_000, killGraceMs: 200, ownGroup: false });
      await waitFor(() => f.survivors() === 2, { deadlineMs: 2_500, intervalMs: 20, what: 'the program and its child to start' });
      expect((await run).timedOut).toBe(true);
      // The program itself is SIGKILLed after the grace; its TERM-ignoring child stays.
      await waitFor(() => f.survivors() === 1, { deadlineMs: 10_000, intervalMs: 50, what: 'only the program to end' });
    } finally {
      f.cleanup();
    }
  }, 30_000);

  it('stops a program when the AbortSignal fires (SIGTERM ends it)', async () => {
    const f = make();
    const ac = new AbortController();
    const started = Date.now();
    const run = f.runner.run(f.sleeper, [], { timeoutMs: 60_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    const r = await run;
    expect(r).toMatchObject({ code: null, timedOut: false, aborted: true });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a missing program fails to start with ENOENT, a non-executable one with EACCES', async () => {
    const f = make();
    const missing = await f.runner.run(f.missing, [], { timeoutMs: 5_000 });
    expect(missing).toMatchObject({ code: null, signal: null, timedOut: false, spawnErrorCode: 'ENOENT' });
    expect(missing.spawnError).toContain(f.missing);
    const noExec = await f.runner.run(f.notExecutable, [], { timeoutMs: 5_000 });
    expect(noExec).toMatchObject({ code: null, signal: null, timedOut: false, spawnErrorCode: 'EACCES' });
  });
});

describe('LinuxProgramRunner (the addon spawner) on real processes', () => {
  it('settles after a short drain when a background child keeps the output pipes open', async () => {
    const runner = new LinuxProgramRunner();
    const pidFile = join(dir, 'bg.pid');
    const p = script('leaves-bg', `sleep 30 &\necho $! > ${pidFile}\necho started\nexit 0`);
    try {
      const r = await runner.run(p, [], { timeoutMs: 10_000 });
      expect(r).toMatchObject({ code: 0, timedOut: false, stdout: 'started\n' });
      expect(r.durationMs).toBeLessThan(5_000);
    } finally {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    }
  });

  it('finds a bare program name on the PATH of the environment given, runs in cwd, gives an empty stdin', async () => {
    const runner = new LinuxProgramRunner();
    const r = await runner.run('sh', ['-c', 'pwd; cat; echo "[$PATH]"'], { timeoutMs: 10_000, cwd: dir, env: { PATH: '/usr/bin:/bin' } });
    expect(r).toMatchObject({ code: 0, stdout: `${dir}\n[/usr/bin:/bin]\n` });
    const none = await runner.run('sh', [], { timeoutMs: 10_000, env: { PATH: dir } });
    expect(none.spawnErrorCode).toBe('ENOENT');
  });

  it('gives each of 300 concurrent programs its own result, and watches none of them afterwards', async () => {
    const runner = new LinuxProgramRunner();
    const p = script('echo-n', 'echo "$1"; exit $(($1 % 7))');
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => runner.run(p, [String(i)], { timeoutMs: 30_000 })));
    results.forEach((r, i) => {
      expect(r.stdout).toBe(`${i}\n`);
      expect(r.code).toBe(i % 7);
    });
    await waitFor(() => runner.counters().supervised === 0, { deadlineMs: 5_000, intervalMs: 20, what: 'the supervisor to drop finished programs' });
    expect(runner.counters()).toMatchObject({ pending: 0, startedTotal: 300 });
  });

  it('resets signal dispositions and the signal mask in the child', async () => {
    const runner = new LinuxProgramRunner();
    // Node ignores SIGPIPE; a program must start with the default (SigIgn bit 13 clear) and
    // nothing blocked (the spawner's threads block every signal).
    const r = await runner.run('sh', ['-c', 'grep -E "^(SigBlk|SigIgn)" /proc/self/status'], { timeoutMs: 10_000 });
    const fields = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/) as [string, string]));
    expect(BigInt(`0x${fields['SigBlk']}`)).toBe(0n);
    expect(BigInt(`0x${fields['SigIgn']}`) & (1n << 12n)).toBe(0n);
  });
});
