// Keeping the heartbeat path scheduled on a loaded machine, as corosync does: lock the agent's
// code in memory (no heartbeat waits for a page of it to be read back from disk; V8's heap cannot
// be locked, see Scheduling.lockMemory) and run the event-loop thread,
// which sends and judges heartbeats, with real-time round-robin priority (busy normal processes
// cannot delay it). The addon demotes that thread while it uses most of the CPU (a long garbage
// collection, a large command), because a busy real-time thread starves the kernel's network
// receive work, which carries the heartbeats it waits for (native/realtime.cc). Either may be refused (no privilege, a unit without LimitMEMLOCK/LimitRTPRIO):
// the agent then runs as before, and says so once.
import type { Scheduling } from '../platform/platform.js';

export type StayScheduledLog = (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;

export interface StayScheduledResult {
  memoryLocked: boolean;
  lockedBytes: number;
  realtimePriority: number | undefined;
}

/** `priority` 0 asks for neither (VIGIL_REALTIME_PRIORITY=0). */
export function stayScheduled(scheduling: Scheduling, priority: number, log: StayScheduledLog): StayScheduledResult {
  const result: StayScheduledResult = { memoryLocked: false, lockedBytes: 0, realtimePriority: undefined };
  if (priority === 0) {
    log('info', 'real-time scheduling and memory locking are off (VIGIL_REALTIME_PRIORITY=0)');
    return result;
  }
  try {
    result.lockedBytes = scheduling.lockMemory();
    result.memoryLocked = true;
  } catch (err) {
    log('warn', 'cannot lock memory; heartbeats may be delayed by paging (allow it with LimitMEMLOCK=infinity)', { error: (err as Error).message });
  }
  try {
    scheduling.setRealtime(priority);
    result.realtimePriority = priority;
  } catch (err) {
    log('warn', 'cannot use real-time scheduling; heartbeats may be delayed on a busy machine (run as root, or allow it with LimitRTPRIO)', { error: (err as Error).message, priority });
  }
  if (result.memoryLocked || result.realtimePriority !== undefined) {
    log('info', 'staying scheduled for heartbeats', { memoryLocked: result.memoryLocked, lockedMiB: Math.round(result.lockedBytes / (1 << 20)), schedulingPolicy: scheduling.state().policy, priority: result.realtimePriority ?? 0 });
  }
  return result;
}
