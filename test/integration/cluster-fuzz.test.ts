// 100,000 random and mutated frames thrown at a listening TCP path and 100,000 more into a
// serial line of a ClusterNode process: it must not crash or stall (event-loop delay bounded),
// its legitimate peer's heartbeats must keep flowing (no path or system goes down), and every
// refusal must be counted by reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterKey, readKeyFile } from '../../src/cluster/cluster-key.js';
import type { PathConfig } from '../../src/cluster/comm-path.js';
import { freePort, waitFor } from './cluster/helpers.js';
import { FrameForge, fuzzTcp, fuzzTty } from './cluster/fuzz.js';
import { haveSocat, Scene, type NodeProc } from './cluster/processes.js';

const HB = 1000;
const MISSES = 3;
const TOTAL = 100_000;
if (!haveSocat) console.warn('cluster-fuzz: skipped, needs socat for the serial line');

describe.skipIf(!haveSocat)('fuzzing a cluster node (needs socat)', () => {
  // Created in beforeAll so a skipped run leaves no temp dir behind.
  let scene!: Scene;
  let victim: NodeProc;
  let bravo: NodeProc;
  let port = 0;
  let mark = 0;
  const V = { legit: '127.0.4.1', mallory: '127.0.5.1' };
  const B = '127.0.4.2';
  const M = '127.0.5.9';

  beforeAll(async () => {
    scene = new Scene();
    port = await freePort();
    await scene.startSocat().ready();
    // 'bravo' and 'mallory' sort before 'victim', so they dial and the victim accepts.
    const victimPaths: PathConfig[] = [
      { type: 'TCP', otherSystem: 'bravo', priority: 1, localAddress: V.legit, remoteAddress: B, port },
      { type: 'TCP', otherSystem: 'mallory', priority: 1, localAddress: V.mallory, remoteAddress: M, port },
      { type: 'TTY', otherSystem: 'bravo', priority: 10, device: `${scene.dir}/ttyA`, baud: 115200 },
    ];
    const bravoPaths: PathConfig[] = [
      { type: 'TCP', otherSystem: 'victim', priority: 1, localAddress: B, remoteAddress: V.legit, port },
      { type: 'TTY', otherSystem: 'victim', priority: 10, device: `${scene.dir}/ttyB`, baud: 115200 },
    ];
    victim = scene.startNode('victim', victimPaths, HB, MISSES);
    bravo = scene.startNode('bravo', bravoPaths, HB, MISSES);
    await waitFor(() => victim.events('path-up', { system: 'bravo' }).length >= 2, 60_000, 'victim: both bravo paths up');
    mark = victim.mark();
  });
  afterAll(async () => {
    await scene?.cleanup();
  });

  const bravoDown = (): number => victim.events('path-down', { system: 'bravo' }, mark).length + victim.events('system-dead', { system: 'bravo' }, mark).length;

  it('TCP listener: 100,000 frames, no crash, no stall, legit heartbeats keep flowing, refusals counted', async () => {
    const forge = new FrameForge(new ClusterKey(readKeyFile(scene.keyFile)), 'mallory', 'victim');
    const before = await victim.stats();
    const r = await fuzzTcp({ forge, host: V.mallory, port, localAddress: M, total: TOTAL, burst: 1000, hello: { from: M, to: V.mallory, port } });
    expect(r.frames).toBeGreaterThanOrEqual(TOTAL);
    const after = await victim.stats();
    console.log('TCP fuzz', JSON.stringify({ ...r, counters: after.stats.counters, eventLoopDelayMs: after.eventLoopDelayMs }));
    expect(victim.exited).toBe(false);
    expect(bravoDown()).toBe(0);
    const c = after.stats.counters as { authFailures: Record<string, number>; droppedFrames: Record<string, number>; replays: number; connectionsRejected: number };
    const b = before.stats.counters as typeof c;
    // Body flips under the session keys fail as frames of no session of ours.
    expect((c.authFailures.bad_session ?? 0) - (b.authFailures.bad_session ?? 0)).toBeGreaterThan(TOTAL / 3);
    expect(c.replays - b.replays).toBeGreaterThan(1000);
    expect(Object.values(c.droppedFrames).reduce((x, y) => x + y, 0)).toBeGreaterThan(r.connections / 2);
    // A stall longer than the detection limit would have killed bravo's paths; bound it well below.
    expect(after.eventLoopDelayMs.max).toBeLessThan(HB * MISSES);
    const bp = after.stats.paths.find((p) => p.system === 'bravo' && p.type === 'TCP')!;
    expect(bp.state).toBe('ALIVE');
    expect(bp.lastHeartbeatAgeMs as number).toBeLessThan(HB * MISSES);
  });

  it('TTY line: 100,000 frames of noise and forgeries, the serial path to bravo stays up', async () => {
    const forge = new FrameForge(new ClusterKey(readKeyFile(scene.keyFile)), 'mallory', 'victim');
    const before = await victim.stats();
    // Written on bravo's end of the pty pair: it arrives at the victim mixed with bravo's frames.
    const n = await fuzzTty({ forge, device: `${scene.dir}/ttyB`, total: TOTAL });
    await new Promise((r) => setTimeout(r, HB * 2));
    const after = await victim.stats();
    console.log('TTY fuzz', JSON.stringify({ frames: n, counters: after.stats.counters, eventLoopDelayMs: after.eventLoopDelayMs }));
    expect(victim.exited).toBe(false);
    expect(bravo.exited).toBe(false);
    expect(bravoDown()).toBe(0);
    const c = after.stats.counters as { authFailures: Record<string, number>; droppedFrames: Record<string, number> };
    const b = before.stats.counters as typeof c;
    expect((c.droppedFrames.crc ?? 0) + (c.droppedFrames.cobs ?? 0) - (b.droppedFrames.crc ?? 0) - (b.droppedFrames.cobs ?? 0)).toBeGreaterThan(TOTAL / 10);
    // Mallory has no session on this line: its frames open under no key of it.
    expect((c.authFailures.bad_session ?? 0) - (b.authFailures.bad_session ?? 0)).toBeGreaterThan(TOTAL / 10);
    // Mallory's authentic Hellos on bravo's serial line are refused as not belonging to that path.
    expect((c.authFailures.path_mismatch ?? 0) - (b.authFailures.path_mismatch ?? 0)).toBeGreaterThan(1000);
    expect(after.eventLoopDelayMs.max).toBeLessThan(HB * MISSES);
    const tp = after.stats.paths.find((p) => p.type === 'TTY')!;
    expect(tp.state).toBe('ALIVE');
  });
});
