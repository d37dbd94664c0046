// The netns scenario with real vigild agents: alpha and bravo in their own network namespaces,
// joined by two veth pairs (two TCP comm paths) and a socat pty pair (a TTY path), all created
// with `vigil net_create`. One veth link down → that path DEAD in net_list, bravo still ALIVE in
// sys_list, a warning in the log; socat killed too → TTY DEAD, still ALIVE over the other TCP
// path; link up and socat back → every path ALIVE again.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClusterSecret, writeKeyFile } from '../../src/cluster/cluster-key.js';
import { waitFor } from './cluster/helpers.js';
import { haveIp, haveRoot, haveSocat, Socat } from './cluster/processes.js';
import { canConnect, ensureDaemonBuilt, runVigil, VIGILD, writeNodeConfig } from './helpers/vigild-proc.js';

const canRun = haveRoot && haveIp && haveSocat;
if (!canRun) console.warn(`cluster-vigild-netns: skipped, needs root, iproute2 and socat (root=${haveRoot} ip=${haveIp} socat=${haveSocat})`);

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
}

interface Agent { name: string; proc: ChildProcess; out: string; socket: string; exited: boolean }

describe.skipIf(!canRun)('vigild comm paths across network namespaces (needs root, iproute2, socat)', () => {
  // Created in beforeAll so a skipped run leaves no temp dir behind.
  let dir = '';
  let keyFile = '';
  const tag = `${(process.pid + 7) % 100000}`;
  const ns = { alpha: `vigil-va-${tag}`, bravo: `vigil-vb-${tag}` };
  const links = [1, 2].map((i) => ({ a: `vva${i}-${tag}`, b: `vvb${i}-${tag}`, addrA: `10.232.${i}.1`, addrB: `10.232.${i}.2` }));
  const agents = new Map<string, Agent>();
  let socat: Socat | undefined;
  const vigil = (n: string, ...args: string[]) => runVigil(agents.get(n)!.socket, args);
  const json = async <T>(n: string, ...args: string[]): Promise<T> => {
    const r = await vigil(n, ...args, '--json');
    if (r.code !== 0) throw new Error(`${args.join(' ')} on ${n}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  type NetRow = { type: string; state: string; localAddress?: string };
  const paths = (n: string) => json<NetRow[]>(n, 'net_list');
  const systems = (n: string) => json<Array<{ name: string; state: string }>>(n, 'sys_list');
  const pollUntil = async (what: string, cond: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> => {
    const end = Date.now() + timeoutMs;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-cvn-'));
    keyFile = join(dir, 'cluster.key');
    ensureDaemonBuilt();
    writeKeyFile(keyFile, generateClusterSecret());
    ip('netns', 'add', ns.alpha);
    ip('netns', 'add', ns.bravo);
    for (const n of Object.values(ns)) ip('-n', n, 'link', 'set', 'lo', 'up');
    for (const l of links) {
      ip('link', 'add', l.a, 'netns', ns.alpha, 'type', 'veth', 'peer', 'name', l.b, 'netns', ns.bravo);
      ip('-n', ns.alpha, 'addr', 'add', `${l.addrA}/24`, 'dev', l.a);
      ip('-n', ns.bravo, 'addr', 'add', `${l.addrB}/24`, 'dev', l.b);
      ip('-n', ns.alpha, 'link', 'set', l.a, 'up');
      ip('-n', ns.bravo, 'link', 'set', l.b, 'up');
    }
    socat = new Socat(join(dir, 'ttyA'), join(dir, 'ttyB'));
    await socat.ready();
    for (const name of ['alpha', 'bravo'] as const) {
      const cfg = writeNodeConfig(join(dir, name), name, { VIGIL_KEY_FILE: keyFile, LCMHBEATTIME: '0.5', LCMNUMHBEATS: '4' });
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
    for (const [me, other, mine, theirs, dev] of [
      ['alpha', 'bravo', 'addrA', 'addrB', 'ttyA'],
      ['bravo', 'alpha', 'addrB', 'addrA', 'ttyB'],
    ] as const) {
      for (const [i, l] of links.entries()) {
        const r = await vigil(me, 'net_create', '-S', other, '-T', 'TCP', '-l', l[mine], '-r', l[theirs], '-p', String(i + 1));
        expect(r.code, r.stderr).toBe(0);
      }
      const r = await vigil(me, 'net_create', '-S', other, '-T', 'TTY', '-D', join(dir, dev), '-b', '115200', '-p', '10');
      expect(r.code, r.stderr).toBe(0);
    }
    for (const n of ['alpha', 'bravo']) await pollUntil(`${n}: all paths ALIVE`, async () => (await paths(n)).every((p) => p.state === 'ALIVE'), 60_000);
  });

  afterAll(async () => {
    for (const a of agents.values()) if (!a.exited) a.proc.kill('SIGKILL');
    await Promise.all([...agents.values()].map((a) => waitFor(() => a.exited, 20_000, `${a.name} exit`).catch(() => undefined)));
    if (socat && !socat.exited) socat.child.kill('SIGKILL');
    for (const n of Object.values(ns)) spawnSync('ip', ['netns', 'del', n]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('one veth link down: that path DEAD, bravo ALIVE, a warning logged', async () => {
    ip('-n', ns.alpha, 'link', 'set', links[0]!.a, 'down');
    await pollUntil('path 1 DEAD on alpha', async () => (await paths('alpha')).find((p) => p.localAddress === links[0]!.addrA)!.state === 'DEAD');
    expect((await paths('alpha')).find((p) => p.localAddress === links[1]!.addrA)!.state).toBe('ALIVE');
    expect((await systems('alpha')).find((s) => s.name === 'bravo')!.state).toBe('ALIVE');
    expect(agents.get('alpha')!.out).toMatch(/lost comm path bravo\/TCP\/10\.232\.1\.1-10\.232\.1\.2:\d+, 2 paths remain/);
    await pollUntil('bravo logs the warning too', async () => /lost comm path alpha\/TCP\/10\.232\.1\.2/.test(agents.get('bravo')!.out));
  });

  it('socat killed as well: TTY DEAD, still ALIVE over the second TCP path', async () => {
    await socat!.kill();
    await pollUntil('TTY DEAD on alpha', async () => (await paths('alpha')).find((p) => p.type === 'TTY')!.state === 'DEAD');
    await new Promise((r) => setTimeout(r, 2000));
    expect((await systems('alpha')).find((s) => s.name === 'bravo')!.state).toBe('ALIVE');
    expect((await systems('bravo')).find((s) => s.name === 'alpha')!.state).toBe('ALIVE');
    expect(agents.get('alpha')!.out).toMatch(/1 path remain/);
  });

  it('link up and socat back: every path ALIVE again', async () => {
    ip('-n', ns.alpha, 'link', 'set', links[0]!.a, 'up');
    socat = new Socat(join(dir, 'ttyA'), join(dir, 'ttyB'));
    await socat.ready();
    for (const n of ['alpha', 'bravo']) await pollUntil(`${n}: all paths ALIVE again`, async () => (await paths(n)).every((p) => p.state === 'ALIVE'), 60_000);
  });
});
