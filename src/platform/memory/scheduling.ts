// Scheduling in memory for unit tests: records what was asked, and can be told to refuse (as an
// unprivileged process or a unit without LimitRTPRIO/LimitMEMLOCK gets EPERM).
import { SysError } from '../errors.js';
import type { Scheduling, SchedulingState } from '../platform.js';

export class MemoryScheduling implements Scheduling {
  memoryLocked = false;
  /** What lockMemory() reports as locked, in bytes. */
  lockableBytes = 64 << 20;
  private current: SchedulingState = { policy: 'other', priority: 0, resetOnFork: false, budgetDemotions: 0 };
  /** errno codes the next calls fail with (e.g. 'EPERM'); undefined: they succeed. */
  failLockWith: string | undefined;
  failRealtimeWith: string | undefined;

  lockMemory(): number {
    if (this.failLockWith) throw SysError.fromCode(this.failLockWith, 'mlock2(MLOCK_ONFAULT)');
    this.memoryLocked = true;
    return this.lockableBytes;
  }

  setRealtime(priority: number): void {
    if (!Number.isInteger(priority) || priority < 1 || priority > 99) throw new RangeError('setRealtime: priority must be an integer in 1..99');
    if (this.failRealtimeWith) throw SysError.fromCode(this.failRealtimeWith, 'sched_setscheduler(SCHED_RR)');
    this.current = { policy: 'rr', priority, resetOnFork: true, budgetDemotions: 0 };
  }

  state(): SchedulingState {
    return { ...this.current };
  }
}
