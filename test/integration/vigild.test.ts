// Real vigild processes on this host driven by the real `vigil` CLI: the command set over the
// admin socket, exit codes, the root-only socket, clean SIGTERM shutdown, persistence across
// restarts, and the LCD part of the seed-002 procedure (a server reinstalled from scratch).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALIAS_COMMAND_NAMES } from '../../src/cli/aliases.js';
import { Lcd } from '../../src/lcd/lcd.js';
import {
  canConnect,
  ensureDaemonBuilt,
  runVigil,
  startVigild,
  stopAll,
  VIGIL,
  waitFor,
  writeNodeConfig,
  type CliResult,
} from './helpers/vigild-proc.js';
import { prepareUnprivilegedCli, type UnprivilegedCli } from './helpers/unprivileged-cli.js';

// Running a client as uid 65534 needs root and setpriv; without them the test reports skipped.
const canDropPrivileges =
  process.geteuid?.() === 0 && spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status === 0;
if (!canDropPrivileges) console.log('vigild.test: non-root refusal tests skipped: needs root and setpriv');

let root: string;
// The CLI and node as uid 65534 can load them, wherever this checkout lives.
let unprivileged: UnprivilegedCli | undefined;
beforeAll(() => {
  ensureDaemonBuilt();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-vigild-'));
  if (canDropPrivileges) unprivileged = prepareUnprivilegedCli();
});
afterAll(async () => {
  await stopAll();
  unprivileged?.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

function expectOk(r: CliResult): CliResult {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r;
}

describe('vigild and the vigil CLI', () => {
  it('serves the command set, with exit codes 0/1/2/3, and shuts down cleanly on SIGTERM', async () => {
    const dir = path.join(root, 'one');
    const conf = writeNodeConfig(dir, 'alpha');
    const d = await startVigild('alpha', dir, conf);
    const v = (...args: string[]) => runVigil(d.socket, args);

    expect(expectOk(await v('sys_list')).stdout).toBe('alpha\n');
    expectOk(await v('net_create', '-S', 'beta', '-T', 'TCP', '-l', '127.0.0.1', '-r', '127.0.0.2', '-P', '17365'));
    expectOk(await v('ins_create', '-a', 'gen', '-r', 'app', '-t', 'web', '-i', '/srv/web'));
    expectOk(await v('eqv_create', '-t', 'web', '-S', 'beta', '-r', '10'));
    expect(expectOk(await v('eqv_list', '-f:')).stdout).toBe('alpha:web:beta:web:SHARED:1:10\n');
    expect(JSON.parse(expectOk(await v('net_list', '--json')).stdout)).toMatchObject([{ type: 'TCP', port: 17365 }]);
    expect(expectOk(await v('lcdstatus')).stdout).toMatch(/web\s+gen\/app\s+OSU\s+intelligent\s+prio 1; beta:web\(10\)/);

    const local = await v('sys_remove', '-s', 'alpha');
    expect(local.code).toBe(1);
    expect(local.stderr).toMatch(/\*ERROR\* \(No\. 424\) can't remove entry for local system "alpha"/);
    const bad = await v('eqv_create', '-t', 'web', '-S', 'beta', '-r', '1000');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/from 1 to 999/);
    const usage = await v('eqv_list', '-Z');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown option '-Z'/);
    expect((await v('no_such_cmd')).code).toBe(2);
    const help = await v('eqv_list', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/-d <destsys>[\s\S]*-f <C>/);
    const remote = await v('sys_list', '-d', 'beta');
    expect(remote.code).toBe(3);

    // Without --socket or $VIGIL_ADMIN_SOCKET the CLI finds the socket in the daemon's config file.
    const viaConfig = spawnSync(process.execPath, [VIGIL, 'sys_list'], {
      env: { ...process.env, VIGIL_ADMIN_SOCKET: '', VIGIL_CONFIG: conf },
      encoding: 'utf8',
    });
    expect([viaConfig.status, viaConfig.stdout]).toEqual([0, 'alpha\nbeta\n']);

    // Invoked through a symlink named like the command, as the seeds' tools are.
    const link = path.join(dir, 'eqv_list');
    fs.symlinkSync(VIGIL, link);
    const viaLink = await runVigil(d.socket, ['-t', 'web'], { argv0: link });
    expect(viaLink.stdout).toBe('alpha web beta web SHARED 1 10\n');

    // Installed aliases: executables named like the commands.
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'sys_list'), '#!/bin/sh\necho not ours\n', { mode: 0o755 });
    const inst = spawnSync(process.execPath, [VIGIL, 'aliases', '--dir', bin], { encoding: 'utf8' });
    expect(inst.status).toBe(1); // one file was not ours and is left alone
    expect(inst.stderr).toMatch(/sys_list exists and was not installed by vigil/);
    expect(inst.stdout).toContain(`installed ${ALIAS_COMMAND_NAMES.length - 1} command aliases`);
    expect(ALIAS_COMMAND_NAMES).toContain('perform_action');
    // Generic task words are never installed as executables of their own.
    expect(fs.existsSync(path.join(bin, 'create'))).toBe(false);
    expect(fs.existsSync(path.join(bin, 'delete'))).toBe(false);
    const aliased = spawnSync(path.join(bin, 'eqv_list'), ['-t', 'web', '-f', ','], { env: { ...process.env, VIGIL_ADMIN_SOCKET: d.socket }, encoding: 'utf8' });
    expect([aliased.status, aliased.stdout]).toEqual([0, 'alpha,web,beta,web,SHARED,1,10\n']);
    const local424 = spawnSync(path.join(bin, 'sys_remove'), ['-s', 'alpha'], { env: { ...process.env, VIGIL_ADMIN_SOCKET: d.socket }, encoding: 'utf8' });
    expect([local424.status, local424.stderr]).toEqual([1, expect.stringMatching(/\*ERROR\* \(No\. 424\)/)]);
    spawnSync(process.execPath, [VIGIL, 'aliases', '--dir', bin, '--remove'], { encoding: 'utf8' });
    expect(fs.readdirSync(bin)).toEqual(['sys_list']);

    // A malformed request line is answered with a usage error; the daemon keeps serving.
    const garbage = await new Promise<string>((resolve) => {
      const c = net.connect(d.socket, () => c.write('not json\n'));
      let s = '';
      c.on('data', (b) => (s += b.toString()));
      c.on('close', () => resolve(s));
    });
    expect(JSON.parse(garbage)).toMatchObject({ exitCode: 2, stderr: expect.stringMatching(/malformed request/) });
    expectOk(await v('sys_list'));

    d.proc.kill('SIGTERM');
    expect(await d.exited).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(d.socket)).toBe(false);
    expect(d.output()).toMatch(/"msg":"agent stopped"/);
    const unreachable = await v('sys_list');
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/cannot reach vigild/);

    // Everything survives a restart, including after a kill -9 (stale socket is cleared).
    const d2 = await startVigild('alpha', dir, conf);
    expect(expectOk(await v('eqv_list')).stdout).toBe('alpha web beta web SHARED 1 10\n');
    d2.proc.kill('SIGKILL');
    await d2.exited;
    expect(fs.existsSync(d.socket)).toBe(true);
    const d3 = await startVigild('alpha', dir, conf);
    expect(expectOk(await v('sys_list')).stdout).toBe('alpha\nbeta\n');
    d3.proc.kill('SIGTERM');
    expect((await d3.exited).code).toBe(0);
  });

  it.skipIf(!canDropPrivileges)('refuses a non-root user on the admin socket (needs root and setpriv)', async () => {
    const dir = path.join(root, 'perm');
    const conf = writeNodeConfig(dir, 'gamma');
    const d = await startVigild('gamma', dir, conf);
    const runDir = path.dirname(d.socket);
    expect(fs.statSync(runDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(d.socket).mode & 0o777).toBe(0o600);
    // Let the unprivileged user reach the directory, so the socket's own mode is what is tested.
    fs.chmodSync(dir, 0o711);
    fs.chmodSync(path.dirname(dir), 0o711);
    fs.chmodSync(runDir, 0o711);
    const u = unprivileged!;
    const denied = await runVigil(d.socket, ['sys_list'], { wrapper: u.wrapper, node: u.node, argv0: u.cli, cwd: '/' });
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/permission denied on .*admin\.sock: the admin socket is for root only/);
    expect(denied.stdout).toBe('');
    expectOk(await runVigil(d.socket, ['sys_list'])); // root still gets in
    d.proc.kill('SIGTERM');
    await d.exited;
    // A socket directory that others can enter is refused at start, not silently used.
    const again = await startVigild('gamma', dir, conf, false);
    const res = await again.exited;
    expect(res.code).toBe(1);
    expect(again.output()).toMatch(/admin socket directory .* must be a directory owned by uid 0 with mode 0700 \(found uid 0, mode 711\)/);
    fs.chmodSync(dir, 0o700);
    fs.chmodSync(path.dirname(dir), 0o700);
  });

  it.skipIf(!canDropPrivileges)('refuses a non-root peer by SO_PEERCRED when the socket file itself is open to all (needs root and setpriv)', async () => {
    const dir = path.join(root, 'peercred');
    const conf = writeNodeConfig(dir, 'epsilon');
    const d = await startVigild('epsilon', dir, conf);
    const runDir = path.dirname(d.socket);
    // Take the first wall (file modes) down entirely: only the peer check is left.
    fs.chmodSync(dir, 0o711);
    fs.chmodSync(path.dirname(dir), 0o711);
    fs.chmodSync(runDir, 0o711);
    fs.chmodSync(d.socket, 0o666);
    try {
      const u = unprivileged!;
      const denied = await runVigil(d.socket, ['net_create', '-S', 'beta', '-T', 'TCP', '-l', '127.0.0.1', '-r', '127.0.0.2'], {
        wrapper: u.wrapper,
        node: u.node,
        argv0: u.cli,
        cwd: '/',
      });
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/^Error: the admin socket is for root only; refused uid 65534 \(pid \d+\)\n$/);
      expect(denied.stdout).toBe('');
      await waitFor(() => /"peer":\{"pid":\d+,"uid":65534,"gid":65534\}[^\n]*admin connection refused: peer is not root/.test(d.output()), 'the refusal, with the peer pid/uid, in the daemon log');
      // The daemon keeps serving root, and the refused request changed nothing.
      expect(expectOk(await runVigil(d.socket, ['sys_list'])).stdout).toBe('epsilon\n');
      expect(expectOk(await runVigil(d.socket, ['net_list'])).stdout).not.toMatch(/beta/);
    } finally {
      fs.chmodSync(dir, 0o700);
      fs.chmodSync(path.dirname(dir), 0o700);
      d.proc.kill('SIGTERM');
      await d.exited;
    }
  });

  it('refuses an invalid configuration naming the key and the rule', async () => {
    const dir = path.join(root, 'badconf');
    const conf = writeNodeConfig(dir, 'delta', { LCMHBEATTIME: 'soon' });
    const d = await startVigild('delta', dir, conf, false);
    expect((await d.exited).code).toBe(78); // EX_CONFIG: the unit does not restart on it
    expect(d.output()).toMatch(/LCMHBEATTIME="soon": must be a number of seconds/);
  });
});

describe('seed 002 at the LCD/command level: a server reinstalled from scratch', () => {
  it('survivor cleans up (eqv_remove, sys_remove, net_remove, lcdsync) and the new server is re-registered', async () => {
    const a = await startVigild('BENHOGAN', path.join(root, 'ben'), writeNodeConfig(path.join(root, 'ben'), 'BENHOGAN'));
    const gDir = path.join(root, 'gpl');
    const gConf = writeNodeConfig(gDir, 'GPLAYER');
    let g = await startVigild('GPLAYER', gDir, gConf);
    const A = (...args: string[]) => runVigil(a.socket, args);
    const G = (...args: string[]) => runVigil(g.socket, args);

    // The cluster as configured before the failure.
    for (const [cli, self, other, l, r] of [[A, 'BENHOGAN', 'GPLAYER', '127.0.0.1', '127.0.0.2'], [G, 'GPLAYER', 'BENHOGAN', '127.0.0.2', '127.0.0.1']] as const) {
      expectOk(await cli('net_create', '-S', other, '-T', 'TCP', '-l', l, '-r', r));
      expectOk(await cli('net_create', '-S', other, '-T', 'TTY', '-D', '/dev/ttyS1', '-b', '19200'));
      expectOk(await cli('ins_create', '-a', 'gen', '-r', 'filesys', '-t', 'Vol.E', '-i', '/mnt/e'));
      expectOk(await cli('ins_create', '-a', 'gen', '-r', 'app', '-t', 'LK1-APP', '-i', '/srv/app'));
      expectOk(await cli('dep_create', '-p', 'LK1-APP', '-c', 'Vol.E'));
      const [p, q] = self === 'BENHOGAN' ? ['1', '10'] : ['10', '1'];
      expectOk(await cli('eqv_create', '-t', 'LK1-APP', '-p', p, '-S', other, '-r', q, '-e', 'SHARED'));
      expectOk(await cli('eqv_create', '-t', 'Vol.E', '-p', p, '-S', other, '-r', q, '-e', 'SHARED'));
    }

    // GPLAYER's OS is reinstalled: its agent and its whole state are gone.
    g.proc.kill('SIGKILL');
    await g.exited;
    fs.rmSync(gDir, { recursive: true, force: true });

    // On the survivor, the seed's steps.
    expect(expectOk(await A('eqv_list')).stdout).toBe(
      'BENHOGAN LK1-APP GPLAYER LK1-APP SHARED 1 10\nBENHOGAN Vol.E GPLAYER Vol.E SHARED 1 10\n',
    );
    const early = await A('sys_remove', '-s', 'GPLAYER');
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/still has 2 equivalencies/);
    expect(expectOk(await A('eqv_remove', '-s', 'BENHOGAN', '-t', 'LK1-APP', '-S', 'GPLAYER', '-e', 'SHARED')).stdout).toBe('');
    expectOk(await A('eqv_remove', '-s', 'BENHOGAN', '-t', 'Vol.E', '-S', 'GPLAYER', '-e', 'SHARED'));
    expect(expectOk(await A('eqv_list')).stdout).toBe('');
    expect(expectOk(await A('sys_list')).stdout).toBe('BENHOGAN\nGPLAYER\n');
    expect((await A('sys_remove', '-s', 'BENHOGAN')).stderr).toMatch(/\*ERROR\* \(No\. 424\)/);
    expectOk(await A('sys_remove', '-s', 'GPLAYER'));
    expect(expectOk(await A('sys_list')).stdout).toBe('BENHOGAN\n');
    // sys_remove took GPLAYER's comm paths with it; the seeds' net_remove (no options) has nothing left.
    expect(expectOk(await A('net_list')).stdout).toBe('');
    expectOk(await A('net_remove'));
    expect(expectOk(await A('net_list')).stdout).toBe('');
    expectOk(await A('lcdsync'));
    // The hierarchies stay on the survivor, now unprotected.
    expect(expectOk(await A('ins_list', '-f:')).stdout.split('\n').filter(Boolean).map((l) => l.split(':')[3])).toEqual(['Vol.E', 'LK1-APP']);
    expect(expectOk(await A('lcdstatus')).stdout).toMatch(/LK1-APP\s+gen\/app\s+OSU\s+intelligent\s+unprotected/);

    // The reinstalled server starts from nothing and is connected again with new comm paths.
    g = await startVigild('GPLAYER', gDir, writeNodeConfig(gDir, 'GPLAYER'));
    expect(expectOk(await G('sys_list')).stdout).toBe('GPLAYER\n');
    expect(expectOk(await G('ins_list')).stdout).toBe('');
    expectOk(await A('net_create', '-S', 'GPLAYER', '-T', 'TCP', '-l', '127.0.0.1', '-r', '127.0.0.3'));
    expectOk(await G('net_create', '-S', 'BENHOGAN', '-T', 'TCP', '-l', '127.0.0.3', '-r', '127.0.0.1'));
    // Each node has its own key here (writeNodeConfig), so the path is not confirmed: UNKNOWN,
    // DEAD with the reason once GPLAYER refused BENHOGAN's handshake.
    expect(expectOk(await A('net_list')).stdout).toMatch(/^BENHOGAN GPLAYER TCP 1 (UNKNOWN|DEAD \(handshake refused by peer\)) 127\.0\.0\.1 127\.0\.0\.3 7365\n$/);
    expect(expectOk(await G('sys_list')).stdout).toBe('GPLAYER\nBENHOGAN\n');

    // Durable on the survivor after a clean restart.
    a.proc.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    const onDisk = Lcd.readFile(path.join(a.stateDir, 'lcd.json'))!;
    expect(onDisk.equivalencies).toEqual([]);
    expect(onDisk.commPaths.map((p) => (p.type === 'TCP' ? p.remoteAddress : p.type))).toEqual(['127.0.0.3']);
    g.proc.kill('SIGTERM');
    expect((await g.exited).code).toBe(0);
    await waitFor(async () => !(await canConnect(g.socket)), 'GPLAYER socket closed');
  });
});
