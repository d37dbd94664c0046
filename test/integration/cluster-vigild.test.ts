// The cluster inside real vigild processes: three agents on 127.0.0.1/.2/.3 with two TCP comm
// paths per pair and a TTY path (socat pty pair) between alpha and bravo, all created with
// `vigil net_create`. Checks that membership reaches the LCD (sys_list/net_list states), that
// `-d destsys` runs a command on another agent over the comm paths, that kill -9 of charlie is
// detected within LCMHBEATTIME x LCMNUMHBEATS + margin, that killing socat only loses the
// TTY path, and that restarting charlie's vigild (same state directory) and socat brings every
// path back on both survivors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { generateClusterSecret, writeKeyFile } from '../../src/cluster/cluster-key.js';
import { ensureDaemonBuilt, runVigil, startVigild, stopAll, writeNodeConfig, type VigildHandle } from './helpers/vigild-proc.js';
import { freePort, waitFor } from './cluster/helpers.js';
import { haveSocat, Socat } from './cluster/processes.js';

const HB_S = 0.25;
const MISSES = 4;
const MARGIN_MS = 1500;
const NAMES = ['alpha', 'bravo', 'charlie'] as const;
const ADDR = (name: string, i: number): string => `127.0.${i}.${NAMES.indexOf(name as never) + 1}`;

if (!haveSocat) console.warn('cluster-vigild: skipped, needs socat for the serial path');

describe.skipIf(!haveSocat)('cluster in vigild processes (needs socat)', () => {
  // Created in beforeAll so a skipped run leaves no temp dir behind.
  let dir = '';
  let keyFile = '';
  const nodes = new Map<string, VigildHandle>();
  let socat: Socat;
  const configs = new Map<string, string>();

  const vigil = (name: string, ...args: string[]) => runVigil(nodes.get(name)!.socket, args);
  const systemsOf = async (name: string, dest?: string): Promise<Array<{ name: string; state: string }>> => {
    const r = await vigil(name, 'sys_list', '--json', ...(dest ? ['-d', dest] : []));
    if (r.code !== 0) throw new Error(`sys_list on ${name} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Array<{ name: string; state: string }>;
  };
  /** pino lines of one daemon matching a message. */
  const logLines = (name: string, msg: string): Array<Record<string, unknown>> =>
    nodes.get(name)!.output().split('\n').filter((l) => l.includes(msg)).map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-cvd-'));
    keyFile = join(dir, 'cluster.key');
    ensureDaemonBuilt();
    writeKeyFile(keyFile, generateClusterSecret());
    socat = new Socat(join(dir, 'ttyA'), join(dir, 'ttyB'));
    await socat.ready();
    const port = await freePort();
    for (const n of NAMES) {
      const cfg = writeNodeConfig(join(dir, n), n, { VIGIL_KEY_FILE: keyFile, LCMHBEATTIME: String(HB_S), LCMNUMHBEATS: String(MISSES) });
      configs.set(n, cfg);
      nodes.set(n, await startVigild(n, join(dir, n), cfg));
    }
    for (const n of NAMES) {
      for (const o of NAMES) {
        if (o === n) continue;
        for (const i of [0, 1]) {
          const r = await vigil(n, 'net_create', '-S', o, '-T', 'TCP', '-l', ADDR(n, i), '-r', ADDR(o, i), '-P', String(port), '-p', String(i + 1));
          expect(r.code, r.stderr).toBe(0);
        }
      }
    }
    for (const [n, o, dev] of [['alpha', 'bravo', 'ttyA'], ['bravo', 'alpha', 'ttyB']] as const) {
      const r = await vigil(n, 'net_create', '-S', o, '-T', 'TTY', '-D', join(dir, dev), '-b', '115200', '-p', '10');
      expect(r.code, r.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    await stopAll();
    if (socat && !socat.exited) socat.child.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every agent sees the others ALIVE in its LCD, and net_list shows the paths ALIVE', async () => {
    for (const n of NAMES) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const sys = await systemsOf(n);
        if (NAMES.every((o) => sys.find((s) => s.name === o)?.state === 'ALIVE')) break;
        if (Date.now() > deadline) throw new Error(`${n} does not see everyone ALIVE: ${JSON.stringify(sys)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const r = await vigil('alpha', 'net_list', '--json');
    expect(JSON.parse(r.stdout)).toHaveLength(5);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ps = JSON.parse((await vigil('alpha', 'net_list', '--json')).stdout) as Array<{ type: string; state: string }>;
      if (ps.every((p) => p.state === 'ALIVE')) break;
      if (Date.now() > deadline) throw new Error(`paths not all ALIVE: ${JSON.stringify(ps)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  it('-d destsys runs the command on the other agent over the comm paths', async () => {
    const created = await vigil('alpha', 'sys_create', '-s', 'zulu', '-d', 'bravo');
    expect(created.code, created.stderr).toBe(0);
    const remote = await systemsOf('alpha', 'bravo');
    expect(remote.map((s) => s.name)).toContain('zulu');
    expect((await systemsOf('alpha')).map((s) => s.name)).not.toContain('zulu');
    const bad = await vigil('alpha', 'sys_list', '-d', 'nosuch');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/system "nosuch" is not in sys_list/);
  });

  it('kill -9 of charlie: alpha and bravo mark it DEAD within LCMHBEATTIME x LCMNUMHBEATS + margin', async () => {
    const killedAt = Date.now();
    nodes.get('charlie')!.proc.kill('SIGKILL');
    for (const n of ['alpha', 'bravo']) {
      // Earlier "dead" lines exist from start-up, when charlie's paths were not created yet.
      const after = () => logLines(n, 'cluster: system dead').filter((l) => l.system === 'charlie' && (l.time as number) >= killedAt);
      await waitFor(() => after().length > 0, 20_000, `${n} logs charlie dead`);
      const line = after()[0]!;
      const took = (line.time as number) - killedAt;
      console.log(`vigild ${n} declared charlie dead ${took} ms after kill -9 (limit ${HB_S * 1000 * MISSES} + ${MARGIN_MS})`);
      expect(took).toBeLessThanOrEqual(HB_S * 1000 * MISSES + MARGIN_MS);
      const sys = await systemsOf(n);
      expect(sys.find((s) => s.name === 'charlie')!.state).toBe('DEAD');
      expect(sys.find((s) => s.name === (n === 'alpha' ? 'bravo' : 'alpha'))!.state).toBe('ALIVE');
    }
  });

  it('killing socat loses only the TTY path: a warning, and bravo stays ALIVE', async () => {
    await socat.kill();
    await waitFor(() => logLines('alpha', 'lost comm path').some((l) => String(l.path).includes('/TTY/')), 20_000, 'alpha warns about TTY');
    const ps = JSON.parse((await vigil('alpha', 'net_list', '--json')).stdout) as Array<{ type: string; state: string; otherSystem: string }>;
    expect(ps.find((p) => p.type === 'TTY')!.state).toBe('DEAD');
    expect(ps.filter((p) => p.otherSystem === 'bravo' && p.type === 'TCP').every((p) => p.state === 'ALIVE')).toBe(true);
    expect((await systemsOf('alpha')).find((s) => s.name === 'bravo')!.state).toBe('ALIVE');
  });

  it('restarting charlie and socat: every path ALIVE again on alpha and bravo, charlie ALIVE', async () => {
    nodes.set('charlie', await startVigild('charlie', join(dir, 'charlie'), configs.get('charlie')!));
    socat = new Socat(join(dir, 'ttyA'), join(dir, 'ttyB'));
    await socat.ready();
    const restartedAt = Date.now();
    for (const n of NAMES) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const ps = JSON.parse((await vigil(n, 'net_list', '--json')).stdout) as Array<{ type: string; state: string }>;
        const sys = await systemsOf(n);
        // charlie's LCD survived the kill: it still holds its 4 TCP paths (alpha/bravo have 5).
        if (ps.length === (n === 'charlie' ? 4 : 5) && ps.every((p) => p.state === 'ALIVE') && NAMES.every((o) => sys.find((s) => s.name === o)?.state === 'ALIVE')) break;
        if (Date.now() > deadline) throw new Error(`${n}: not everything ALIVE after restart: ${JSON.stringify(ps)} ${JSON.stringify(sys)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    console.log(`vigild: all paths ALIVE again ${Date.now() - restartedAt} ms after charlie and socat restarted`);
  });
});
