// The LCD's state directory with real vigild processes: one vigild per state directory (a
// second one is refused at start, naming the pid that holds the lock, and the first one's
// changes are kept); a missing lcd.json on a node that was initialised stops the start with a
// clear message, and only the administrator's --lcd-recover or --lcd-init gets past it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lcd } from '../../src/lcd/lcd.js';
import { ensureDaemonBuilt, runVigil, startVigild, stopAll, writeNodeConfig, type CliResult } from './helpers/vigild-proc.js';

let root: string;
beforeAll(() => {
  ensureDaemonBuilt();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-lcd-state-'));
});
afterAll(async () => {
  await stopAll();
  fs.rmSync(root, { recursive: true, force: true });
});

function expectOk(r: CliResult): CliResult {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

describe('the LCD state directory under real vigild processes', () => {
  it('refuses a second vigild on the same state directory, naming the pid that holds it; the first keeps every change', async () => {
    const first = await startVigild('alpha', path.join(root, 'a'), writeNodeConfig(path.join(root, 'a'), 'alpha'));
    expectOk(await runVigil(first.socket, ['ins_create', '-a', 'gen', '-r', 'app', '-t', 'before', '-i', '/srv/before']));
    // Another configuration (its own admin socket) on the same state directory.
    const conf2 = writeNodeConfig(path.join(root, 'b'), 'alpha', { VIGIL_STATE_DIR: first.stateDir });
    const second = await startVigild('alpha-2', path.join(root, 'b'), conf2, false);
    const res = await second.exited;
    expect(res.code).toBe(1);
    expect(second.output()).toContain(`the LCD in ${first.stateDir} is in use by process ${first.proc.pid}`);
    expect(second.output()).toMatch(/only one vigild may run on a state directory/);
    // The first still serves and its changes, before and after, are on disk.
    expectOk(await runVigil(first.socket, ['ins_create', '-a', 'gen', '-r', 'app', '-t', 'after', '-i', '/srv/after']));
    first.proc.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(Lcd.readFile(path.join(first.stateDir, 'lcd.json'))!.instances.map((i) => i.tag)).toEqual(['before', 'after']);
    // The lock goes with its holder: now the second configuration starts.
    const again = await startVigild('alpha-2', path.join(root, 'b'), conf2);
    expect(expectOk(await runVigil(again.socket, ['ins_list', '-f:'])).stdout).toMatch(/before[\s\S]*after/);
    again.proc.kill('SIGKILL'); // a crashed holder leaves no stale lock either
    await again.exited;
    const third = await startVigild('alpha', path.join(root, 'a'), first.configFile);
    third.proc.kill('SIGTERM');
    await third.exited;
  });

  it('refuses to start without lcd.json once the node was initialised; --lcd-recover and --lcd-init are the way on', async () => {
    const dir = path.join(root, 'missing');
    const conf = writeNodeConfig(dir, 'beta');
    const d = await startVigild('beta', dir, conf);
    expectOk(await runVigil(d.socket, ['ins_create', '-a', 'gen', '-r', 'app', '-t', 'kept', '-i', '/srv/kept']));
    d.proc.kill('SIGTERM');
    await d.exited;
    fs.rmSync(path.join(d.stateDir, 'lcd.json')); // deleted, or its file system not mounted

    const refused = await startVigild('beta', dir, conf, false);
    expect((await refused.exited).code).toBe(78); // waits for the administrator: the unit does not restart on it
    expect(refused.output()).toMatch(new RegExp(`the LCD in ${d.stateDir} is missing .*but this node's database was created there before`));
    expect(refused.output()).toMatch(/--lcd-recover.*--lcd-init/s);
    expect(fs.existsSync(path.join(d.stateDir, 'lcd.json'))).toBe(false); // nothing created behind the administrator's back

    // --lcd-recover: the newest kept generation plus the journal: nothing lost here.
    const recovered = await startVigild('beta', dir, conf, true, ['--lcd-recover']);
    expect(expectOk(await runVigil(recovered.socket, ['ins_list', '-f:'])).stdout).toMatch(/kept/);
    expect(expectOk(await runVigil(recovered.socket, ['lcdstatus'])).stdout).toMatch(/LCD recovered: .*lcd\.json is missing/);
    expect(recovered.output()).toMatch(/was damaged or incomplete; running with generation \d+ rebuilt from lcd\.json\.1/);
    recovered.proc.kill('SIGTERM');
    await recovered.exited;

    // --lcd-init: an empty database, only when lcd.json is really gone.
    const refusedInit = await startVigild('beta', dir, conf, false, ['--lcd-init']);
    expect((await refusedInit.exited).code).toBe(1);
    expect(refusedInit.output()).toMatch(/--lcd-init: the LCD .*lcd\.json exists/);
    fs.rmSync(path.join(d.stateDir, 'lcd.json'));
    const fresh = await startVigild('beta', dir, conf, true, ['--lcd-init']);
    expect(expectOk(await runVigil(fresh.socket, ['ins_list', '-f:'])).stdout).toBe('');
    fresh.proc.kill('SIGTERM');
    await fresh.exited;
  });
});
