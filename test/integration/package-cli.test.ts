// The vigil CLI for people and scripts, and the seeds' command behaviour, against a real vigild:
// --version, a one-line usage hint on a bad command or option, --json errors as one JSON object
// on stdout (also with no agent), extend refusing to take every default without a terminal,
// sys_remove's 424 form and comm-path removal, net_remove with no options, -d to an unknown system.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDaemonBuilt, runVigil, startVigild, stopAll, writeNodeConfig, type VigildHandle } from './helpers/vigild-proc.js';

let root: string;
let d: VigildHandle;
const v = (...args: string[]) => runVigil(d.socket, args);

beforeAll(async () => {
  ensureDaemonBuilt();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-cli-'));
  d = await startVigild('BENHOGAN', path.join(root, 'ben'), writeNodeConfig(path.join(root, 'ben'), 'BENHOGAN'));
});
afterAll(async () => {
  await stopAll();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('vigil for people and scripts', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };
    const r = await v('--version');
    expect([r.code, r.stdout]).toEqual([0, `${pkg.version}\n`]);
  });

  it('a bad command or option gets the error and one usage line, exit 2', async () => {
    const cmd = await v('no_such_command');
    expect(cmd.code).toBe(2);
    expect(cmd.stderr.trimEnd().split('\n')).toEqual(["error: unknown command 'no_such_command'", expect.stringMatching(/^usage: vigil .*vigil --help/)]);
    const opt = await v('sys_list', '--bogus');
    expect(opt.code).toBe(2);
    expect(opt.stderr.trimEnd().split('\n')).toEqual(["error: unknown option '--bogus'", expect.stringMatching(/^usage: vigil sys_list /)]);
    // The CLI's own commands (extend, keygen, standby ...) answer the same way.
    const local = await v('extend', '-t');
    expect([local.code, local.stderr.trimEnd().split('\n')]).toEqual([2, ["error: option '-t <tag>' argument missing", expect.stringMatching(/^usage: vigil extend .*vigil extend --help/)]]);
    const sub = await v('standby', 'status', '--bogus');
    expect([sub.code, sub.stderr.trimEnd().split('\n')]).toEqual([2, ["error: unknown option '--bogus'", expect.stringMatching(/^usage: vigil standby status .*vigil standby status --help/)]]);
  });

  it('--json errors are one JSON object on stdout with the exit code: refused, usage, no agent', async () => {
    const refused = await v('sys_remove', '-s', 'BENHOGAN', '--json');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ exitCode: 1, error: { number: 424 } });
    const usage = await v('--json', 'sys_list', '--bogus');
    expect([usage.code, JSON.parse(usage.stdout)]).toEqual([2, { exitCode: 2, error: { number: 0, message: "unknown option '--bogus'" } }]);
    // Also a subcommand of one of the CLI's own commands: nothing on stderr.
    const sub = await v('--json', 'standby', 'status', '--bogus');
    expect([sub.code, JSON.parse(sub.stdout), sub.stderr]).toEqual([2, { exitCode: 2, error: { number: 0, message: "unknown option '--bogus'" } }, '']);
    const none = await runVigil(path.join(root, 'nobody.sock'), ['sys_list', '--json']);
    expect(none.code).toBe(3);
    expect(JSON.parse(none.stdout)).toEqual({ exitCode: 3, error: { number: 0, message: expect.stringMatching(/cannot reach vigild/) } });
    expect(none.stderr).toBe('');
  });

  it('extend without a terminal and without --accept-defaults refuses instead of taking the defaults', async () => {
    await v('create', '-a', 'gen/app', '-t', 'app1', '-i', 'app1', '--restore', '/bin/true', '--remove', '/bin/true', '--quick-check', '/bin/true');
    const r = await v('extend', '-t', 'app1');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/extend: no answer for "Target server.*stdin is not a terminal and ended; give the values as options or --accept-defaults/);
    // create's own usage number, as the seeds give it (the other tasks' is 000002).
    const noKit = await v('create', '-t', 'app2', '-i', 'app2');
    expect([noKit.code, noKit.stderr]).toEqual([expect.any(Number), expect.stringMatching(/Error 000012: Usage error: the recovery kit \(-a gen\/app, gen\/filesys, \.\.\.\) is not specified/)]);
    expect(noKit.code).not.toBe(0);
    const j = await v('extend', '--json');
    expect([j.code, JSON.parse(j.stdout).error.message]).toEqual([2, expect.stringMatching(/no answer for "Tag to extend"/)]);
  });
});

describe("the seeds' commands", () => {
  it('sys_remove of the local system prints the *ERROR* (No. 424) line scripts grep for', async () => {
    const r = await v('sys_remove', '-s', 'BENHOGAN');
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')).toContain(`*ERROR* (No. 424) can't remove entry for local system "BENHOGAN"`);
  });

  it('sys_remove -s takes the comm paths along; net_remove with no options clears paths to removed systems; -d to an unknown system is refused', async () => {
    expect((await v('net_create', '-S', 'GPLAYER', '-T', 'TCP', '-l', '127.0.0.1', '-r', '127.0.0.9', '-P', '17399')).code).toBe(0);
    expect((await v('net_create', '-S', 'TIGER', '-T', 'TCP', '-l', '127.0.0.1', '-r', '127.0.0.8', '-P', '17398')).code).toBe(0);
    expect((await v('net_list')).stdout.trim().split('\n')).toHaveLength(2);
    expect((await v('sys_remove', '-s', 'GPLAYER')).code).toBe(0);
    expect((await v('net_list')).stdout).toMatch(/^BENHOGAN TIGER TCP/);
    expect((await v('net_list')).stdout.trim().split('\n')).toHaveLength(1);
    const again = await v('net_remove');
    expect([again.code, again.stdout, again.stderr]).toEqual([0, '', '']);
    const gone = await v('sys_list', '-d', 'GPLAYER');
    expect([gone.code, gone.stderr]).toEqual([1, 'sys_list: Error: system "GPLAYER" is not in sys_list; -d names a system of this cluster\n']);
  });

  it('ins_remove accepts -v -I -N -G', async () => {
    expect((await v('ins_create', '-a', 'gen', '-r', 'app', '-t', 'child', '-i', '/c')).code).toBe(0);
    expect((await v('ins_create', '-a', 'gen', '-r', 'app', '-t', 'parent', '-i', '/p')).code).toBe(0);
    expect((await v('dep_create', '-p', 'parent', '-c', 'child')).code).toBe(0);
    const r = await v('ins_remove', '-t', 'child', '-v', '-G');
    expect([r.code, r.stdout]).toEqual([0, 'removed child\nremoved parent\n']);
    expect((await v('ins_remove', '-t', 'child', '-I', '-N')).code).toBe(0);
    expect((await v('ins_remove', '-t', 'child')).stderr).toMatch(/Error 000019/);
  });
});
