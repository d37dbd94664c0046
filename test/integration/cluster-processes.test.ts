// Three ClusterNode processes on 127.0.0.1/.2/.3 (two TCP paths per pair) plus a serial path
// between alpha and bravo over a socat pty pair. kill -9 of charlie is detected within
// LCMHBEATTIME x LCMNUMHBEATS + margin; killing socat loses only the TTY path (warning, systems
// stay alive over TCP); restarting socat and charlie brings every path back.
// These run node-main.ts (a ClusterNode process) rather than vigild, which is wired separately.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PathConfig } from '../../src/cluster/comm-path.js';
import { freePort, meshPaths, waitFor, type NodeSpec } from './cluster/helpers.js';
import { haveSocat, Scene, type NodeProc } from './cluster/processes.js';

// Generous for a loaded 2-core host running other test files at the same time.
const HB = 250;
const MISSES = 4;
/** Allowance over HB x MISSES for timer jitter and stdout delivery on a loaded 2-core machine. */
const MARGIN = 1500;
const SPECS: NodeSpec[] = [
  { name: 'alpha', addrs: ['127.0.0.1', '127.0.1.1'] },
  { name: 'bravo', addrs: ['127.0.0.2', '127.0.1.2'] },
  { name: 'charlie', addrs: ['127.0.0.3', '127.0.1.3'] },
];

if (!haveSocat) console.warn('cluster-processes: skipped, needs socat for the serial path');

describe.skipIf(!haveSocat)('three cluster node processes with TCP and TTY paths (needs socat)', () => {
  // Created in beforeAll so a skipped run leaves no temp dir behind.
  let scene!: Scene;
  let port = 0;
  const procs = new Map<string, NodeProc>();
  /** Report positions once everyone saw everyone: later deaths are real. */
  const marks = new Map<string, number>();
  const ttyA = (): PathConfig => ({ type: 'TTY', otherSystem: 'bravo', priority: 10, device: `${scene.dir}/ttyA`, baud: 115200 });
  const ttyB = (): PathConfig => ({ type: 'TTY', otherSystem: 'alpha', priority: 10, device: `${scene.dir}/ttyB`, baud: 115200 });
  const pathsOf = (name: string): PathConfig[] => [
    ...meshPaths(SPECS, name, port),
    ...(name === 'alpha' ? [ttyA()] : name === 'bravo' ? [ttyB()] : []),
  ];
  const start = (name: string): NodeProc => {
    const p = scene.startNode(name, pathsOf(name), HB, MISSES);
    procs.set(name, p);
    return p;
  };
  /** The last alive/dead verdict about `system` is alive (a slow start may give an early dead). */
  const aliveAll = (p: NodeProc, system: string): boolean =>
    p.lines.filter((l) => l.ev === 'membership' && l.system === system && (l.type === 'system-alive' || l.type === 'system-dead')).at(-1)?.type === 'system-alive';

  beforeAll(async () => {
    scene = new Scene();
    port = await freePort();
    await scene.startSocat().ready();
    for (const s of SPECS) start(s.name);
    for (const s of SPECS) {
      const p = procs.get(s.name)!;
      await waitFor(() => SPECS.filter((o) => o.name !== s.name).every((o) => aliveAll(p, o.name)), 90_000, `${s.name} sees everyone`);
    }
    for (const [n, p] of procs) marks.set(n, p.mark());
  });
  afterAll(async () => {
    await scene?.cleanup();
  });

  it('has every path up, including the serial one, with heartbeat RTTs', async () => {
    const alpha = procs.get('alpha')!;
    await waitFor(() => alpha.events('path-up').length >= 5, 30_000, 'alpha: 5 paths up');
    const st = await alpha.stats();
    expect(st.stats.paths).toHaveLength(5);
    const tty = st.stats.paths.find((p) => p.type === 'TTY')!;
    expect(tty.state).toBe('ALIVE');
    // Round trips appear once our own heartbeats have been answered on each path.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const st2 = await alpha.stats();
      for (const p of st2.stats.paths) expect(p.rttMs === null || (p.rttMs as number) >= 0).toBe(true);
      if (st2.stats.paths.filter((p) => p.rttMs !== null).length >= 4) break;
      if (Date.now() > deadline) throw new Error(`no RTT on enough paths: ${JSON.stringify(st2.stats.paths)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  it('kill -9 of charlie: alpha and bravo declare it dead within LCMHBEATTIME x LCMNUMHBEATS + margin', async () => {
    const charlie = procs.get('charlie')!;
    const killedAt = Date.now();
    charlie.kill('SIGKILL');
    for (const n of ['alpha', 'bravo']) {
      const p = procs.get(n)!;
      await waitFor(() => p.events('system-dead', { system: 'charlie' }, marks.get(n)).length > 0, 20_000, `${n}: charlie dead`);
      const took = (p.events('system-dead', { system: 'charlie' }, marks.get(n))[0]!.t as number) - killedAt;
      console.log(`${n} declared charlie dead ${took} ms after kill -9 (limit ${HB * MISSES} + ${MARGIN})`);
      expect(took).toBeLessThanOrEqual(HB * MISSES + MARGIN);
      expect(took).toBeGreaterThan(0);
    }
    expect(procs.get('alpha')!.events('system-dead', { system: 'bravo' }, marks.get('alpha'))).toHaveLength(0);
  });

  it('killing socat loses the TTY path only: warning, bravo still alive over TCP; restart recovers', async () => {
    const alpha = procs.get('alpha')!;
    const bravo = procs.get('bravo')!;
    const ttyId = 'bravo/TTY/' + `${scene.dir}/ttyA`;
    await scene.socats[0]!.kill();
    await waitFor(() => alpha.events('warning', { system: 'bravo', pathId: ttyId }, marks.get('alpha')).length > 0, 20_000, 'alpha warns about the TTY path');
    const w = alpha.events('warning', { system: 'bravo', pathId: ttyId }, marks.get('alpha'))[0]!;
    expect(w.remaining).toBe(2);
    expect(String(w.message)).toMatch(/lost comm path .*TTY.*2 paths remain/);
    await waitFor(() => bravo.events('warning', { system: 'alpha' }, marks.get('bravo')).length > 0, 20_000, 'bravo warns too');
    expect(alpha.events('system-dead', { system: 'bravo' }, marks.get('alpha'))).toHaveLength(0);
    const st = await alpha.stats();
    expect(st.stats.systems.find((s) => s.name === 'bravo')!.state).toBe('ALIVE');
    expect(st.stats.paths.find((p) => p.id === ttyId)!.state).toBe('DEAD');

    const ups = alpha.events('path-up', { pathId: ttyId }).length;
    await scene.startSocat().ready();
    await waitFor(() => alpha.events('path-up', { pathId: ttyId }).length > ups, 30_000, 'TTY path back up after socat restart');
  });

  it('restarting charlie brings its paths back on both survivors', async () => {
    const c = start('charlie');
    await waitFor(() => c.lines.some((l) => l.ev === 'started'), 60_000, 'charlie restarted');
    for (const n of ['alpha', 'bravo']) {
      const p = procs.get(n)!;
      await waitFor(() => p.events('system-alive', { system: 'charlie' }, marks.get(n)).length >= 1, 60_000, `${n}: charlie alive again`);
      const st = await p.stats();
      expect(st.stats.systems.find((s) => s.name === 'charlie')!.state).toBe('ALIVE');
    }
    const alpha = procs.get('alpha')!;
    await waitFor(() => alpha.events('path-up', {}, marks.get('alpha')).filter((e) => String(e.pathId).startsWith('charlie/')).length >= 2, 60_000, 'both charlie paths up again');
  });
});
