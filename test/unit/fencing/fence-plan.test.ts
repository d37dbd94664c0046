// The fence's I/O-free decisions: the key of a system, the takeover plan for each state a LUN
// can be in, the verdict of the monitor, and the latch that keeps a fenced system from
// registering again before it has rejoined.
import { describe, expect, it } from 'vitest';

import { fenceKeyFor, isVigilKey } from '../../../src/fencing/fence-key.js';
import { FenceLatch, FENCE_TYPE, judge, planEviction, planTakeover, takeoverObstacle } from '../../../src/fencing/fence-plan.js';

const ME = fenceKeyFor('node2');
const OTHER = fenceKeyFor('node1');
const THIRD = fenceKeyFor('node3');

describe('fence key', () => {
  it('is stable, distinct per system, tagged V, never 0', () => {
    expect(fenceKeyFor('node1')).toBe(OTHER);
    expect(ME).not.toBe(OTHER);
    expect(isVigilKey(ME)).toBe(true);
    expect(ME >> 56n).toBe(0x56n);
    expect(ME).toBeLessThan(1n << 64n);
    expect(() => fenceKeyFor('')).toThrow(RangeError);
    // The documented derivation (docs/fencing.md): pinned so a change cannot slip in unnoticed.
    expect(fenceKeyFor('node1').toString(16)).toMatch(/^56[0-9a-f]{14}$/);
  });
});

describe('eviction plan (storage quorum: one peer only)', () => {
  it('preempts the victim alone, keeping a third system; takes the reservation when the victim held it', () => {
    const held = { key: OTHER, type: FENCE_TYPE };
    expect(planEviction(ME, OTHER, { keys: [ME, OTHER, THIRD], reservation: held })).toEqual({ outcome: 'preempt', steps: [{ op: 'preempt', victim: OTHER, takesReservation: true }] });
    expect(planEviction(ME, OTHER, { keys: [ME, OTHER, THIRD], reservation: { key: THIRD, type: FENCE_TYPE } })).toEqual({ outcome: 'preempt', steps: [{ op: 'preempt', victim: OTHER, takesReservation: false }] });
  });
  it('no reservation yet: preempt, then reserve so the victim can no longer write', () => {
    expect(planEviction(ME, OTHER, { keys: [ME, OTHER] })).toEqual({ outcome: 'preempt', steps: [{ op: 'preempt', victim: OTHER, takesReservation: false }, { op: 'reserve' }] });
  });
  it('the victim is already gone: nothing to preempt (reserve if nobody holds the LUN)', () => {
    expect(planEviction(ME, OTHER, { keys: [ME], reservation: { key: ME, type: FENCE_TYPE } })).toEqual({ outcome: 'gone', steps: [] });
    expect(planEviction(ME, OTHER, { keys: [ME] })).toEqual({ outcome: 'gone', steps: [{ op: 'reserve' }] });
  });
  it('our own key is gone: the other side won the race', () => {
    const p = planEviction(ME, OTHER, { keys: [OTHER], reservation: { key: OTHER, type: FENCE_TYPE } });
    expect(p.outcome).toBe('lost');
    expect(p.outcome === 'lost' && p.reason).toMatch(/no longer registered; the reservation is held by 0x56/);
  });
});

describe('takeover plan', () => {
  it('empty LUN: register, then reserve', () => {
    expect(planTakeover(ME, { keys: [] })).toEqual([{ op: 'register' }, { op: 'reserve' }]);
  });

  it('the dead holder is preempted first (taking its reservation), then every other key; no RESERVE', () => {
    const plan = planTakeover(ME, { keys: [OTHER, ME, THIRD], reservation: { key: OTHER, type: FENCE_TYPE } });
    expect(plan).toEqual([
      { op: 'preempt', victim: OTHER, takesReservation: true },
      { op: 'preempt', victim: THIRD, takesReservation: false },
    ]);
  });

  it('not registered yet and another holds: register before preempting', () => {
    expect(planTakeover(ME, { keys: [OTHER], reservation: { key: OTHER, type: FENCE_TYPE } })[0]).toEqual({ op: 'register' });
  });

  it('already holding alone: nothing to do; registered without reservation: reserve only', () => {
    expect(planTakeover(ME, { keys: [ME], reservation: { key: ME, type: FENCE_TYPE } })).toEqual([]);
    expect(planTakeover(ME, { keys: [ME, OTHER] })).toEqual([{ op: 'preempt', victim: OTHER, takesReservation: false }, { op: 'reserve' }]);
  });

  it('names what it cannot do', () => {
    expect(takeoverObstacle(ME, { keys: [ME], reservation: { key: ME, type: 'exclusive-access' } })).toMatch(/exclusive-access/);
    expect(takeoverObstacle(ME, { keys: [OTHER], reservation: { key: 0n, type: 'write-exclusive-all-registrants' } })).toMatch(/all-registrants/);
    expect(takeoverObstacle(ME, { keys: [OTHER], reservation: { key: OTHER, type: FENCE_TYPE } })).toBeUndefined();
  });
});

describe('monitor verdict and latch', () => {
  it('judges holding, registered and fenced', () => {
    expect(judge(ME, { keys: [ME], reservation: { key: ME, type: FENCE_TYPE } })).toEqual({ state: 'holding' });
    expect(judge(ME, { keys: [ME, OTHER], reservation: { key: OTHER, type: FENCE_TYPE } })).toEqual({ state: 'registered', holder: OTHER });
    const v = judge(ME, { keys: [OTHER], reservation: { key: OTHER, type: FENCE_TYPE } }, { asc: 0x2a, ascq: 0x05 });
    expect(v.state).toBe('fenced');
    expect(v.state === 'fenced' && v.reason).toMatch(/no longer registered \(the LUN reported the preemption\); the reservation is held by 0x56/);
  });

  it('keeps a fenced system from registering until it rejoined after the fence', () => {
    const latch = new FenceLatch();
    expect(latch.mayRegister('/dev/sdb', 100)).toBe(true);
    latch.noteFenced('/dev/sdb', 1000, 'preempted');
    expect(latch.mayRegister('/dev/sdb', 900)).toBe(false);
    expect(latch.mayRegister('/dev/sdb', undefined)).toBe(false);
    expect(latch.mayRegister('/dev/sdc', 900)).toBe(true);
    expect(latch.mayRegister('/dev/sdb', 1500)).toBe(true);
    expect(latch.isFenced('/dev/sdb')).toBeUndefined();
  });
});
