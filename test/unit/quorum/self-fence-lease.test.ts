// The self-fence lease with a fake clock and the memory watchdog (which models the native
// keeper): unbounded while nothing is in service, bounded from quorum evidence while something
// is, never renewed from stale evidence, lapsed for good; the timing arithmetic; and the
// property that matters: a lost system whose event loop stops is reset before the survivor hold
// of the quorum gate ends.
import { describe, expect, it } from 'vitest';
import { QuorumGate, type QuorumGateConfig } from '../../../src/cluster/quorum/gate.js';
import { SelfFenceLease, selfFenceTiming, type SelfFenceOutput } from '../../../src/cluster/quorum/self-fence-lease.js';
import { MemoryWatchdog } from '../../../src/platform/memory/watchdog.js';

const leases = (outs: SelfFenceOutput[]) => outs.flatMap((o) => (o.type === 'lease' ? [o.deadlineMs] : []));

describe('selfFenceTiming', () => {
  const base = { probePeriodMs: 1_000, probeTimeoutMs: 5_000, heartbeatMs: 1_000, missedHeartbeats: 3, lossActionMs: 0, watchdogTimeoutMs: 4_000 };
  it('witness hosts: the lease covers a probe period and time limit plus grace; the hold adds the timeout and two heartbeats', () => {
    const t = selfFenceTiming({ ...base, mode: 'tcp_remote', usesHosts: true });
    expect(t).toEqual({ evidenceAgeMs: 6_000, graceMs: 2_000, leaseMs: 8_000, holdMs: 8_000 + 4_000 + 2_000 });
  });
  it('osu: the lease also covers the loss action allowance, so a loser that acts in time is not reset', () => {
    const t = selfFenceTiming({ ...base, mode: 'tcp_remote', usesHosts: true, lossActionMs: 5_000 });
    expect(t).toEqual({ evidenceAgeMs: 6_000, graceMs: 2_000, leaseMs: 13_000, holdMs: 13_000 + 4_000 + 2_000 });
  });
  it('majority without hosts: the echoes of LCMNUMHBEATS heartbeats; with hosts the longer of both', () => {
    expect(selfFenceTiming({ ...base, mode: 'majority', usesHosts: false }).evidenceAgeMs).toBe(3_000);
    expect(selfFenceTiming({ ...base, mode: 'majority', usesHosts: true }).evidenceAgeMs).toBe(6_000);
    expect(selfFenceTiming({ ...base, mode: 'majority', usesHosts: false, heartbeatMs: 3_000, missedHeartbeats: 4 }).evidenceAgeMs).toBe(12_000);
  });
  it('storage: (N-1) x T; none: only the grace (a stopped event loop is all it fences)', () => {
    expect(selfFenceTiming({ ...base, mode: 'storage', usesHosts: false, storage: { intervalMs: 2_000, numHbeats: 4 } }).leaseMs).toBe(6_000 + 2_000);
    const none = selfFenceTiming({ ...base, mode: 'none', usesHosts: false, heartbeatMs: 200 });
    expect(none.leaseMs).toBe(2_000);
    expect(none.holdMs).toBe(2_000 + 4_000 + 400);
  });
});

describe('SelfFenceLease', () => {
  it('is unbounded while nothing is in service, whatever the evidence', () => {
    const l = new SelfFenceLease({ leaseMs: 8_000 });
    expect(l.step({ type: 'evidence', atMs: undefined, nowMs: 0 })).toEqual([{ type: 'lease', deadlineMs: Infinity, reason: 'nothing in service here' }]);
    expect(l.tick(1_000_000)).toEqual([]);
    expect(l.status(1_000_000)).toMatchObject({ serving: false, deadlineMs: Infinity, remainingMs: Infinity, lapsed: false });
  });

  it('in service: the deadline is the evidence time plus the lease, and moves only forward', () => {
    const l = new SelfFenceLease({ leaseMs: 8_000 });
    l.step({ type: 'evidence', atMs: 900, nowMs: 1_000 });
    expect(leases(l.step({ type: 'serving', serving: true, nowMs: 1_000 }))).toEqual([8_900]);
    expect(leases(l.step({ type: 'evidence', atMs: 2_000, nowMs: 2_100 }))).toEqual([10_000]);
    // An older fact (a slow witness answer of an earlier round) does not shorten it.
    expect(l.step({ type: 'evidence', atMs: 1_500, nowMs: 2_200 })).toEqual([]);
    expect(l.status(2_200).deadlineMs).toBe(10_000);
    // No "yes" for a while: the deadline stays, and passes.
    expect(l.step({ type: 'evidence', atMs: undefined, nowMs: 5_000 })).toEqual([]);
    const lapsed = l.tick(10_000);
    expect(lapsed).toEqual([{ type: 'lapsed', deadlineMs: 10_000, reason: 'no quorum verdict says this system may serve' }]);
  });

  it('a lapse is final: fresh evidence or leaving service afterwards change nothing', () => {
    const l = new SelfFenceLease({ leaseMs: 8_000 });
    l.step({ type: 'evidence', atMs: 0, nowMs: 0 });
    l.step({ type: 'serving', serving: true, nowMs: 0 });
    expect(l.tick(8_000).map((o) => o.type)).toEqual(['lapsed']);
    expect(l.step({ type: 'evidence', atMs: 8_500, nowMs: 8_500 })).toEqual([]);
    expect(l.step({ type: 'serving', serving: false, nowMs: 9_000 })).toEqual([]);
    expect(l.status(9_000)).toMatchObject({ lapsed: true, remainingMs: 0, deadlineMs: 8_000 });
  });

  it('coming in service on stale evidence gets no grace: the deadline is already past', () => {
    const l = new SelfFenceLease({ leaseMs: 8_000 });
    l.step({ type: 'evidence', atMs: 1_000, nowMs: 1_000 });
    const outs = l.step({ type: 'serving', serving: true, nowMs: 20_000 });
    expect(outs).toEqual([{ type: 'lapsed', deadlineMs: 9_000, reason: 'the newest quorum evidence is 19000 ms old (the lease is 8000 ms)' }]);
  });

  it('coming in service without any verdict (clean-up at start) gets one lease from now', () => {
    const l = new SelfFenceLease({ leaseMs: 8_000 });
    expect(leases(l.step({ type: 'serving', serving: true, nowMs: 3_000 }))).toEqual([11_000]);
    expect(leases(l.step({ type: 'serving', serving: false, nowMs: 4_000 }))).toEqual([Infinity]);
  });

  it('refuses a lease of 0', () => {
    expect(() => new SelfFenceLease({ leaseMs: 0 })).toThrow(RangeError);
  });
});

/** Drives a lease and a memory watchdog together on a fake clock, as wire-watchdog.ts does. */
function fenced(leaseMs: number, timeoutSecs: number) {
  let now = 0;
  const wd = new MemoryWatchdog(() => now);
  const real = wd.arm('/dev/watchdog', timeoutSecs).timeoutSecs;
  const lease = new SelfFenceLease({ leaseMs });
  const apply = (outs: SelfFenceOutput[]) => {
    for (const o of outs) if (o.type === 'lease') wd.setLeaseDeadline(o.deadlineMs);
  };
  return {
    wd,
    real,
    lease,
    /** One turn of the event loop at `t`. */
    turn(t: number, evidenceAtMs: number | undefined, serving: boolean) {
      now = t;
      apply(lease.step({ type: 'evidence', atMs: evidenceAtMs, nowMs: t }));
      apply(lease.step({ type: 'serving', serving, nowMs: t }));
    },
    at(t: number) {
      now = t;
    },
  };
}

describe('lease and watchdog together', () => {
  it('a loop that keeps renewing from fresh evidence is never reset', () => {
    const f = fenced(8_000, 4);
    for (let t = 0; t <= 120_000; t += 100) f.turn(t, Math.floor(t / 1_000) * 1_000, true);
    expect(f.wd.wouldHaveFired()).toBe(false);
    expect(f.wd.state()).toMatchObject({ armed: true, expired: false });
  });

  it('nothing in service and a loop that stops: never reset (unbounded lease)', () => {
    const f = fenced(8_000, 4);
    f.turn(0, 0, false);
    f.at(10 * 60_000);
    expect(f.wd.wouldHaveFired()).toBe(false);
    expect(f.wd.fireAtMs()).toBeUndefined();
  });

  it('in service and a loop that stops at 10 s: reset after the lease, within lease + timeout of the last evidence', () => {
    const f = fenced(8_000, 4);
    for (let t = 0; t <= 10_000; t += 100) f.turn(t, Math.floor(t / 1_000) * 1_000, true);
    const fire = f.wd.fireAtMs()!;
    expect(fire).toBeGreaterThan(10_000 + 4_000);
    expect(fire).toBeLessThanOrEqual(10_000 + 8_000 + 4_000);
    f.at(fire - 1);
    expect(f.wd.wouldHaveFired()).toBe(false);
    // The loop wakes up after the keeper saw the lapse: too late, the reset comes anyway.
    f.turn(fire - 1, fire - 1, true);
    expect(f.wd.state().expired).toBe(true);
    expect(f.wd.setLeaseDeadline(fire + 60_000)).toBe(false);
    expect(f.wd.fireAtMs()).toBe(fire);
    // And disarming then does not stop the watchdog.
    expect(f.wd.disarm()).toEqual({ magicClosed: false });
    expect(f.wd.wouldHaveFired(fire)).toBe(true);
  });

  it('evidence that stops (a partition) while the loop runs: reset within lease + timeout of the last evidence', () => {
    const f = fenced(8_000, 4);
    for (let t = 0; t <= 30_000; t += 100) f.turn(t, t < 10_000 ? Math.floor(t / 1_000) * 1_000 : undefined, true);
    expect(f.lease.status(30_000).lapsed).toBe(true);
    expect(f.wd.fireAtMs()!).toBeLessThanOrEqual(9_000 + 8_000 + 4_000);
  });

  it('a healthy osu loser: decides within a probe period + time limit of its last evidence, removes within the allowance: not reset', () => {
    const timing = selfFenceTiming({ mode: 'tcp_remote', usesHosts: true, probePeriodMs: 1_000, probeTimeoutMs: 5_000, heartbeatMs: 1_000, missedHeartbeats: 3, lossActionMs: 5_000, watchdogTimeoutMs: 4_000 });
    const run = (leaseMs: number) => {
      const f = fenced(leaseMs, 4);
      // Last good round at 20 s; the loss decided at 26 s (period + time limit); out of service 5 s later.
      for (let t = 0; t <= 60_000; t += 100) f.turn(t, t <= 20_000 ? Math.floor(t / 1_000) * 1_000 : undefined, t < 26_000 + 4_900);
      return f.wd.wouldHaveFired(60_000);
    };
    expect(run(timing.leaseMs)).toBe(false);
    // A lease without the allowance would have reset it in the middle of its remove scripts.
    expect(run(timing.leaseMs - 5_000)).toBe(true);
  });

  it('taken out of service before the lease ends (osu in time): not reset', () => {
    const f = fenced(8_000, 4);
    for (let t = 0; t <= 10_000; t += 100) f.turn(t, Math.floor(t / 1_000) * 1_000, true);
    for (let t = 10_100; t <= 60_000; t += 100) f.turn(t, undefined, t < 14_000);
    expect(f.wd.wouldHaveFired(60_000)).toBe(false);
  });
});

describe('the survivor hold covers the lost system\'s lease and watchdog', () => {
  const gateCfg = (c: Partial<QuorumGateConfig>): QuorumGateConfig => ({
    mode: 'tcp_remote', local: 'n2', hosts: ['w:1'], probeTimeoutMs: 5_000, probePeriodMs: 1_000, quarantineMs: 0, lossActionMs: 5_000, heartbeatMs: 1_000, ...c,
  });

  it('the hold is the larger of the quorum hold and the watchdog hold, in every mode', () => {
    const timing = selfFenceTiming({ mode: 'tcp_remote', usesHosts: true, probePeriodMs: 1_000, probeTimeoutMs: 5_000, heartbeatMs: 1_000, missedHeartbeats: 3, lossActionMs: 0, watchdogTimeoutMs: 30_000 });
    expect(new QuorumGate(gateCfg({}), 0).survivorHoldMs()).toBe(1_000 + 5_000 + 5_000 + 2_000);
    expect(new QuorumGate(gateCfg({ selfFenceHoldMs: timing.holdMs }), 0).survivorHoldMs()).toBe(8_000 + 30_000 + 2_000);
    // Modes where nobody loses quorum had no hold: with a watchdog a frozen system is waited for.
    expect(new QuorumGate(gateCfg({ mode: 'none', hosts: [] }), 0).survivorHoldMs()).toBe(0);
    expect(new QuorumGate(gateCfg({ mode: 'none', hosts: [], selfFenceHoldMs: 7_000 }), 0).survivorHoldMs()).toBe(7_000);
  });

  it('storage quorum: a lost system must also stand still for the watchdog hold', () => {
    const storage = { intervalMs: 1_000, numHbeats: 3 };
    const g = new QuorumGate(gateCfg({ mode: 'storage', hosts: [], storage, lossActionMs: 0, selfFenceHoldMs: 20_000 }), 0);
    const sys = ['n1', 'n2'];
    g.step({ type: 'membership', systems: sys, alive: ['n1'], nowMs: 0 });
    g.step({ type: 'storage', wroteAtMs: 0, fenced: undefined, error: undefined, unchangedMs: new Map([['n1', 0]]), nowMs: 0 });
    g.step({ type: 'membership', systems: sys, alive: [], nowMs: 1_000 });
    g.step({ type: 'evicted', system: 'n1', outcome: 'won', reason: 'evicted', nowMs: 1_100 });
    g.step({ type: 'storage', wroteAtMs: 4_000, fenced: undefined, error: undefined, unchangedMs: new Map([['n1', 4_000]]), nowMs: 4_000 });
    // N x T (3 s) has passed, but not the watchdog hold.
    expect(g.isOpen()).toBe(false);
    expect(g.status().closedReason).toMatch(/stand still \(4\.0 s of 20 s\)/);
    g.step({ type: 'storage', wroteAtMs: 20_500, fenced: undefined, error: undefined, unchangedMs: new Map([['n1', 20_000]]), nowMs: 20_500 });
    expect(g.isOpen()).toBe(true);
  });

  it('a two-node partition: the starved loser is reset before the survivor takes over', () => {
    const timeoutSecs = 4;
    const timing = selfFenceTiming({ mode: 'tcp_remote', usesHosts: true, probePeriodMs: 1_000, probeTimeoutMs: 5_000, heartbeatMs: 1_000, missedHeartbeats: 3, lossActionMs: 0, watchdogTimeoutMs: timeoutSecs * 1_000 });
    // The loser: in service, renewing from a witness round every second until the cut at 20 s,
    // when its event loop is starved and never runs again.
    const loser = fenced(timing.leaseMs, timeoutSecs);
    for (let t = 0; t <= 20_000; t += 100) loser.turn(t, Math.floor(t / 1_000) * 1_000, true);
    // The survivor: sees the loser until the cut, notices the loss after 3 missed heartbeats.
    // fastkill: no loss action allowance, the shortest quorum hold.
    const survivor = new QuorumGate(gateCfg({ lossActionMs: 0, selfFenceHoldMs: timing.holdMs }), 0);
    survivor.step({ type: 'membership', systems: ['n1', 'n2'], alive: ['n1'], nowMs: 0 });
    survivor.step({ type: 'probe-result', host: 'w:1', reachable: true, roundStartMs: 0, nowMs: 10 });
    expect(survivor.isOpen()).toBe(true);
    survivor.step({ type: 'membership', systems: ['n1', 'n2'], alive: [], nowMs: 23_000 });
    let openAt: number | undefined;
    for (let t = 23_000; t <= 80_000 && openAt === undefined; t += 100) {
      for (const o of survivor.tick(t)) if (o.type === 'probe') survivor.step({ type: 'probe-result', host: 'w:1', reachable: true, roundStartMs: o.roundStartMs, nowMs: t + 10 });
      if (survivor.isOpen()) openAt = t;
    }
    expect(openAt).toBeDefined();
    const resetAt = loser.wd.fireAtMs()!;
    expect(resetAt, `loser reset at ${resetAt}, survivor opens at ${openAt}`).toBeLessThan(openAt!);
    // Without the watchdog hold, the survivor would have opened no later than the reset.
    const bare = new QuorumGate(gateCfg({ lossActionMs: 0 }), 0);
    expect(23_000 + bare.survivorHoldMs()).toBeLessThanOrEqual(resetAt);
  });
});
