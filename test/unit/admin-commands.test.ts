// The core administration commands, run through an agent's command table over an LCD on the
// memory platform (no socket, no addon): output formats of the seeds, error numbers, and "nothing changes on error".
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerCoreCommands } from '../../src/admin/commands/index.js';
import type { AgentContext } from '../../src/admin/context.js';
import type { AdminReply, AdminRequest } from '../../src/admin/protocol.js';
import { AdminCommands } from '../../src/admin/registry.js';
import { buildConfig } from '../../src/common/config.js';
import { Lcd } from '../../src/lcd/lcd.js';
import { createMemoryPlatform } from '../../src/platform/memory/index.js';
import type { DurableFiles } from '../../src/platform/platform.js';
import { memoryDisk } from '../helpers/memory-disk.js';

const commands = new AdminCommands();
registerCoreCommands(commands);
/** What the LCD made durable, mirrored to the real file so reopening and fileText() see it. */
let diskFiles: DurableFiles;

let dir: string;
let ctx: AgentContext;

/** Parse a seed-style command line ("eqv_remove -s A -t T -fX -v") into a request and run it. */
async function run(line: string, extra: Partial<AdminRequest> = {}): Promise<AdminReply> {
  const words = line.trim().split(/\s+/);
  const options: Record<string, string | boolean> = {};
  const args: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (/^-[A-Za-z]$/.test(w)) {
      const next = words[i + 1];
      if (next !== undefined && !/^-[A-Za-z]/.test(next)) {
        options[w[1]!] = next;
        i++;
      } else options[w[1]!] = true;
    } else if (/^-[A-Za-z]./.test(w)) options[w[1]!] = w.slice(2);
    else args.push(w);
  }
  return commands.dispatch({ id: 7, command: words[0]!, options, args, ...extra }, ctx);
}

function fileText(): string {
  return fs.readFileSync(path.join(dir, 'lcd.json'), 'utf8');
}

/** Assert the reply failed with the error number and that neither memory nor disk changed. */
async function expectRefused(line: string, number: number | null, stderr: RegExp, exitCode = 1): Promise<void> {
  const before = { mem: JSON.stringify(ctx.lcd.snapshot()), disk: fileText() };
  const r = await run(line);
  expect(r.exitCode, r.stderr).toBe(exitCode);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(stderr);
  if (number !== null) expect((r.data as { error: { number: number } }).error.number).toBe(number);
  expect(JSON.stringify(ctx.lcd.snapshot())).toBe(before.mem);
  expect(fileText()).toBe(before.disk);
}

async function okRun(line: string): Promise<AdminReply> {
  const r = await run(line);
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  expect(r.id).toBe(7);
  return r;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-admin-'));
  diskFiles = memoryDisk(dir).files;
  const lcd = Lcd.open({ files: diskFiles, dir, localSystem: 'BENHOGAN2008' });
  ctx = { lcd, config: buildConfig({ VIGIL_NODE_NAME: 'BENHOGAN2008' }).config, localSystem: 'BENHOGAN2008', log: pino({ level: 'silent' }) };
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function seedCluster(): Promise<void> {
  await okRun('net_create -S GPLAYER2008 -T TCP -l 10.200.8.25 -r 10.200.8.26');
  await okRun('net_create -S GPLAYER2008 -T TCP -l 10.201.8.25 -r 10.201.8.26 -p 5 -P 7400');
  await okRun('net_create -S GPLAYER2008 -T TTY -D /dev/ttyS1 -b 115200');
  await okRun('ins_create -a gen -r app -t LK1-BENHOGAN2K8 -i /srv/app -v {"restore":"/bin/true"}');
  await okRun('ins_create -a gen -r filesys -t Vol.E -i /mnt/e -s automatic -I ISP');
  await okRun('dep_create -p LK1-BENHOGAN2K8 -c Vol.E');
  await okRun('eqv_create -t LK1-BENHOGAN2K8 -S GPLAYER2008 -p 1 -r 10 -e SHARED');
  await okRun('eqv_create -t Vol.E -S GPLAYER2008 -r 10');
}

describe('listing formats', () => {
  it('eqv_list prints SYS TAG OTHERSYS OTHERTAG SHARED PRIO OTHERPRIO and honours -fC and filters', async () => {
    await seedCluster();
    expect((await okRun('eqv_list')).stdout).toBe(
      'BENHOGAN2008 LK1-BENHOGAN2K8 GPLAYER2008 LK1-BENHOGAN2K8 SHARED 1 10\nBENHOGAN2008 Vol.E GPLAYER2008 Vol.E SHARED 1 10\n',
    );
    expect((await okRun('eqv_list -t Vol.E -f:')).stdout).toBe('BENHOGAN2008:Vol.E:GPLAYER2008:Vol.E:SHARED:1:10\n');
    expect((await okRun('eqv_list -s GPLAYER2008')).stdout).toBe('');
    expect((await okRun('eqv_list -e SHARED -S GPLAYER2008')).stdout.split('\n').length).toBe(3);
  });

  it('sys_list prints one name per line; net_list one path per line', async () => {
    await seedCluster();
    expect((await okRun('sys_list')).stdout).toBe('BENHOGAN2008\nGPLAYER2008\n');
    expect((await okRun('net_list')).stdout).toBe(
      'BENHOGAN2008 GPLAYER2008 TCP 1 UNKNOWN 10.200.8.25 10.200.8.26 7365\n' +
        'BENHOGAN2008 GPLAYER2008 TTY 2 UNKNOWN /dev/ttyS1 115200\n' +
        'BENHOGAN2008 GPLAYER2008 TCP 5 UNKNOWN 10.201.8.25 10.201.8.26 7400\n',
    );
    expect((await okRun('net_list -T tty -f,')).stdout).toBe('BENHOGAN2008,GPLAYER2008,TTY,2,UNKNOWN,/dev/ttyS1,115200\n');
  });

  it('ins_list shows a state change queued before it, not the committed state it replaces', async () => {
    await seedCluster();
    expect((await okRun('ins_list -t Vol.E -f|')).stdout).toMatch(/\|ISP\|/);
    // The engine decided (a write under way, not awaited): the next ins_list must see it.
    const write = ctx.lcd.setInstanceState('Vol.E', 'OSF', 'stood still');
    expect((await okRun('ins_list -t Vol.E -f|')).stdout).toMatch(/\|OSF\|/);
    await write;
  });

  it('ins_list and dep_list, with -R and -C/-P/-c/-p', async () => {
    await seedCluster();
    await okRun('ins_create -a gen -r app -t other -i /other');
    expect((await okRun('ins_list -R LK1-BENHOGAN2K8 -f|')).stdout).toBe(
      'BENHOGAN2008|gen|app|LK1-BENHOGAN2K8|/srv/app|OSU|intelligent|{"restore":"/bin/true"}\n' +
        'BENHOGAN2008|gen|filesys|Vol.E|/mnt/e|ISP|automatic|\n',
    );
    expect((await okRun('ins_list -r filesys')).stdout).toMatch(/^BENHOGAN2008 gen filesys Vol.E /);
    expect((await okRun('dep_list')).stdout).toBe('BENHOGAN2008 LK1-BENHOGAN2K8 Vol.E\n');
    expect((await okRun('dep_list -C Vol.E')).stdout).toBe('');
    expect((await okRun('dep_list -P Vol.E')).stdout).toBe('BENHOGAN2008 LK1-BENHOGAN2K8 Vol.E\n');
    expect((await okRun('dep_list -c Vol.E')).stdout).toBe('BENHOGAN2008 LK1-BENHOGAN2K8 Vol.E\n');
    expect((await okRun('dep_list -p Vol.E')).stdout).toBe('');
  });

  it('lcdstatus shows systems, paths and resources with states; --json data is structured', async () => {
    await seedCluster();
    ctx.lcd.setSystemState('GPLAYER2008', 'ALIVE');
    const r = await okRun('lcdstatus');
    expect(r.stdout).toMatch(/BENHOGAN2008 \(local\)\s+ALIVE/);
    expect(r.stdout).toMatch(/GPLAYER2008\s+ALIVE/);
    expect(r.stdout).toMatch(/TTY\s+2\s+UNKNOWN\s+\/dev\/ttyS1 115200/);
    expect(r.stdout).toMatch(/Vol\.E\s+gen\/filesys\s+ISP\s+automatic\s+prio 1; GPLAYER2008:Vol\.E\(10\)/);
    const j = (await okRun('eqv_list')).data as { otherPriority: number }[];
    expect(j.map((e) => e.otherPriority)).toEqual([10, 10]);
  });
});

describe('validation: clear errors, seed numbers, nothing changed', () => {
  it('sys_remove refuses the local system with error 424', async () => {
    await expectRefused('sys_remove -s BENHOGAN2008', 424, /^Process: sys_remove\(\d+\)\n\*ERROR\* \(No\. 424\) can't remove entry for local system "BENHOGAN2008"\n$/);
  });
  it('-d naming a system that is not in sys_list is refused before anything is forwarded', async () => {
    let forwarded = 0;
    ctx.forward = async (_dest, req) => {
      forwarded++;
      return { id: req.id, exitCode: 0, stdout: '', stderr: '' };
    };
    const r = await run('sys_remove -s X', { destsys: 'NOBODY' });
    expect([r.exitCode, r.stderr]).toEqual([1, 'sys_remove: Error: system "NOBODY" is not in sys_list; -d names a system of this cluster\n']);
    expect(forwarded).toBe(0);
  });
  it('ins_create: missing tag and id (000011), missing tag (000030), duplicate tag or id (000014), bad tag', async () => {
    await seedCluster();
    await expectRefused('ins_create -a gen -r app', 11, /Error 000011: Both Tag and ID name not specified/);
    await expectRefused('ins_create -a gen -r app -i /x', 30, /Error 000030: create: tag name not specified/);
    await expectRefused('ins_create -a gen -r app -t Vol.E -i /new', 14, /Error 000014: Resource with either matching tag Vol.E or ID exists on BENHOGAN2008 \(the tag is in use\)/);
    await expectRefused('ins_create -a gen -r app -t new -i /mnt/e', 14, /Error 000014: Resource with either matching tag new or ID exists on BENHOGAN2008 \(ID \/mnt\/e is in use\)/);
    await expectRefused('ins_create -a gen -r app -t bad*tag', 0, /a tag is 1-256 characters from letters, digits and - _ \. \//);
    await expectRefused('ins_create -a gen -r app -t ok -s sometimes', 0, /must be intelligent or automatic/);
    const before = fileText();
    const multi = await commands.dispatch({ id: 1, command: 'ins_create', options: { a: 'gen', r: 'app', t: 'ml', v: 'a\nb' }, args: [] }, ctx);
    expect([multi.exitCode, multi.stderr]).toEqual([1, expect.stringMatching(/kit information is one line/)]);
    expect(fileText()).toBe(before);
  });
  it('eqv_create: priority outside 1-999, priority already used, unknown tag, unknown system', async () => {
    await seedCluster();
    await okRun('ins_create -a gen -r app -t third -i /third');
    await expectRefused('eqv_create -t third -S GPLAYER2008 -r 1000', 0, /priority is a whole number from 1 to 999/);
    await expectRefused('eqv_create -t third -S GPLAYER2008 -r 0', 0, /from 1 to 999/);
    await expectRefused('eqv_create -t third -S GPLAYER2008 -r x', 0, /must be a whole number/);
    await expectRefused('eqv_create -t third -S GPLAYER2008 -p 5 -r 5', 0, /priority 5 is already used for resource "third"/);
    await okRun('sys_create -s TIGER');
    await expectRefused('eqv_create -t Vol.E -S TIGER -r 10', 0, /priority 10 is already used for resource "Vol.E"/);
    await expectRefused('eqv_create -t Vol.E -S TIGER -r 1', 0, /priority 1 is already used/);
    await expectRefused('eqv_create -t nosuch -S GPLAYER2008 -r 20', 0, /resource "nosuch" does not exist/);
    await expectRefused('eqv_create -t Vol.E -S NOBODY -r 20', 0, /system "NOBODY" is not registered/);
    await expectRefused('eqv_create -t Vol.E -S GPLAYER2008 -r 20', 0, /already has a SHARED equivalency on "GPLAYER2008"/);
    await expectRefused('eqv_create -t Vol.E -S TIGER -r 20 -e EXCLUSIVE', 0, /must be SHARED/);
    await okRun('eqv_create -t Vol.E -S TIGER -r 20');
  });
  it('net_create / net_remove / dep_* / ins_setstate validation', async () => {
    await seedCluster();
    await expectRefused('net_create -S GPLAYER2008 -T TCP -l 10.200.8.25 -r 10.200.8.26', 0, /already exists/);
    await expectRefused('net_create -S GPLAYER2008 -T TCP -l host-a -r 10.0.0.2', 0, /IPv4 or IPv6 address/);
    await expectRefused('net_create -S GPLAYER2008 -T TCP -l 10.0.0.1 -r 10.0.0.2 -p 1', 0, /priority already used/);
    await expectRefused('net_create -S GPLAYER2008 -T TCP -l 10.0.0.1 -r 10.0.0.2 -p 100', 0, /from 1 to 99/);
    await expectRefused('net_create -S GPLAYER2008 -T TTY -D /dev/ttyS2 -b 1234', 0, /baud rate/);
    await expectRefused('net_create -S GPLAYER2008 -T IPX -D /dev/x', 0, /must be TCP, TTY or DISK/);
    await expectRefused('net_create -S BENHOGAN2008 -T TTY -D /dev/ttyS3', 0, /two different systems/);
    await expectRefused('net_create -S GPLAYER2008 -T TCP -l 10.0.0.1', null, /missing -r <raddr>/, 2);
    await expectRefused('net_remove -S GPLAYER2008 -p 42', 0, /no comm path matches/);
    await expectRefused('net_remove -T TCP', null, /missing -S <othersys>/, 2);
    await expectRefused('dep_create -p Vol.E -c LK1-BENHOGAN2K8', 0, /dependency cycle/);
    await expectRefused('dep_create -p Vol.E -c Vol.E', 0, /cannot depend on itself/);
    await expectRefused('dep_create -p Vol.E -c ghost', 0, /resource "ghost" does not exist/);
    await expectRefused('dep_list -C ghost', 19, /Error 000019: Resource not found on local server BENHOGAN2008: ghost$/m);
    await expectRefused('ins_list -R ghost', 19, /Error 000019/);
    await expectRefused('ins_remove -t ghost', 19, /Error 000019: Resource not found on local server BENHOGAN2008: ghost \(no resource instance matches\)/);
    await expectRefused('dep_remove -p Vol.E -c LK1-BENHOGAN2K8', 0, /no dependency/);
    await expectRefused('ins_setstate -t Vol.E -S UP', 0, /must be ISP, ISU, OSU or OSF/);
    await expectRefused('ins_setas -t ghost -s automatic', 0, /does not exist/);
    await expectRefused('sys_remove -s GPLAYER2008', 0, /still has 2 equivalencies/);
    await expectRefused('eqv_list -Z 1', null, /unknown option -Z/, 2);
    await expectRefused('no_such_command', null, /unknown command/, 2);
    await expectRefused('ins_remove', null, /give at least one of/, 2);
  });
  it('-d to another system without cluster messaging is unreachable (exit 3)', async () => {
    await seedCluster();
    const r = await run('sys_list', { destsys: 'GPLAYER2008' });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/no comm path to system "GPLAYER2008"/);
    expect((await run('sys_list', { destsys: 'BENHOGAN2008' })).stdout).toBe('BENHOGAN2008\nGPLAYER2008\n');
  });
  it('-d uses ctx.forward with the request minus destsys', async () => {
    await seedCluster();
    const seen: [string, AdminRequest][] = [];
    ctx.forward = async (dest, req) => {
      seen.push([dest, req]);
      return { id: req.id, exitCode: 0, stdout: 'GPLAYER2008\n', stderr: '' };
    };
    const r = await run('sys_list', { destsys: 'GPLAYER2008' });
    expect(r.stdout).toBe('GPLAYER2008\n');
    expect(seen[0]![0]).toBe('GPLAYER2008');
    expect(seen[0]![1].destsys).toBeUndefined();
  });
});

describe('mutations', () => {
  it('ins_setas, ins_setstate, ins_remove -R cascading dependencies and equivalencies', async () => {
    await seedCluster();
    await okRun('ins_create -a gen -r app -t shared-child -i /shared');
    await okRun('ins_create -a gen -r app -t other-top -i /ot');
    await okRun('dep_create -p Vol.E -c shared-child');
    await okRun('dep_create -p other-top -c shared-child');
    await okRun('ins_setas -t Vol.E -s INTELLIGENT');
    await okRun('ins_setstate -t Vol.E -S OSF -m probe-failed');
    expect(ctx.lcd.getInstance('Vol.E')).toMatchObject({ switchback: 'intelligent', state: 'OSF' });
    const r = await okRun('ins_remove -R LK1-BENHOGAN2K8 -v');
    expect(r.stdout).toBe('removed LK1-BENHOGAN2K8\nremoved Vol.E\n');
    expect(ctx.lcd.instances().map((i) => i.tag).sort()).toEqual(['other-top', 'shared-child']);
    expect(ctx.lcd.dependencies()).toEqual([{ system: 'BENHOGAN2008', parentTag: 'other-top', childTag: 'shared-child' }]);
    expect(ctx.lcd.equivalencies()).toEqual([]);
  });
  it('ins_remove -t removes the resources that depend on it too; -N only the instance; -I finds nothing without error', async () => {
    await seedCluster();
    await okRun('ins_create -a gen -r app -t top -i /top');
    await okRun('dep_create -p top -c LK1-BENHOGAN2K8');
    const n = await okRun('ins_remove -t Vol.E -N -v');
    expect(n.stdout).toBe('removed Vol.E\n');
    expect(ctx.lcd.instances().map((i) => i.tag).sort()).toEqual(['LK1-BENHOGAN2K8', 'top']);
    const r = await okRun('ins_remove -t LK1-BENHOGAN2K8 -v');
    expect(r.stdout).toBe('removed LK1-BENHOGAN2K8\nremoved top\n');
    expect(ctx.lcd.instances()).toEqual([]);
    await expectRefused('ins_remove -t LK1-BENHOGAN2K8', 19, /no resource instance matches/);
    expect((await okRun('ins_remove -t LK1-BENHOGAN2K8 -I')).data).toEqual([]);
  });
  it('ins_remove -G also removes the equivalents on the other systems through their agents', async () => {
    await seedCluster();
    const seen: [string, AdminRequest][] = [];
    ctx.forward = async (dest, req) => {
      seen.push([dest, req]);
      return { id: req.id, exitCode: 0, stdout: `removed ${String(req.options.t)}\n`, stderr: '' };
    };
    const r = await okRun('ins_remove -t Vol.E -G -v');
    expect(r.stdout).toBe('removed LK1-BENHOGAN2K8\nremoved Vol.E\nremoved GPLAYER2008:LK1-BENHOGAN2K8\nremoved GPLAYER2008:Vol.E\n');
    expect(seen.map(([d, q]) => [d, q.command, q.options.t])).toEqual([
      ['GPLAYER2008', 'ins_remove', 'LK1-BENHOGAN2K8'],
      ['GPLAYER2008', 'ins_remove', 'Vol.E'],
    ]);
    ctx.forward = undefined;
    await okRun('ins_create -a gen -r app -t x -i /x');
    await okRun('eqv_create -t x -S GPLAYER2008 -r 10');
    await expectRefused('ins_remove -t x -G', 0, /-G needs the cluster layer/);
  });
  it('lcdsync writes runtime state only when it changed; changes survive reopen', async () => {
    await seedCluster();
    expect((await okRun('lcdsync')).data).toMatchObject({ wrote: false });
    ctx.lcd.setSystemState('GPLAYER2008', 'DEAD');
    expect(Lcd.readFile(path.join(dir, 'lcd.json'))!.systems[1]!.state).toBe('UNKNOWN');
    expect((await okRun('lcdsync')).data).toMatchObject({ wrote: true });
    const again = Lcd.open({ files: diskFiles, dir, localSystem: 'BENHOGAN2008' });
    expect(again.getSystem('GPLAYER2008')!.state).toBe('DEAD');
    expect(again.equivalencies()).toHaveLength(2);
  });
});

describe('seed 002: cleaning up after a reinstalled server', () => {
  it('eqv_list, eqv_remove -e SHARED, sys_remove, net_list/net_remove, lcdsync, then re-register', async () => {
    await seedCluster();
    expect((await okRun('eqv_list')).stdout.trim().split('\n')).toHaveLength(2);
    expect((await okRun('eqv_remove -s BENHOGAN2008 -t LK1-BENHOGAN2K8 -S GPLAYER2008 -e SHARED')).stdout).toBe('');
    await okRun('eqv_remove -t Vol.E -S GPLAYER2008 -e SHARED');
    expect((await okRun('eqv_list')).stdout).toBe('');
    expect((await okRun('sys_list')).stdout).toBe('BENHOGAN2008\nGPLAYER2008\n');
    expect((await okRun('net_list')).stdout.trim().split('\n')).toHaveLength(3);
    await okRun('sys_remove -s GPLAYER2008');
    expect((await okRun('sys_list')).stdout).toBe('BENHOGAN2008\n');
    // sys_remove took the system's comm paths with it; the seeds' net_remove then finds nothing to do.
    expect((await okRun('net_list')).stdout).toBe('');
    expect((await okRun('net_remove')).stdout).toBe('');
    expect((await okRun('net_remove -S GPLAYER2008')).data).toEqual([]);
    await okRun('lcdsync');
    // The reinstalled server comes back with new comm paths.
    await okRun('net_create -S GPLAYER2008 -T TCP -l 10.200.8.25 -r 10.200.8.36');
    expect((await okRun('sys_list')).stdout).toBe('BENHOGAN2008\nGPLAYER2008\n');
    expect((await okRun('ins_list')).stdout.split('\n')).toHaveLength(3);
    const reopened = Lcd.open({ files: diskFiles, dir, localSystem: 'BENHOGAN2008' });
    expect(reopened.commPaths().map((p) => (p.type === 'TCP' ? p.remoteAddress : ''))).toEqual(['10.200.8.36']);
  });
});

describe("seed 002's bare net_remove", () => {
  it('removes the comm paths to systems no longer in sys_list (an LCD written before sys_remove took them along), and only those', async () => {
    await okRun('net_create -S GPLAYER2008 -T TCP -l 10.200.8.25 -r 10.200.8.26');
    await okRun('net_create -S GPLAYER2008 -T TTY -D /dev/ttyS1 -b 115200');
    await okRun('net_create -S TIGER -T TCP -l 10.200.8.25 -r 10.200.8.27');
    // What a sys_remove -s GPLAYER2008 that left the paths behind would have stored.
    const doc = ctx.lcd.snapshot();
    fs.writeFileSync(path.join(dir, 'lcd.json'), JSON.stringify({ ...doc, systems: doc.systems.filter((s) => s.name !== 'GPLAYER2008') }));
    fs.rmSync(path.join(dir, 'lcd.journal'), { force: true });
    ctx = { ...ctx, lcd: Lcd.open({ files: diskFiles, dir, localSystem: 'BENHOGAN2008' }) };
    expect((await okRun('sys_list')).stdout).toBe('BENHOGAN2008\nTIGER\n');
    expect((await okRun('net_list')).stdout.trim().split('\n')).toHaveLength(3);
    const r = await okRun('net_remove');
    expect(r.stdout).toBe('');
    expect((r.data as Array<{ otherSystem: string; type: string }>).map((p) => `${p.otherSystem} ${p.type}`).sort()).toEqual(['GPLAYER2008 TCP', 'GPLAYER2008 TTY']);
    expect((await okRun('net_list')).stdout).toMatch(/^BENHOGAN2008 TIGER TCP [^\n]*\n$/);
    expect(Lcd.open({ files: diskFiles, dir, localSystem: 'BENHOGAN2008' }).commPaths().map((p) => p.otherSystem)).toEqual(['TIGER']);
    // Nothing left to clean up: a second run succeeds and changes nothing.
    expect((await okRun('net_remove')).data).toEqual([]);
  });
});

describe('on a stalled disk', () => {
  it('refuses changes with the stuck write named, warns in lcdstatus, and works again after release', async () => {
    const mem = createMemoryPlatform();
    mem.kernel.addDirectory(dir);
    ctx = { ...ctx, lcd: Lcd.open({ files: mem.durableFiles, dir, localSystem: 'BENHOGAN2008', writeTimeoutMs: 50 }) };
    await okRun('sys_create -s GPLAYER2008');
    mem.kernel.hang(dir);
    try {
      const timedOut = await run('ins_create -a gen -r app -t web -i /srv/web');
      expect(timedOut.exitCode).toBe(1);
      expect(timedOut.stderr).toMatch(/^ins_create: Error: could not write the LCD .*lcd\.json within 50 ms; "ins_create web" was not made: EPROBETIMEOUT/);
      const refused = await run('sys_remove -s GPLAYER2008');
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toContain(`the LCD in ${dir} cannot be written: an earlier write has been stuck in the kernel for`);
      expect((await okRun('lcdstatus')).stdout).toMatch(/^WARNING: an LCD write has been stuck in the kernel for \d+\.\d s; changes are refused until the disk holding .* answers\n/);
      expect((await okRun('ins_list')).stdout).toBe('');
    } finally {
      mem.kernel.release(dir);
    }
    const start = Date.now();
    while (ctx.lcd.stalled && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 5));
    expect((await okRun('lcdstatus')).stdout).not.toMatch(/WARNING/);
    await okRun('sys_remove -s GPLAYER2008');
    expect(ctx.lcd.systems().map((s) => s.name)).toEqual(['BENHOGAN2008']);
  });
});
