// The listener's loop: every heartbeat interval it reads the heartbeat area, steps the
// StandbyMachine with what it found and carries out what the machine asks — fence the primary,
// then let the boot continue — writing the state file after each change so `vigil standby
// status` and vigild's metrics can show it. All decisions are the machine's; this file only does
// the I/O and keeps time (monotonic clock for the time-out, wall clock for record dates).
import type { StandbyStateRecord } from './standby-state-file.js';
import { StandbyMachine, type StandbyAction, type StandbyState } from './standby-machine.js';
import type { PrimaryRead } from './primary-record-reader.js';

export interface ListenerDeps {
  primary: string;
  timeoutMs: number;
  intervalMs: number;
  /** How the LUN is read, for the state file. */
  io: string;
  read(): Promise<PrimaryRead>;
  /** Fence the primary; resolves with what was done (for the log), rejects when it did not hold. */
  fence(): Promise<string>;
  saveState(r: StandbyStateRecord): Promise<void>;
  log(level: 'info' | 'warn' | 'error', msg: string): void;
  nowMs(): number;
  wallMs(): number;
  sleep(ms: number): Promise<void>;
  initial?: { state: StandbyState; why: string };
  /** Stop listening (SIGTERM): resolves the loop with the state reached so far. */
  stopped?(): boolean;
}

/** Runs until the machine lets the boot continue (or stopped()); resolves with the final state. */
export async function runListener(d: ListenerDeps): Promise<{ state: StandbyState; why: string }> {
  const m = new StandbyMachine({ primary: d.primary, timeoutMs: d.timeoutMs, nowMs: d.nowMs(), initial: d.initial });
  const wallAtStart = d.wallMs() - d.nowMs();
  const save = async () => {
    const s = m.snapshot();
    const r = s.lastRecord;
    try {
      await d.saveState({
        state: s.state,
        why: s.why,
        since: wallAtStart + s.sinceMs,
        primary: d.primary,
        lastRecord: r && { slot: r.slot, seq: r.seq.toString(), bootId: r.bootId.toString(16), timeMs: r.timeMs, state: r.state },
        lastHeartbeat: s.heartbeats ? wallAtStart + s.lastHeartbeatMs : undefined,
        heartbeats: s.heartbeats,
        rejectedRecords: s.rejectedRecords,
        io: d.io,
        updated: d.wallMs(),
        pid: s.state === 'active' ? 0 : process.pid,
      });
    } catch (err) {
      d.log('warn', `cannot write the standby state file: ${(err as Error).message}`);
    }
  };
  let done: { state: StandbyState; why: string } | undefined;
  const run = async (actions: StandbyAction[]): Promise<void> => {
    for (const a of actions) {
      if (a.do === 'log') d.log(a.level, a.msg);
      else if (a.do === 'continue_boot') done = { state: 'active', why: a.why };
      else {
        await save();
        let next: StandbyAction[];
        try {
          const detail = await d.fence();
          next = m.step({ type: 'fenced', nowMs: d.nowMs(), detail });
        } catch (err) {
          next = m.step({ type: 'fence_failed', nowMs: d.nowMs(), error: (err as Error).message });
        }
        await run(next);
      }
    }
  };
  if (m.snapshot().state === 'active') return { state: 'active', why: m.snapshot().why };
  await save();
  let lastState = m.snapshot().state;
  let lastSaved = d.nowMs();
  while (!done && !d.stopped?.()) {
    const started = d.nowMs();
    let actions: StandbyAction[];
    try {
      const got = await d.read();
      actions = m.step({ type: 'read', nowMs: d.nowMs(), wallMs: d.wallMs(), record: got.record, rejected: got.rejected });
    } catch (err) {
      actions = m.step({ type: 'read_failed', nowMs: d.nowMs(), error: (err as Error).message });
    }
    await run(actions);
    const s = m.snapshot().state;
    // The state file follows every change at once, and the record's progress once a second.
    if (done || s !== lastState || d.nowMs() - lastSaved >= 1000) {
      await save();
      lastState = s;
      lastSaved = d.nowMs();
    }
    if (done) break;
    await d.sleep(Math.max(0, d.intervalMs - (d.nowMs() - started)));
  }
  return done ?? { state: m.snapshot().state, why: m.snapshot().why };
}
