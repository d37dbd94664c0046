// Seed 002 end to end with the real cluster: two vigild processes joined by an authenticated TCP
// comm path; GPLAYER's OS is "reinstalled" (agent killed, state wiped); the survivor sees it
// DEAD, removes its equivalencies, the system and the comm paths as the seed describes, syncs;
// the reinstalled server (new address) is connected with new comm paths and both agents see
// each other ALIVE again and can run commands on each other with -d.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClusterSecret, writeKeyFile } from '../../src/cluster/cluster-key.js';
import { freePort } from './cluster/helpers.js';
import { ensureDaemonBuilt, runVigil, startVigild, stopAll, waitFor, writeNodeConfig, type CliResult, type VigildHandle } from './helpers/vigild-proc.js';

let root: string;
let keyFile: string;
beforeAll(() => {
  ensureDaemonBuilt();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-seed002-'));
  keyFile = path.join(root, 'cluster.key');
  writeKeyFile(keyFile, generateClusterSecret());
});
afterAll(async () => {
  await stopAll();
  fs.rmSync(root, { recursive: true, force: true });
});

function ok(r: CliResult): string {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

async function start(name: string): Promise<VigildHandle> {
  const dir = path.join(root, name);
  const conf = writeNodeConfig(dir, name, { VIGIL_KEY_FILE: keyFile, LCMHBEATTIME: '0.2', LCMNUMHBEATS: '3', VIGIL_LOG_LEVEL: 'info' });
  return startVigild(name, dir, conf);
}

async function stateOf(node: VigildHandle, system: string): Promise<string | undefined> {
  const r = await runVigil(node.socket, ['sys_list', '--json']);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as { name: string; state: string }[]).find((s) => s.name === system)?.state;
}

describe('seed 002 with real comm paths', () => {
  it('cleans up after a reinstalled server and rejoins it over new TCP comm paths', async () => {
    const port = await freePort();
    const ben = await start('BENHOGAN');
    let gpl = await start('GPLAYER');
    const A = (...a: string[]) => runVigil(ben.socket, a);
    let G = (...a: string[]) => runVigil(gpl.socket, a);

    ok(await A('net_create', '-S', 'GPLAYER', '-T', 'TCP', '-l', '127.0.0.1', '-r', '127.0.0.2', '-P', String(port)));
    ok(await G('net_create', '-S', 'BENHOGAN', '-T', 'TCP', '-l', '127.0.0.2', '-r', '127.0.0.1', '-P', String(port)));
    for (const [cli, other, p, q] of [[A, 'GPLAYER', '1', '10'], [G, 'BENHOGAN', '10', '1']] as const) {
      ok(await cli('ins_create', '-a', 'gen', '-r', 'app', '-t', 'LK1-APP', '-i', '/srv/app'));
      ok(await cli('eqv_create', '-t', 'LK1-APP', '-p', p, '-S', other, '-r', q, '-e', 'SHARED'));
    }
    await waitFor(async () => (await stateOf(ben, 'GPLAYER')) === 'ALIVE', 'BENHOGAN to see GPLAYER alive');
    expect(ok(await A('eqv_list', '-d', 'GPLAYER'))).toBe('GPLAYER LK1-APP BENHOGAN LK1-APP SHARED 10 1\n');
    expect(ok(await A('net_list'))).toMatch(/^BENHOGAN GPLAYER TCP 1 ALIVE 127\.0\.0\.1 127\.0\.0\.2 /);
    // Changes too can be made on the other agent with -d.
    ok(await A('ins_setas', '-d', 'GPLAYER', '-t', 'LK1-APP', '-s', 'automatic'));
    expect(ok(await G('ins_list', '-t', 'LK1-APP'))).toMatch(/ OSU automatic /);
    const refused = await A('sys_remove', '-d', 'GPLAYER', '-s', 'GPLAYER');
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringMatching(/\*ERROR\* \(No\. 424\) can't remove entry for local system "GPLAYER"/)]);

    // GPLAYER is reinstalled: agent gone, state gone.
    gpl.proc.kill('SIGKILL');
    await gpl.exited;
    fs.rmSync(path.join(root, 'GPLAYER'), { recursive: true, force: true });
    await waitFor(async () => (await stateOf(ben, 'GPLAYER')) === 'DEAD', 'BENHOGAN to see GPLAYER dead');
    expect((await A('eqv_list', '-d', 'GPLAYER')).code).toBe(3);

    // The seed's steps on the survivor.
    expect(ok(await A('eqv_list'))).toBe('BENHOGAN LK1-APP GPLAYER LK1-APP SHARED 1 10\n');
    ok(await A('eqv_remove', '-s', 'BENHOGAN', '-t', 'LK1-APP', '-S', 'GPLAYER', '-e', 'SHARED'));
    expect(ok(await A('eqv_list'))).toBe('');
    expect(ok(await A('sys_list'))).toBe('BENHOGAN\nGPLAYER\n');
    expect(ok(await A('net_list'))).toMatch(/^BENHOGAN GPLAYER TCP 1 DEAD /);
    ok(await A('sys_remove', '-s', 'GPLAYER'));
    // sys_remove took GPLAYER's comm path along; the seeds' net_remove (no options) finds nothing left.
    expect(ok(await A('net_list'))).toBe('');
    ok(await A('net_remove'));
    expect(ok(await A('net_list'))).toBe('');
    ok(await A('lcdsync'));

    // The reinstalled server comes back on a new address; new comm paths on both sides.
    gpl = await start('GPLAYER');
    G = (...a: string[]) => runVigil(gpl.socket, a);
    expect(ok(await G('sys_list'))).toBe('GPLAYER\n');
    const port2 = await freePort();
    ok(await A('net_create', '-S', 'GPLAYER', '-T', 'TCP', '-l', '127.0.0.1', '-r', '127.0.0.3', '-P', String(port2)));
    ok(await G('net_create', '-S', 'BENHOGAN', '-T', 'TCP', '-l', '127.0.0.3', '-r', '127.0.0.1', '-P', String(port2)));
    await waitFor(async () => (await stateOf(ben, 'GPLAYER')) === 'ALIVE' && (await stateOf(gpl, 'BENHOGAN')) === 'ALIVE', 'both to see each other alive');
    expect(ok(await A('net_list'))).toMatch(/^BENHOGAN GPLAYER TCP 1 ALIVE 127\.0\.0\.1 127\.0\.0\.3 /);
    expect(ok(await A('sys_list', '-d', 'GPLAYER'))).toBe('GPLAYER\nBENHOGAN\n');
    expect(ok(await G('ins_list', '-d', 'BENHOGAN', '-f:'))).toMatch(/^BENHOGAN:gen:app:LK1-APP:\/srv\/app:/);
    // Ready for the hierarchy to be re-extended: the resource is on BENHOGAN only, unprotected.
    expect(ok(await A('lcdstatus'))).toMatch(/LK1-APP\s+gen\/app\s+OSU\s+intelligent\s+unprotected/);

    for (const n of [ben, gpl]) {
      n.proc.kill('SIGTERM');
      expect((await n.exited).code).toBe(0);
    }
  });
});
