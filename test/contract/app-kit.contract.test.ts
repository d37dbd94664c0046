// gen/app with real shell scripts: environment, exit codes -> recovery classes, time limits,
// aborts, missing programs, and the executor's time limit around a hung kit. The kit runs with
// both program runners: child_process (its default) and the addon's spawner (what vigild uses).
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AppKit } from '../../src/kits/app/app-kit.js';
import type { ActionContext, ActionResult, Kit, ResourceInstance } from '../../src/kits/kit.js';
import { DEFAULT_TIME_LIMITS, ok } from '../../src/kits/kit.js';
import { runKitAction } from '../../src/hierarchy/executor.js';
import { LinuxProgramRunner } from '../../src/platform/linux/index.js';
import { processRunning } from '../../src/common/process-alive.js';

let dir: string;
const ctx = (signal = new AbortController().signal): ActionContext => ({ system: 'node1', signal, log: () => undefined });

function script(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-app-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));


function inst(info: Record<string, string>): ResourceInstance {
  return { tag: 'web', id: 'web-id', app: 'gen/app', info: { restore: script('r', 'exit 0'), remove: script('rm', 'exit 0'), ...info } };
}

describe.each([
  ['child_process', () => new AppKit()],
  ['addon spawner', () => new AppKit(new LinuxProgramRunner())],
] as const)('gen/app kit (%s)', (_runner, makeKit: () => Kit) => {
  const kit = makeKit();
  it('passes the documented environment to programs', async () => {
    const out = join(dir, 'env.txt');
    const r = await kit.restore(inst({ restore: script('env', `echo "$VIGIL_TAG $VIGIL_ID $VIGIL_ACTION $VIGIL_SYSTEM $VIGIL_APP $1" > ${out}`), arg: 'hello' }), ctx());
    expect(r.ok).toBe(true);
    expect(readFileSync(out, 'utf8').trim()).toBe('web web-id restore node1 gen/app hello');
    const d = join(dir, 'depth.txt');
    await kit.quickCheck(inst({ quickCheck: script('qc', `echo "$VIGIL_ACTION $VIGIL_CHECK_DEPTH" > ${d}`) }), 10, ctx());
    expect(readFileSync(d, 'utf8').trim()).toBe('quickCheck 10');
  });

  it('maps exit codes to recovery classes with the last output line as reason', async () => {
    const cases: Array<[string, string]> = [['exit 2', 'retry-here'], ['exit 3', 'fatal'], ['exit 1', 'move-elsewhere'], ['kill -9 $$', 'move-elsewhere']];
    for (const [body, cls] of cases) {
      const r = await kit.restore(inst({ restore: script('c', `echo "port 80 busy" >&2; ${body}`) }), ctx());
      expect(r.ok).toBe(false);
      expect(r.recoveryClass).toBe(cls);
      if (!body.startsWith('kill')) expect(r.reason).toContain('port 80 busy');
      // Ended by a signal that was not the time limit: the seeds' 000026, with the tag and system.
      else expect(r.reason).toMatch(/^Error 000026: END failed restore for web on server node1 due to SIGKILL signal/);
    }
  });

  it('a program past its time limit fails as move-elsewhere without waiting for it', async () => {
    const t0 = Date.now();
    const r = await kit.restore(inst({ restore: script('slow', 'exec sleep 30'), restoreTimeoutMs: '300' }), ctx());
    expect(r).toMatchObject({ ok: false, recoveryClass: 'move-elsewhere' });
    expect(r.reason).toMatch(/time limit/);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('an abort from the engine stops the program', async () => {
    const ac = new AbortController();
    const p = kit.remove(inst({ remove: script('slow2', 'exec sleep 30') }), ctx(ac.signal));
    setTimeout(() => ac.abort(), 100);
    expect((await p).reason).toMatch(/stopped by the engine/);
  });

  it('a background service started by restore does not hold up the result', async () => {
    const t0 = Date.now();
    const r = await kit.restore(inst({ restore: script('bg', 'sleep 5 & echo started') }), ctx());
    expect(r).toMatchObject({ ok: true, reason: 'started' });
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  it('at the time limit the whole process group of the program ends: a child it forked does not outlive it', async () => {
    const pidFile = join(dir, `forked-${_runner.replace(/\W/g, '')}.pid`);
    const r = await kit.restore(inst({ restore: script('forks', `sleep 300 & echo $! > ${pidFile}; sleep 300`), restoreTimeoutMs: '500' }), ctx());
    expect(r.reason).toMatch(/time limit/);
    const child = Number(readFileSync(pidFile, 'utf8'));
    expect(child).toBeGreaterThan(1);
    // SIGTERM to the group at the limit, SIGKILL after the grace: gone within a few seconds.
    const end = Date.now() + 5_000;
    while (processRunning(child) && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
    expect(processRunning(child)).toBe(false);
  });

  it('refuses a program that someone other than root could change (error 108001)', async () => {
    const unsafeFile = script('group-writable', 'exit 0');
    chmodSync(unsafeFile, 0o775);
    expect((await kit.create(inst({ restore: unsafeFile }), ctx())).reason).toMatch(/^Error 108001: restore program .* is not safe to run as root: group or others may write it \(mode 0775\)/);
    const openDir = join(dir, `open-${_runner.replace(/\W/g, '')}`);
    mkdirSync(openDir, { mode: 0o777 });
    chmodSync(openDir, 0o777);
    const inOpenDir = join(openDir, 'remove');
    writeFileSync(inOpenDir, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    expect((await kit.extend(inst({ remove: inOpenDir }), ctx())).reason).toMatch(/^Error 108001: remove program .* group or others may write directory .*open-/);
    // The sticky bit (as on /tmp) makes a shared directory safe: others cannot replace the file.
    chmodSync(openDir, 0o1777);
    expect(await kit.create(inst({ remove: inOpenDir }), ctx())).toMatchObject({ ok: true });
    if (process.getuid?.() === 0) {
      const foreign = script('foreign', 'exit 0');
      chownSync(foreign, 65534, 65534);
      expect((await kit.create(inst({ quickCheck: foreign }), ctx())).reason).toMatch(/^Error 108001: quickCheck program .* owned by uid 65534, not root/);
    }
  });

  it('refuses missing or non-executable programs; no recover program means no local recovery', async () => {
    expect(kit.validate({ ...inst({}), info: { restore: '/bin/true' } })).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    expect(kit.validate(inst({ quickCheck: 'relative.sh' })).reason).toMatch(/absolute/);
    expect(kit.validate(inst({ restoreTimeoutMs: 'soon' })).reason).toMatch(/restoreTimeoutMs/);
    expect((await kit.create(inst({ remove: join(dir, 'missing') }), ctx())).reason).toMatch(/does not exist or is not executable: it does not exist/);
    const plain = script('plain', 'exit 0');
    chmodSync(plain, 0o644);
    expect((await kit.create(inst({ remove: plain }), ctx())).reason).toMatch(/remove program .* does not exist or is not executable: it is not executable \(mode 0644\)/);
    expect(await kit.recover(inst({}), ctx())).toMatchObject({ ok: false, recoveryClass: 'move-elsewhere' });
    expect(await kit.quickCheck(inst({}), 0, ctx())).toMatchObject({ ok: true, reason: 'not monitored (no quickCheck program)' });
  });
});

describe('executor time limit', () => {
  it('fails a kit action that never answers and aborts its signal', async () => {
    let seen: AbortSignal | undefined;
    // Own properties over a real gen/app kit: the methods not overridden stay the kit's own.
    const hung: Kit = Object.assign(Object.create(new AppKit()) as Kit, {
      app: 'test/hang',
      timeLimits: DEFAULT_TIME_LIMITS,
      supportsRecover: false,
      maxCheckDepth: 0 as const,
      validate: () => ok(),
      restore: (_i: ResourceInstance, c: ActionContext) => {
        seen = c.signal;
        return new Promise<ActionResult>(() => undefined);
      },
    });
    const ac = new AbortController();
    const r = await runKitAction(hung, inst({}), { type: 'runAction', actionId: 1, tag: 'web', action: 'restore', timeLimitMs: 200 }, ctx(ac.signal), ac);
    expect(r).toMatchObject({ ok: false, recoveryClass: 'move-elsewhere', reason: 'restore of web timed out after 200 ms' });
    expect(seen?.aborted).toBe(true);
  });
});
