// Key trouble an administrator must see, against real vigild processes on loopback:
//  - a peer holding another cluster key: net_list/lcdstatus say "DEAD (bad key)" on the side
//    that refuses it, and the failure is logged (once, rate-limited) with its source;
//  - an unreadable key file at start (mode 0644): the saved ALIVE states are shown as UNKNOWN
//    (no cluster key), commands that need the cluster fail with the reason on stderr, /healthz
//    answers 503 naming the cluster, and a chmod 600 is picked up without a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateClusterSecret, writeKeyFile } from '../../src/cluster/cluster-key.js';
import { ensureDaemonBuilt, runVigil, startVigild, stopAll, waitFor, writeNodeConfig, type VigildHandle } from './helpers/vigild-proc.js';
import { freePort } from './cluster/helpers.js';

const HB_S = 0.25;
const MISSES = 3;

describe('cluster key trouble is visible (vigild on loopback)', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-keytrouble-'));
    ensureDaemonBuilt();
  });
  afterAll(async () => {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function pair(tag: string, keys: { alpha: string; bravo: string }, metrics = false): Promise<{ nodes: Record<string, VigildHandle>; configs: Record<string, string>; metricsAt?: string; port: number; addr: (n: string) => string }> {
    const port = await freePort();
    const addr = (n: string) => `127.0.${tag}.${n === 'alpha' ? 1 : 2}`;
    const nodes: Record<string, VigildHandle> = {};
    const configs: Record<string, string> = {};
    const metricsAt = metrics ? `${addr('alpha')}:${await freePort()}` : undefined;
    for (const n of ['alpha', 'bravo'] as const) {
      const extra: Record<string, string> = { VIGIL_KEY_FILE: keys[n], LCMHBEATTIME: String(HB_S), LCMNUMHBEATS: String(MISSES) };
      if (metricsAt && n === 'alpha') extra.VIGIL_METRICS_ADDRESS = metricsAt;
      configs[n] = writeNodeConfig(join(dir, tag, n), n, extra);
      nodes[n] = await startVigild(n, join(dir, tag, n), configs[n]!);
    }
    return { nodes, configs, ...(metricsAt ? { metricsAt } : {}), port, addr };
  }
  const createPaths = async (p: Awaited<ReturnType<typeof pair>>) => {
    for (const [n, o] of [['alpha', 'bravo'], ['bravo', 'alpha']] as const) {
      const r = await runVigil(p.nodes[n]!.socket, ['net_create', '-S', o, '-T', 'TCP', '-l', p.addr(n), '-r', p.addr(o), '-P', String(p.port)]);
      expect(r.code, r.stderr).toBe(0);
    }
  };
  const netList = async (h: VigildHandle) => (await runVigil(h.socket, ['net_list'])).stdout;

  it('a peer with another key: "DEAD (bad key)" in net_list and lcdstatus, and one log line naming the source', async () => {
    const ka = join(dir, 'a.key');
    const kb = join(dir, 'b.key');
    writeKeyFile(ka, generateClusterSecret());
    writeKeyFile(kb, generateClusterSecret());
    const p = await pair('11', { alpha: ka, bravo: kb });
    await createPaths(p);
    // bravo accepts (alpha dials): it refuses alpha's Hello as not authentic.
    await waitFor(async () => (await netList(p.nodes.bravo!)).includes('DEAD (bad key)'), 'bravo: DEAD (bad key)', 15_000);
    expect((await runVigil(p.nodes.bravo!.socket, ['lcdstatus'])).stdout).toContain('DEAD (bad key)');
    const json = JSON.parse((await runVigil(p.nodes.bravo!.socket, ['net_list', '--json'])).stdout) as Array<{ state: string; reason?: string }>;
    expect(json[0]).toMatchObject({ state: 'DEAD', reason: 'bad key' });
    // alpha sees its Hello refused.
    await waitFor(async () => (await netList(p.nodes.alpha!)).includes('DEAD (handshake refused by peer)'), 'alpha: DEAD (handshake refused by peer)', 15_000);
    // alpha redials several times a second; the failure is logged once per minute per source.
    await new Promise((r) => setTimeout(r, 2000));
    const lines = p.nodes.bravo!.output().split('\n').filter((l) => l.includes('comm path authentication failure: bad key'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ source: expect.stringContaining(`tcp ${p.addr('alpha')} -> ${p.addr('bravo')}:${p.port}`), reason: 'bad_tag' });
  });

  it('an unreadable key file: UNKNOWN (no cluster key), commands say why, /healthz 503; chmod 600 recovers without a restart', async () => {
    const key = join(dir, 'shared.key');
    writeKeyFile(key, generateClusterSecret());
    const p = await pair('12', { alpha: key, bravo: key }, true);
    await createPaths(p);
    for (const n of ['alpha', 'bravo']) await waitFor(async () => /\bALIVE\b/.test(await netList(p.nodes[n]!)), `${n}: path ALIVE`);
    await waitFor(async () => (await fetch(`http://${p.metricsAt}/healthz`)).status === 200, 'healthz 200');
    // Stop both cleanly (the LCDs keep ALIVE as last-known), break the key's mode, start again.
    for (const n of ['alpha', 'bravo']) {
      p.nodes[n]!.proc.kill('SIGTERM');
      await p.nodes[n]!.exited;
    }
    chmodSync(key, 0o644);
    for (const n of ['alpha', 'bravo']) p.nodes[n] = await startVigild(n, join(dir, '12', n), p.configs[n]!);
    const a = p.nodes.alpha!;
    expect(await netList(a)).toContain('UNKNOWN (no cluster key)');
    expect(await netList(a)).not.toMatch(/\bALIVE\b/);
    const forwarded = await runVigil(a.socket, ['sys_list', '-d', 'bravo']);
    expect(forwarded.code).not.toBe(0);
    expect(forwarded.stderr).toMatch(/cluster key file .*shared\.key.* group or others/);
    const created = await runVigil(a.socket, ['net_create', '-S', 'bravo', '-T', 'TCP', '-l', '127.0.13.1', '-r', '127.0.13.2', '-P', String(p.port)]);
    expect(created.code).not.toBe(0);
    expect(created.stderr).toMatch(/cannot create a TCP comm path: cluster key file/);
    expect(JSON.parse((await runVigil(a.socket, ['net_list', '--json'])).stdout)).toHaveLength(1);
    expect((await runVigil(a.socket, ['lcdstatus'])).stdout).toMatch(/WARNING: comm paths cannot be authenticated/);
    const health = await fetch(`http://${p.metricsAt}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.text()).toMatch(/cluster: no cluster key: cluster key file .*0600/);
    // The administrator fixes the mode: picked up by the running daemons.
    const fixedAt = Date.now();
    chmodSync(key, 0o600);
    for (const n of ['alpha', 'bravo']) await waitFor(async () => /\bALIVE\b/.test(await netList(p.nodes[n]!)), `${n}: path ALIVE after chmod 600`, 15_000);
    await waitFor(async () => (await fetch(`http://${p.metricsAt}/healthz`)).status === 200, 'healthz 200 after chmod 600', 15_000);
    console.log(`key fixed with chmod 600: paths ALIVE and /healthz 200 again after ${Date.now() - fixedAt} ms, without a restart`);
  });
});
