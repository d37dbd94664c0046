// The DISK comm path between two real vigild on this host: alpha and bravo in their own network
// namespaces joined by one veth pair (a TCP comm path), and both writing and reading their slots
// on the same loop device (a DISK comm path; a loop device takes no SG_IO, so the path says it
// uses O_DIRECT). The veth link cut → TCP DEAD, the systems stay ALIVE through the disk; bravo
// killed → alpha declares it DEAD through the disk alone, in about LCMHBEATTIME x LCMNUMHBEATS.
// net_create -T DISK refuses a loop device holding an ext4 file system.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClusterSecret, writeKeyFile } from '../../src/cluster/cluster-key.js';
import { haveIp, haveRoot } from './cluster/processes.js';
import { canConnect, ensureDaemonBuilt, runVigil, VIGILD, writeNodeConfig } from './helpers/vigild-proc.js';

const haveLosetup = spawnSync('losetup', ['--version']).status === 0;
const haveMkfs = spawnSync('mkfs.ext4', ['-V']).status === 0;
const canRun = haveRoot && haveIp && haveLosetup && haveMkfs;
const reason = `needs root, iproute2, losetup and mkfs.ext4 (root=${haveRoot} ip=${haveIp} losetup=${haveLosetup} mkfs.ext4=${haveMkfs})`;
const HB_S = 0.5;
const MISSES = 4;

function run(cmd: string, ...args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

interface Agent { name: string; proc: ChildProcess; out: string; socket: string; exited: boolean }

describe.skipIf(!canRun)(canRun ? 'DISK comm path between two vigild on a loop device' : `DISK comm path on a loop device (skipped: ${reason})`, () => {
  let dir = '';
  const tag = `${(process.pid + 11) % 100000}`;
  const ns = { alpha: `vigil-da-${tag}`, bravo: `vigil-db-${tag}` };
  const link = { a: `vda-${tag}`, b: `vdb-${tag}`, addrA: '10.233.1.1', addrB: '10.233.1.2' };
  const loops: string[] = [];
  let loop = '';
  const agents = new Map<string, Agent>();
  const vigil = (n: string, ...args: string[]) => runVigil(agents.get(n)!.socket, args);
  const json = async <T>(n: string, ...args: string[]): Promise<T> => {
    const r = await vigil(n, ...args, '--json');
    if (r.code !== 0) throw new Error(`${args.join(' ')} on ${n}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  type NetRow = { type: string; state: string; device?: string };
  const pathOf = async (n: string, type: string) => (await json<NetRow[]>(n, 'net_list')).find((p) => p.type === type)!;
  const systemState = async (n: string, other: string) => (await json<Array<{ name: string; state: string }>>(n, 'sys_list')).find((s) => s.name === other)?.state;
  const pollUntil = async (what: string, cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> => {
    const end = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-dpl-'));
    const keyFile = join(dir, 'cluster.key');
    ensureDaemonBuilt();
    writeKeyFile(keyFile, generateClusterSecret());
    const img = join(dir, 'shared.img');
    writeFileSync(img, '');
    truncateSync(img, 8 << 20);
    loop = run('losetup', '-f', '--show', img).trim();
    loops.push(loop);
    for (const n of Object.values(ns)) {
      run('ip', 'netns', 'add', n);
      run('ip', '-n', n, 'link', 'set', 'lo', 'up');
    }
    run('ip', 'link', 'add', link.a, 'netns', ns.alpha, 'type', 'veth', 'peer', 'name', link.b, 'netns', ns.bravo);
    run('ip', '-n', ns.alpha, 'addr', 'add', `${link.addrA}/24`, 'dev', link.a);
    run('ip', '-n', ns.bravo, 'addr', 'add', `${link.addrB}/24`, 'dev', link.b);
    run('ip', '-n', ns.alpha, 'link', 'set', link.a, 'up');
    run('ip', '-n', ns.bravo, 'link', 'set', link.b, 'up');
    for (const name of ['alpha', 'bravo'] as const) {
      const cfg = writeNodeConfig(join(dir, name), name, { VIGIL_KEY_FILE: keyFile, LCMHBEATTIME: String(HB_S), LCMNUMHBEATS: String(MISSES) });
      const proc = spawn('ip', ['netns', 'exec', ns[name], process.execPath, VIGILD, '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
      const a: Agent = { name, proc, out: '', socket: join(dir, name, 'run', 'admin.sock'), exited: false };
      proc.stdout!.on('data', (c: Buffer) => (a.out += c.toString()));
      proc.stderr!.on('data', (c: Buffer) => (a.out += c.toString()));
      proc.on('exit', () => (a.exited = true));
      agents.set(name, a);
      await pollUntil(`${name} admin socket`, async () => {
        if (a.exited) throw new Error(`vigild ${name} exited:\n${a.out}`);
        return canConnect(a.socket);
      });
    }
    for (const [me, other, mine, theirs] of [['alpha', 'bravo', link.addrA, link.addrB], ['bravo', 'alpha', link.addrB, link.addrA]] as const) {
      let r = await vigil(me, 'net_create', '-S', other, '-T', 'TCP', '-l', mine, '-r', theirs, '-p', '1');
      expect(r.code, r.stderr).toBe(0);
      r = await vigil(me, 'net_create', '-S', other, '-T', 'DISK', '-D', loop, '-p', '2');
      expect(r.code, r.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    for (const a of agents.values()) if (!a.exited) a.proc.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    for (const n of Object.values(ns)) spawnSync('ip', ['netns', 'del', n]);
    for (const l of loops) spawnSync('losetup', ['-d', l]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('both paths ALIVE both ways; the DISK path says it uses O_DIRECT because SG_IO does not apply', async () => {
    for (const n of ['alpha', 'bravo']) {
      await pollUntil(`${n}: TCP and DISK ALIVE`, async () => (await pathOf(n, 'TCP')).state === 'ALIVE' && (await pathOf(n, 'DISK')).state === 'ALIVE');
    }
    const line = (await vigil('alpha', 'net_list', '-T', 'DISK')).stdout;
    // The kernel refuses SG_IO on a loop device with EINVAL (older kernels: ENOTTY).
    expect(line).toMatch(new RegExp(`^alpha bravo DISK 2 ALIVE ${loop} O_DIRECT: SG_IO does not apply to ${loop} \\((EINVAL|ENOTTY): not a SCSI device\\); O_DIRECT block I/O with O_DSYNC writes, slot \\d+$`, 'm'));
    expect(agents.get('alpha')!.out).toMatch(/disk comm path on \/dev\/loop\d+: SG_IO does not apply/);
    // The two systems took different slots of the same area.
    const slotOf = (n: string) => Number(/this system writes slot (\d+)/.exec(agents.get(n)!.out)?.[1]);
    expect(slotOf('alpha')).not.toBe(slotOf('bravo'));
  });

  it('TCP cut: the TCP path goes DEAD, the systems stay ALIVE through the disk', async () => {
    run('ip', '-n', ns.alpha, 'link', 'set', link.a, 'down');
    await pollUntil('TCP DEAD on both', async () => (await pathOf('alpha', 'TCP')).state === 'DEAD' && (await pathOf('bravo', 'TCP')).state === 'DEAD');
    await new Promise((r) => setTimeout(r, 3 * HB_S * MISSES * 1000));
    for (const [n, o] of [['alpha', 'bravo'], ['bravo', 'alpha']] as const) {
      expect(await systemState(n, o), `${n} sees ${o}`).toBe('ALIVE');
      expect((await pathOf(n, 'DISK')).state).toBe('ALIVE');
    }
  });

  it('bravo killed with TCP still cut: alpha declares it DEAD through the disk alone', async () => {
    const b = agents.get('bravo')!;
    const killedAt = Date.now();
    b.proc.kill('SIGKILL');
    let deadAt = 0;
    await pollUntil('bravo DEAD on alpha', async () => {
      if ((await systemState('alpha', 'bravo')) === 'DEAD') deadAt = Date.now();
      return deadAt > 0;
    }, 30_000);
    const ms = deadAt - killedAt;
    console.log(`integration disk-path-loop: DISK path alone, LCMHBEATTIME ${HB_S} s x ${MISSES}: bravo DEAD on alpha ${ms} ms after SIGKILL (limit ${HB_S * MISSES * 1000} ms + one interval + polling)`);
    expect(ms).toBeGreaterThanOrEqual(HB_S * (MISSES - 1) * 1000);
    expect(ms).toBeLessThan(HB_S * (MISSES + 2) * 1000 + 1000);
  });

  it('net_create -T DISK refuses a device with a file system over the area, and a non-device', async () => {
    const img = join(dir, 'ext4.img');
    writeFileSync(img, '');
    truncateSync(img, 8 << 20);
    run('mkfs.ext4', '-q', '-F', img);
    const l2 = run('losetup', '-f', '--show', img).trim();
    loops.push(l2);
    const r = await vigil('alpha', 'net_create', '-S', 'bravo', '-T', 'DISK', '-D', l2, '-p', '3');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${l2} cannot carry disk heartbeats: an ext2/3/4 file system covers the reserved area`);
    const r2 = await vigil('alpha', 'net_create', '-S', 'bravo', '-T', 'DISK', '-D', img, '-p', '3');
    expect(r2.stderr).toContain('not a block device or SCSI generic');
    expect((await json<NetRow[]>('alpha', 'net_list')).filter((p) => p.type === 'DISK')).toHaveLength(1);
  });
});
