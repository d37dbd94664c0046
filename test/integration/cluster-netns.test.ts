// Cutting one network path for real: two ClusterNode processes in their own network namespaces,
// joined by two veth pairs (two TCP comm paths) and a socat pty pair (a TTY path). Taking one
// veth link down kills that path only (warning, system alive); killing socat as well leaves the
// systems alive over the remaining TCP path; bringing both back recovers every path.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PathConfig } from '../../src/cluster/comm-path.js';
import { waitFor } from './cluster/helpers.js';
import { haveIp, haveRoot, haveSocat, Scene, type NodeProc } from './cluster/processes.js';

// Generous for a loaded 2-core host running other test files at the same time.
const HB = 500;
const MISSES = 4;
const canRun = haveRoot && haveIp && haveSocat;
if (!canRun) console.warn(`cluster-netns: skipped, needs root, iproute2 and socat (root=${haveRoot} ip=${haveIp} socat=${haveSocat})`);

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
}

describe.skipIf(!canRun)('comm paths across network namespaces (needs root, iproute2, socat)', () => {
  // Created in beforeAll so a skipped run leaves no temp dir behind.
  let scene!: Scene;
  const tag = `${process.pid % 100000}`;
  const nsA = `vigil-a-${tag}`;
  const nsB = `vigil-b-${tag}`;
  // veth names are at most 15 characters.
  const links = [1, 2].map((i) => ({ a: `vga${i}-${tag}`, b: `vgb${i}-${tag}`, addrA: `10.231.${i}.1`, addrB: `10.231.${i}.2` }));
  let alpha: NodeProc;
  let bravo: NodeProc;
  /** Report positions once all paths were up: deaths after them are real. */
  let markA = 0;
  let markB = 0;
  const port = 7365;
  const pathsA = (): PathConfig[] => [
    ...links.map((l, i) => ({ type: 'TCP' as const, otherSystem: 'bravo', priority: i + 1, localAddress: l.addrA, remoteAddress: l.addrB, port })),
    { type: 'TTY', otherSystem: 'bravo', priority: 10, device: `${scene.dir}/ttyA`, baud: 115200 },
  ];
  const pathsB = (): PathConfig[] => [
    ...links.map((l, i) => ({ type: 'TCP' as const, otherSystem: 'alpha', priority: i + 1, localAddress: l.addrB, remoteAddress: l.addrA, port })),
    { type: 'TTY', otherSystem: 'alpha', priority: 10, device: `${scene.dir}/ttyB`, baud: 115200 },
  ];
  const tcp1 = `bravo/TCP/${links[0]!.addrA}-${links[0]!.addrB}:${port}`;
  const ttyId = (): string => `bravo/TTY/${scene.dir}/ttyA`;

  beforeAll(async () => {
    scene = new Scene();
    scene.onCleanup(() => spawnSync('ip', ['netns', 'del', nsA]));
    scene.onCleanup(() => spawnSync('ip', ['netns', 'del', nsB]));
    ip('netns', 'add', nsA);
    ip('netns', 'add', nsB);
    for (const ns of [nsA, nsB]) ip('-n', ns, 'link', 'set', 'lo', 'up');
    for (const l of links) {
      ip('link', 'add', l.a, 'netns', nsA, 'type', 'veth', 'peer', 'name', l.b, 'netns', nsB);
      ip('-n', nsA, 'addr', 'add', `${l.addrA}/24`, 'dev', l.a);
      ip('-n', nsB, 'addr', 'add', `${l.addrB}/24`, 'dev', l.b);
      ip('-n', nsA, 'link', 'set', l.a, 'up');
      ip('-n', nsB, 'link', 'set', l.b, 'up');
    }
    await scene.startSocat().ready();
    alpha = scene.startNode('alpha', pathsA(), HB, MISSES, nsA);
    bravo = scene.startNode('bravo', pathsB(), HB, MISSES, nsB);
    await waitFor(() => alpha.events('path-up').length >= 3 && bravo.events('path-up').length >= 3, 60_000, 'all three paths up on both');
    markA = alpha.mark();
    markB = bravo.mark();
  });
  afterAll(async () => {
    await scene?.cleanup();
  });

  it('link down on one veth pair: that path dies, the system stays alive, a warning is emitted', async () => {
    ip('-n', nsA, 'link', 'set', links[0]!.a, 'down');
    await waitFor(() => alpha.events('warning', { pathId: tcp1 }, markA).length > 0, 20_000, 'alpha warns about TCP path 1');
    const w = alpha.events('warning', { pathId: tcp1 }, markA)[0]!;
    expect(w).toMatchObject({ system: 'bravo', remaining: 2 });
    await waitFor(() => bravo.events('warning', { system: 'alpha' }, markB).length > 0, 20_000, 'bravo warns too');
    const st = await alpha.stats();
    expect(st.stats.paths.find((p) => p.id === tcp1)!.state).toBe('DEAD');
    expect(st.stats.systems.find((s) => s.name === 'bravo')!.state).toBe('ALIVE');
    expect(alpha.events('system-dead', {}, markA)).toHaveLength(0);
  });

  it('killing socat too: TTY path dead, still alive over the second TCP path', async () => {
    await scene.socats[0]!.kill();
    await waitFor(() => alpha.events('warning', { pathId: ttyId() }, markA).length > 0, 20_000, 'alpha warns about the TTY path');
    expect(alpha.events('warning', { pathId: ttyId() }, markA)[0]).toMatchObject({ remaining: 1 });
    // Stay a while: several detection periods must pass without a death.
    await new Promise((r) => setTimeout(r, HB * MISSES * 3));
    expect(alpha.events('system-dead', {}, markA)).toHaveLength(0);
    expect(bravo.events('system-dead', {}, markB)).toHaveLength(0);
    const st = await bravo.stats();
    expect(st.stats.systems.find((s) => s.name === 'alpha')!.state).toBe('ALIVE');
    expect(st.stats.systems.find((s) => s.name === 'alpha')!.alivePaths).toBe(1);
  });

  it('restoring the link and the serial line recovers both paths', async () => {
    const up1 = alpha.events('path-up', { pathId: tcp1 }).length;
    const upT = alpha.events('path-up', { pathId: ttyId() }).length;
    ip('-n', nsA, 'link', 'set', links[0]!.a, 'up');
    await scene.startSocat().ready();
    await waitFor(() => alpha.events('path-up', { pathId: tcp1 }).length > up1, 30_000, 'TCP path 1 back');
    await waitFor(() => alpha.events('path-up', { pathId: ttyId() }).length > upT, 30_000, 'TTY path back');
    const st = await alpha.stats();
    expect(st.stats.paths.every((p) => p.state === 'ALIVE')).toBe(true);
  });
});
