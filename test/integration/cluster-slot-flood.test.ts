// Connection-slot exhaustion against real vigild processes on loopback. alpha dials bravo over
// one TCP comm path; an attacker holds 1000 idle connections to bravo's cluster port from an
// address that is no comm path's remote address, and 300 more from alpha's own address. Then
// the established path is cut (`ss -K` on its ports). alpha's reconnect must complete its
// handshake within 2 heartbeat intervals, and neither side may declare a path or system dead.
// Also measures bravo's RSS under the flood.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateClusterSecret, writeKeyFile } from '../../src/cluster/cluster-key.js';
import { ensureDaemonBuilt, runVigil, startVigild, stopAll, waitFor, writeNodeConfig, type VigildHandle } from './helpers/vigild-proc.js';
import { freePort } from './cluster/helpers.js';

const HB_S = 0.5;
const MISSES = 3;
const ALPHA = '127.0.7.1';
const BRAVO = '127.0.7.2';
const STRANGER = '127.0.7.9';
const haveSsKill = process.getuid?.() === 0 && spawnSync('ss', ['-V']).status === 0;
if (!haveSsKill) console.warn('cluster-slot-flood: skipped, needs root and ss (ss -K cuts the path)');

interface LogLine { msg?: string; time?: number; path?: string; system?: string }
function logLines(h: VigildHandle, msg: string, since: number): LogLine[] {
  return h.output().split('\n').flatMap((l) => {
    try {
      const o = JSON.parse(l) as LogLine;
      return o.msg?.includes(msg) && (o.time ?? 0) >= since ? [o] : [];
    } catch {
      return [];
    }
  });
}

async function metric(endpoint: string, name: string, reason: string): Promise<number> {
  const text = await (await fetch(`http://${endpoint}/metrics`)).text();
  const m = new RegExp(`^${name}\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

describe.skipIf(!haveSsKill)('cluster port flood: a configured peer always completes its handshake (needs root, ss)', () => {
  let dir = '';
  let port = 0;
  let metricsAt = '';
  const nodes: Record<string, VigildHandle> = {};
  const flood: Socket[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-flood-'));
    ensureDaemonBuilt();
    const keyFile = join(dir, 'cluster.key');
    writeKeyFile(keyFile, generateClusterSecret());
    port = await freePort();
    metricsAt = `${BRAVO}:${await freePort()}`;
    for (const n of ['alpha', 'bravo']) {
      const extra: Record<string, string> = { VIGIL_KEY_FILE: keyFile, LCMHBEATTIME: String(HB_S), LCMNUMHBEATS: String(MISSES) };
      if (n === 'bravo') extra.VIGIL_METRICS_ADDRESS = metricsAt;
      const cfg = writeNodeConfig(join(dir, n), n, extra);
      nodes[n] = await startVigild(n, join(dir, n), cfg);
    }
    for (const [n, o, l, r] of [['alpha', 'bravo', ALPHA, BRAVO], ['bravo', 'alpha', BRAVO, ALPHA]] as const) {
      const res = await runVigil(nodes[n]!.socket, ['net_create', '-S', o, '-T', 'TCP', '-l', l, '-r', r, '-P', String(port)]);
      expect(res.code, res.stderr).toBe(0);
    }
    for (const n of ['alpha', 'bravo']) {
      await waitFor(async () => {
        const ps = JSON.parse((await runVigil(nodes[n]!.socket, ['net_list', '--json'])).stdout) as Array<{ state: string }>;
        return ps.length === 1 && ps[0]!.state === 'ALIVE';
      }, `${n}: path ALIVE`);
    }
  });
  afterAll(async () => {
    for (const s of flood) s.destroy();
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Opens `n` idle connections to bravo's cluster port from `from`; resolves once all were tried. */
  async function openIdle(from: string, n: number): Promise<{ connected: number }> {
    let connected = 0;
    await Promise.all(
      Array.from({ length: n }, () => new Promise<void>((resolve) => {
        const s = connect({ host: BRAVO, port, localAddress: from });
        flood.push(s);
        s.on('connect', () => {
          connected++;
          resolve();
        });
        s.on('error', () => resolve());
        s.on('close', () => resolve());
      })),
    );
    return { connected };
  }

  it('1000 idle connections from a stranger and 300 from the peer address, then ss -K: the path is back within 2 heartbeat intervals, nothing declared dead', async () => {
    const rssBefore = rssKiB(nodes.bravo!.proc.pid!);
    const stranger = await openIdle(STRANGER, 1000);
    const fromPeer = await openIdle(ALPHA, 300);
    const rssFlood = rssKiB(nodes.bravo!.proc.pid!);
    // The path's own connection: alpha's socket to bravo's port, found by alpha's pid.
    const listing = spawnSync('ss', ['-tnpH', 'state', 'established', `( src ${ALPHA} and dst ${BRAVO}:${port} )`], { encoding: 'utf8' }).stdout;
    const line = listing.split('\n').find((l) => l.includes(`pid=${nodes.alpha!.proc.pid},`));
    expect(line, listing).toBeDefined();
    const ephemeral = /127\.0\.7\.1:(\d+)/.exec(line!)![1]!;
    const cutAt = Date.now();
    const kill = spawnSync('ss', ['-K', 'state', 'established', `( sport = :${ephemeral} and dport = :${port} ) or ( sport = :${port} and dport = :${ephemeral} )`], { encoding: 'utf8' });
    expect(kill.status, kill.stderr).toBe(0);
    await waitFor(
      () => logLines(nodes.alpha!, 'comm path session established', cutAt).length > 0 && logLines(nodes.bravo!, 'comm path session established', cutAt).length > 0,
      'a new session on both sides',
      10_000,
    );
    const back = Math.max(...['alpha', 'bravo'].map((n) => logLines(nodes[n]!, 'comm path session established', cutAt)[0]!.time!)) - cutAt;
    // Let a full detection limit pass: a starved reconnect would show up as a death here.
    await new Promise((r) => setTimeout(r, HB_S * 1000 * MISSES * 2));
    const rssAfter = rssKiB(nodes.bravo!.proc.pid!);
    const refused = {
      unknownAddress: await metric(metricsAt, 'vigil_cluster_auth_failures_total', 'unknown_address'),
      evictedUnfinishedHandshakes: await metric(metricsAt, 'vigil_cluster_dropped_frames_total', 'evicted'),
    };
    console.log(JSON.stringify({
      attack: '1000 idle from a non-peer address + 300 from the peer address, then ss -K of the path',
      floodConnected: { stranger: stranger.connected, peerAddress: fromPeer.connected },
      recoveryMs: back,
      limitMs: 2 * HB_S * 1000,
      bravoRssKiB: { before: rssBefore, duringFlood: rssFlood, after: rssAfter },
      refusedAndCounted: refused,
      strangerRefusalsLogged: logLines(nodes.bravo!, 'address not configured', cutAt - 60_000).length,
    }));
    expect(refused.unknownAddress).toBeGreaterThanOrEqual(stranger.connected);
    expect(refused.evictedUnfinishedHandshakes).toBeGreaterThanOrEqual(fromPeer.connected - 8);
    expect(back).toBeLessThanOrEqual(2 * HB_S * 1000);
    for (const n of ['alpha', 'bravo']) {
      expect(logLines(nodes[n]!, 'comm path dead', cutAt)).toEqual([]);
      expect(logLines(nodes[n]!, 'system dead', cutAt)).toEqual([]);
      const sys = JSON.parse((await runVigil(nodes[n]!.socket, ['sys_list', '--json'])).stdout) as Array<{ name: string; state: string }>;
      expect(sys.find((s) => s.name === (n === 'alpha' ? 'bravo' : 'alpha'))!.state).toBe('ALIVE');
    }
  });
});
