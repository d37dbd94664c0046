// stayScheduled: asks for locked memory and SCHED_RR at the configured priority, keeps running
// (and says why) when either is refused, and asks for nothing at priority 0.
import { describe, expect, it } from 'vitest';
import { stayScheduled } from '../../../src/cluster/stay-scheduled.js';
import { MemoryScheduling } from '../../../src/platform/memory/scheduling.js';

function logger() {
  const lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  return { lines, log: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => lines.push({ level, msg, ...(fields ? { fields } : {}) }) };
}

describe('stayScheduled', () => {
  it('locks memory and switches to SCHED_RR at the priority', () => {
    const s = new MemoryScheduling();
    const { lines, log } = logger();
    expect(stayScheduled(s, 10, log)).toEqual({ memoryLocked: true, lockedBytes: 64 << 20, realtimePriority: 10 });
    expect(s.memoryLocked).toBe(true);
    expect(s.state()).toEqual({ policy: 'rr', priority: 10, resetOnFork: true, budgetDemotions: 0 });
    expect(lines).toEqual([{ level: 'info', msg: 'staying scheduled for heartbeats', fields: { memoryLocked: true, lockedMiB: 64, schedulingPolicy: 'rr', priority: 10 } }]);
  });

  it('carries on when refused, with one warning per refusal naming the setting that allows it', () => {
    const s = new MemoryScheduling();
    s.failLockWith = 'EPERM';
    s.failRealtimeWith = 'EPERM';
    const { lines, log } = logger();
    expect(stayScheduled(s, 10, log)).toEqual({ memoryLocked: false, lockedBytes: 0, realtimePriority: undefined });
    expect(s.state().policy).toBe('other');
    expect(lines.map((l) => l.level)).toEqual(['warn', 'warn']);
    expect(lines[0]!.msg).toMatch(/LimitMEMLOCK/);
    expect(lines[1]!.msg).toMatch(/LimitRTPRIO/);
    expect(String(lines[1]!.fields!.error)).toMatch(/EPERM/);
  });

  it('asks for nothing at priority 0', () => {
    const s = new MemoryScheduling();
    const { lines, log } = logger();
    expect(stayScheduled(s, 0, log)).toEqual({ memoryLocked: false, lockedBytes: 0, realtimePriority: undefined });
    expect(s.memoryLocked).toBe(false);
    expect(s.state().policy).toBe('other');
    expect(lines[0]!.msg).toMatch(/VIGIL_REALTIME_PRIORITY=0/);
  });
});
