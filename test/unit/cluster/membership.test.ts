// Membership on a deterministic fake network: nodes send heartbeats on every path each interval,
// links can be cut, delayed, duplicated and reordered, and a virtual clock drives tick().
import { describe, expect, it } from 'vitest';
import { Membership, type MembershipOutput } from '../../../src/cluster/membership.js';
import { prng } from '../../helpers/prng.js';

const HB = 100;
const MISSES = 3;
const STEP = 10;

interface Link { id: string; a: string; b: string; up: boolean; delayMs: number; jitterMs: number; duplicate: boolean }
interface InFlight { at: number; to: string; from: string; pathId: string; epoch: bigint }


class FakeNet {
  now = 0;
  readonly nodes = new Map<string, Membership>();
  readonly epochs = new Map<string, bigint>();
  readonly stopped = new Set<string>();
  readonly links = new Map<string, Link>();
  readonly log: Array<MembershipOutput & { at: number; node: string }> = [];
  private queue: InFlight[] = [];
  private readonly rand: () => number;

  constructor(names: string[], seed = 1) {
    this.rand = prng(seed);
    for (const n of names) {
      this.nodes.set(n, new Membership({ heartbeatIntervalMs: HB, missedHeartbeats: MISSES }));
      this.epochs.set(n, 1n);
    }
  }
  link(id: string, a: string, b: string): void {
    this.links.set(id, { id, a, b, up: true, delayMs: 1, jitterMs: 0, duplicate: false });
    this.record(a, this.nodes.get(a)!.step({ type: 'path-added', pathId: id, system: b, nowMs: this.now }));
    this.record(b, this.nodes.get(b)!.step({ type: 'path-added', pathId: id, system: a, nowMs: this.now }));
  }
  cut(id: string): void { this.links.get(id)!.up = false; }
  recover(id: string): void { this.links.get(id)!.up = true; }
  isolate(node: string): void { for (const l of this.links.values()) if (l.a === node || l.b === node) l.up = false; }
  rejoin(node: string): void { for (const l of this.links.values()) if (l.a === node || l.b === node) l.up = true; }
  crash(node: string): void { this.stopped.add(node); }
  restart(node: string): void { this.stopped.delete(node); this.epochs.set(node, this.epochs.get(node)! + 1n); }

  run(ms: number): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += STEP;
      if (this.now % HB === 0) this.sendHeartbeats();
      this.deliver();
      for (const [n, m] of this.nodes) if (!this.stopped.has(n)) this.record(n, m.tick(this.now));
    }
  }
  events(node: string, type?: string): Array<MembershipOutput & { at: number }> {
    return this.log.filter((e) => e.node === node && (!type || e.type === type));
  }

  private sendHeartbeats(): void {
    for (const l of this.links.values()) {
      for (const [from, to] of [[l.a, l.b], [l.b, l.a]] as const) {
        if (this.stopped.has(from) || !l.up) continue;
        const copies = l.duplicate ? 2 : 1;
        for (let c = 0; c < copies; c++) {
          const at = this.now + l.delayMs + Math.floor(this.rand() * l.jitterMs);
          this.queue.push({ at, to, from, pathId: l.id, epoch: this.epochs.get(from)! });
        }
      }
    }
  }
  private deliver(): void {
    const due = this.queue.filter((f) => f.at <= this.now);
    this.queue = this.queue.filter((f) => f.at > this.now);
    for (const f of due) {
      if (this.stopped.has(f.to)) continue;
      this.record(f.to, this.nodes.get(f.to)!.step({ type: 'heartbeat', pathId: f.pathId, system: f.from, epoch: f.epoch, nowMs: f.at }));
    }
  }
  private record(node: string, outs: MembershipOutput[]): void {
    for (const o of outs) this.log.push({ ...o, at: this.now, node });
  }
}

function triangle(seed = 1): FakeNet {
  const net = new FakeNet(['a', 'b', 'c'], seed);
  for (const [x, y] of [['a', 'b'], ['a', 'c'], ['b', 'c']] as const) {
    net.link(`${x}${y}-1`, x, y);
    net.link(`${x}${y}-2`, x, y);
  }
  net.link('ab-tty', 'a', 'b');
  net.run(500);
  return net;
}

describe('membership on a fake network', () => {
  it('brings every path and system up and stays quiet while the network is healthy', () => {
    const net = triangle();
    for (const n of ['a', 'b', 'c']) {
      for (const o of ['a', 'b', 'c']) if (o !== n) expect(net.nodes.get(n)!.systemState(o)).toBe('ALIVE');
    }
    const before = net.log.length;
    net.run(10_000);
    expect(net.log.length).toBe(before);
  });

  it('cutting one path: path DEAD, system ALIVE, a warning naming the remaining paths', () => {
    const net = triangle();
    net.cut('ab-1');
    net.run(1000);
    const a = net.nodes.get('a')!;
    expect(a.pathState('ab-1')).toBe('DEAD');
    expect(a.systemState('b')).toBe('ALIVE');
    const w = net.events('a', 'warning');
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({ system: 'b', pathId: 'ab-1', remaining: 2 });
    expect(net.events('a', 'system-dead')).toHaveLength(0);
    net.recover('ab-1');
    net.run(300);
    expect(a.pathState('ab-1')).toBe('ALIVE');
    expect(net.events('a', 'path-up').filter((e) => (e as { pathId: string }).pathId === 'ab-1')).toHaveLength(2);
  });

  it('a crashed node is declared dead by both survivors within interval x misses + one tick', () => {
    const net = triangle();
    net.crash('c');
    const crashAt = net.now;
    net.run(1000);
    for (const n of ['a', 'b']) {
      const dead = net.events(n, 'system-dead');
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ system: 'c' });
      const took = dead[0]!.at - crashAt;
      expect(took).toBeGreaterThan(HB * (MISSES - 1));
      expect(took).toBeLessThanOrEqual(HB * MISSES + HB + STEP);
      expect(net.nodes.get(n)!.systemState('c')).toBe('DEAD');
    }
    expect(net.nodes.get('a')!.systemState('b')).toBe('ALIVE');
  });

  it('isolation: the isolated node sees everyone dead and they see it dead; recovery brings all back', () => {
    const net = triangle();
    net.isolate('c');
    net.run(1000);
    expect(net.nodes.get('c')!.systemState('a')).toBe('DEAD');
    expect(net.nodes.get('c')!.systemState('b')).toBe('DEAD');
    expect(net.nodes.get('a')!.systemState('c')).toBe('DEAD');
    expect(net.nodes.get('a')!.systemState('b')).toBe('ALIVE');
    net.rejoin('c');
    net.run(500);
    expect(net.nodes.get('c')!.systemState('a')).toBe('ALIVE');
    expect(net.nodes.get('a')!.systemState('c')).toBe('ALIVE');
    expect(net.nodes.get('a')!.alivePathsTo('c')).toHaveLength(2);
  });

  it('delay below the limit, duplicates and reordering cause no false positives', () => {
    const net = triangle(7);
    for (const l of net.links.values()) {
      l.delayMs = 120;
      l.jitterMs = 130; // deliveries overtake each other
      l.duplicate = true;
    }
    // The switch from 1 ms to ~250 ms latency is itself one long gap; judge the steady state.
    net.run(2000);
    for (const n of ['a', 'b', 'c']) for (const o of ['a', 'b', 'c']) if (o !== n) expect(net.nodes.get(n)!.systemState(o)).toBe('ALIVE');
    const before = net.log.length;
    net.run(30_000);
    expect(net.log.slice(before)).toEqual([]);
  });

  it('delay beyond the limit on every path is a death, and the end of the delay a recovery', () => {
    const net = triangle();
    for (const l of net.links.values()) if (l.a === 'c' || l.b === 'c') l.delayMs = HB * MISSES + 200;
    net.run(400);
    expect(net.events('a', 'system-dead').map((e) => (e as { system: string }).system)).toEqual(['c']);
    net.run(600);
    expect(net.nodes.get('a')!.systemState('c')).toBe('ALIVE');
  });

  it('a restart faster than detection is reported as system-restarted', () => {
    const net = triangle();
    net.crash('b');
    net.run(100);
    net.restart('b');
    net.run(300);
    expect(net.events('a', 'system-restarted').map((e) => (e as { system: string }).system)).toEqual(['b']);
    expect(net.events('a', 'system-dead')).toHaveLength(0);
  });

  it('a peer that never answers stays UNKNOWN (never dead), with one warning per path after the grace; removing paths forgets it', () => {
    const m = new Membership({ heartbeatIntervalMs: HB, missedHeartbeats: MISSES, neverConnectedGraceMs: 1000 });
    m.step({ type: 'path-added', pathId: 'p1', system: 'z', nowMs: 0 });
    m.step({ type: 'path-added', pathId: 'p2', system: 'z', nowMs: 0 });
    // Far past interval x misses, within the grace: nothing at all.
    expect(m.tick(400)).toEqual([]);
    expect(m.tick(1000)).toEqual([]);
    expect(m.pathState('p1')).toBe('UNKNOWN');
    expect(m.systemState('z')).toBe('UNKNOWN');
    const outs = m.tick(1001);
    expect(outs.map((o) => o.type)).toEqual(['warning', 'warning']);
    expect(outs[0]).toMatchObject({ system: 'z', pathId: 'p1', remaining: 0 });
    expect((outs[0] as { message: string }).message).toMatch(/comm path p1 to system z has not connected in 1 s/);
    // Once per path, and still no death.
    expect(m.tick(60_000)).toEqual([]);
    expect(m.systemState('z')).toBe('UNKNOWN');
    // It connects late: up and alive as usual.
    const up = m.step({ type: 'heartbeat', pathId: 'p1', system: 'z', epoch: 1n, nowMs: 60_010 });
    expect(up.map((o) => o.type)).toEqual(['path-up', 'system-alive']);
    m.step({ type: 'path-removed', pathId: 'p1', nowMs: 60_020 });
    m.step({ type: 'path-removed', pathId: 'p2', nowMs: 60_020 });
    expect(m.systemState('z')).toBeUndefined();
  });

  it('the grace defaults to interval x misses', () => {
    const m = new Membership({ heartbeatIntervalMs: HB, missedHeartbeats: MISSES });
    m.step({ type: 'path-added', pathId: 'p1', system: 'z', nowMs: 0 });
    expect(m.tick(HB * MISSES)).toEqual([]);
    expect(m.tick(HB * MISSES + 1).map((o) => o.type)).toEqual(['warning']);
    expect(m.pathState('p1')).toBe('UNKNOWN');
  });
});

describe('membership edge cases', () => {
  it('removing a live path is a path-down with a warning; removing a path never heard from is no death', () => {
    const m = new Membership({ heartbeatIntervalMs: HB, missedHeartbeats: MISSES });
    m.step({ type: 'path-added', pathId: 'p1', system: 'z', nowMs: 0 });
    m.step({ type: 'path-added', pathId: 'p2', system: 'z', nowMs: 0 });
    m.step({ type: 'heartbeat', pathId: 'p1', system: 'z', epoch: 1n, nowMs: 10 });
    m.step({ type: 'heartbeat', pathId: 'p2', system: 'z', epoch: 1n, nowMs: 10 });
    const outs = m.step({ type: 'path-removed', pathId: 'p1', nowMs: 20 });
    expect(outs.map((o) => o.type)).toEqual(['path-down', 'warning']);
    expect(m.systemState('z')).toBe('ALIVE');

    // Never heard from: its paths stay UNKNOWN and removing one is not a death.
    const n = new Membership({ heartbeatIntervalMs: HB, missedHeartbeats: MISSES, neverConnectedGraceMs: 10_000 });
    n.step({ type: 'path-added', pathId: 'a', system: 'y', nowMs: 0 });
    n.step({ type: 'path-added', pathId: 'b', system: 'y', nowMs: 100 });
    expect(n.tick(350)).toEqual([]);
    expect(n.pathState('a')).toBe('UNKNOWN');
    expect(n.systemState('y')).toBe('UNKNOWN');
    expect(n.step({ type: 'path-removed', pathId: 'b', nowMs: 360 })).toEqual([]);
    expect(n.systemState('y')).toBe('UNKNOWN');
  });

  it('an alive system whose live paths all die is dead even if a new path has not spoken yet', () => {
    const m = new Membership({ heartbeatIntervalMs: HB, missedHeartbeats: MISSES });
    m.step({ type: 'path-added', pathId: 'a', system: 'y', nowMs: 0 });
    m.step({ type: 'heartbeat', pathId: 'a', system: 'y', epoch: 1n, nowMs: 0 });
    m.step({ type: 'path-added', pathId: 'b', system: 'y', nowMs: 200 });
    const outs = m.tick(350);
    expect(outs).toContainEqual({ type: 'system-dead', system: 'y' });
    expect(m.pathState('b')).toBe('UNKNOWN');
  });

  it('a path is dead only after strictly more than interval x misses of silence (the exact boundary)', () => {
    const m = new Membership({ heartbeatIntervalMs: HB, missedHeartbeats: MISSES });
    m.step({ type: 'path-added', pathId: 'p1', system: 'z', nowMs: 0 });
    m.step({ type: 'heartbeat', pathId: 'p1', system: 'z', epoch: 1n, nowMs: 1000 });
    expect(m.systemState('z')).toBe('ALIVE');
    // Exactly HB x MISSES = 300 ms of silence: the third heartbeat may still be on its way.
    expect(m.tick(1000 + HB * MISSES)).toEqual([]);
    expect(m.pathState('p1')).toBe('ALIVE');
    // One millisecond more and it is dead, and so is the system (its only path).
    const outs = m.tick(1000 + HB * MISSES + 1);
    expect(outs).toContainEqual({ type: 'path-down', pathId: 'p1', system: 'z', remaining: 0 });
    expect(outs).toContainEqual({ type: 'system-dead', system: 'z' });
    expect(m.pathState('p1')).toBe('DEAD');
  });

  it('a heartbeat on an unknown path or from the wrong system changes nothing', () => {
    const m = new Membership({ heartbeatIntervalMs: HB, missedHeartbeats: MISSES });
    m.step({ type: 'path-added', pathId: 'p1', system: 'z', nowMs: 0 });
    expect(m.step({ type: 'heartbeat', pathId: 'nope', system: 'z', epoch: 1n, nowMs: 1 })).toEqual([]);
    expect(m.step({ type: 'heartbeat', pathId: 'p1', system: 'x', epoch: 1n, nowMs: 1 })).toEqual([]);
    expect(m.pathState('p1')).toBe('UNKNOWN');
  });
});

describe('membership: when to judge next', () => {
  it('names the moment a silence passes the limit, later after each heartbeat; judged only then, a silent path is declared dead on time', () => {
    const m = new Membership({ heartbeatIntervalMs: HB, missedHeartbeats: MISSES, neverConnectedGraceMs: 1_000 });
    m.step({ type: 'path-added', pathId: 'p1', system: 'b', nowMs: 0 });
    // Never heard: the grace for its warning.
    expect(m.nextDueMs()).toBe(1_000);
    m.step({ type: 'heartbeat', pathId: 'p1', system: 'b', epoch: 1n, nowMs: 50 });
    expect(m.nextDueMs()).toBe(50 + HB * MISSES);
    m.step({ type: 'heartbeat', pathId: 'p1', system: 'b', epoch: 1n, nowMs: 150 });
    expect(m.nextDueMs()).toBe(150 + HB * MISSES);
    // Nothing before it; just past it the path and the system are dead, and nothing is due any more.
    expect(m.tick(150 + HB * MISSES)).toEqual([]);
    const out = m.tick(150 + HB * MISSES + 1);
    expect(out.map((o) => o.type)).toEqual(expect.arrayContaining(['path-down', 'system-dead']));
    expect(m.nextDueMs()).toBeUndefined();
    // Heard again: due again.
    m.step({ type: 'heartbeat', pathId: 'p1', system: 'b', epoch: 1n, nowMs: 1_000 });
    expect(m.nextDueMs()).toBe(1_000 + HB * MISSES);
  });
});
