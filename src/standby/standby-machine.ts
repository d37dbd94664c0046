// The recovery-server standby's decision, without I/O: the listener (listener.ts) reads the
// primary's disk heartbeat slot every interval and feeds what it found in with step(); the
// machine says when to fence and when the boot may continue. Liveness follows the DISK comm
// path's rules (RecordTracker in disk-record.ts): only an authentic record of the primary that is
// newer than the last one accepted is a heartbeat — a stuck, replayed, forged or "leaving" record
// is not. Nothing but these records decides: the machine has no input for the network at all, so
// losing Ethernet cannot start a takeover (seed 004).
//
// States: listening → (no heartbeat for the time-out) taking_over → (the fence holds) active.
// active is left only by the manual return (step 'return'), which needs the primary back and
// healthy. The time-out is judged on successful reads only: a standby that cannot read the LUN
// learns nothing about the primary and does not take over on that account.
import { type DiskRecord, type RecordReject, RecordTracker } from '../cluster/disk-record.js';

export type StandbyState = 'listening' | 'taking_over' | 'active';

export type StandbyInput =
  /** One read of the heartbeat area: the primary's authentic record if there is one, the rejects. */
  | { type: 'read'; nowMs: number; wallMs: number; record?: DiskRecord; rejected?: RecordReject[] }
  | { type: 'read_failed'; nowMs: number; error: string }
  | { type: 'fenced'; nowMs: number; detail: string }
  | { type: 'fence_failed'; nowMs: number; error: string }
  /** The administrator's return: primaryHealthy says whether the guard's checks passed and why not. */
  | { type: 'return'; nowMs: number; primaryHealthy: boolean; why: string };

export type StandbyAction =
  | { do: 'fence'; why: string }
  | { do: 'continue_boot'; why: string }
  | { do: 'log'; level: 'info' | 'warn' | 'error'; msg: string };

export interface StandbySnapshot {
  state: StandbyState;
  why: string;
  sinceMs: number;
  /** The last record of the primary accepted as a heartbeat (or the first seen). */
  lastRecord?: DiskRecord;
  /** Monotonic time of the last heartbeat (or of listening's start when none yet). */
  lastHeartbeatMs: number;
  heartbeats: number;
  rejectedRecords: number;
  readFailures: number;
}

export interface StandbyMachineOptions {
  primary: string;
  timeoutMs: number;
  nowMs: number;
  /** Largest accepted clock difference of a record's time (as for the DISK comm path). */
  maxSkewMs?: number;
  /** Start in this state (the persisted one: an active standby stays active across reboots). */
  initial?: { state: StandbyState; why: string };
}

export class StandbyMachine {
  private state: StandbyState;
  private why: string;
  private sinceMs: number;
  private tracker: RecordTracker;
  private lastHeartbeatMs: number;
  private heartbeats = 0;
  private rejectedRecords = 0;
  private readFailures = 0;
  private fenceRequested = false;
  /** Why the takeover began (kept for the active state's why). */
  private takeoverReason = '';

  constructor(private readonly o: StandbyMachineOptions) {
    this.state = o.initial?.state === 'active' ? 'active' : 'listening';
    this.why = o.initial?.state === 'active' ? o.initial.why : `listening for ${o.primary}'s disk heartbeat`;
    this.sinceMs = o.nowMs;
    this.tracker = new RecordTracker(o.maxSkewMs ?? 30_000);
    this.lastHeartbeatMs = o.nowMs;
  }

  snapshot(): StandbySnapshot {
    return {
      state: this.state,
      why: this.why,
      sinceMs: this.sinceMs,
      lastRecord: this.tracker.lastRecord,
      lastHeartbeatMs: this.lastHeartbeatMs,
      heartbeats: this.heartbeats,
      rejectedRecords: this.rejectedRecords,
      readFailures: this.readFailures,
    };
  }

  private enter(state: StandbyState, why: string, nowMs: number): void {
    this.state = state;
    this.why = why;
    this.sinceMs = nowMs;
  }

  step(input: StandbyInput): StandbyAction[] {
    switch (input.type) {
      case 'read':
        return this.onRead(input);
      case 'read_failed':
        this.readFailures++;
        return this.readFailures === 1 ? [{ do: 'log', level: 'warn', msg: `cannot read the heartbeat area: ${input.error}; the time-out counts only readable intervals` }] : [];
      case 'fenced':
        if (this.state !== 'taking_over') return [];
        this.enter('active', `took over from ${this.o.primary}: ${this.takeoverReason}; ${input.detail}`, input.nowMs);
        return [{ do: 'continue_boot', why: this.why }];
      case 'fence_failed':
        if (this.state !== 'taking_over') return [];
        this.fenceRequested = false;
        this.why = `${this.takeoverReason}; the fence failed (${input.error}), the boot keeps waiting and the fence is tried again`;
        return [{ do: 'log', level: 'error', msg: this.why }];
      case 'return':
        return this.onReturn(input);
    }
  }

  private onRead(input: Extract<StandbyInput, { type: 'read' }>): StandbyAction[] {
    const actions: StandbyAction[] = [];
    this.readFailures = 0;
    const rejected = input.rejected?.filter((r) => r === 'bad_tag' || r === 'bad_slot') ?? [];
    if (rejected.length) this.rejectedRecords += rejected.length;
    let heartbeat = false;
    let seen: string | undefined;
    if (input.record) {
      const r = this.tracker.observe(input.record, input.wallMs);
      heartbeat = r.heartbeat;
      seen = r.why;
    }
    if (heartbeat) {
      this.heartbeats++;
      this.lastHeartbeatMs = input.nowMs;
    }
    if (this.state === 'active') return actions;
    if (this.state === 'taking_over') {
      // Until the fence holds, a primary that advances again is alive: stand down.
      if (heartbeat) {
        this.fenceRequested = false;
        this.enter('listening', `${this.o.primary}'s record advanced again before the fence held; listening`, input.nowMs);
        actions.push({ do: 'log', level: 'warn', msg: this.why });
        return actions;
      }
      if (!this.fenceRequested) {
        this.fenceRequested = true;
        actions.push({ do: 'fence', why: this.takeoverReason });
      }
      return actions;
    }
    const silentMs = input.nowMs - this.lastHeartbeatMs;
    if (silentMs >= this.o.timeoutMs) {
      this.takeoverReason = this.silenceReason(silentMs, seen, input.record);
      this.enter('taking_over', this.takeoverReason, input.nowMs);
      this.fenceRequested = true;
      actions.push({ do: 'log', level: 'warn', msg: `taking over: ${this.takeoverReason}` });
      actions.push({ do: 'fence', why: this.takeoverReason });
      return actions;
    }
    if (heartbeat) this.why = `${this.o.primary} is alive (sequence ${input.record!.seq}, boot ${input.record!.bootId.toString(16)})`;
    return actions;
  }

  private silenceReason(silentMs: number, seen: string | undefined, record: DiskRecord | undefined): string {
    const s = (silentMs / 1000).toFixed(1);
    const limit = (this.o.timeoutMs / 1000).toFixed(1);
    if (!record) {
      const forged = this.rejectedRecords ? ` (${this.rejectedRecords} forged or misplaced records refused)` : '';
      return this.heartbeats ? `${this.o.primary}'s record vanished from the heartbeat area; no heartbeat for ${s} s (time-out ${limit} s)${forged}` : `no record of ${this.o.primary} on the heartbeat area for ${s} s (time-out ${limit} s)${forged}`;
    }
    const what =
      seen === 'leaving' ? `${this.o.primary} left (its last record says leaving)` :
      seen === 'yielding' ? `${this.o.primary} has no quorum and serves nothing (its record says yielding)` :
      seen === 'replayed' ? `${this.o.primary}'s record went back (a replayed record is not a heartbeat)` :
      seen === 'future' ? `${this.o.primary}'s record is dated in the future (beyond the allowed skew)` :
      `${this.o.primary}'s record stopped at sequence ${this.tracker.lastRecord?.seq ?? record.seq}`;
    return `${what}; no heartbeat for ${s} s (time-out ${limit} s)`;
  }

  private onReturn(input: Extract<StandbyInput, { type: 'return' }>): StandbyAction[] {
    if (this.state !== 'active') return [{ do: 'log', level: 'warn', msg: `nothing to return: the standby is ${this.state}` }];
    if (!input.primaryHealthy) return [{ do: 'log', level: 'error', msg: `return refused: ${input.why}` }];
    this.enter('listening', `returned to listening by the administrator: ${input.why}`, input.nowMs);
    this.tracker = new RecordTracker(this.o.maxSkewMs ?? 30_000);
    this.lastHeartbeatMs = input.nowMs;
    this.takeoverReason = '';
    this.fenceRequested = false;
    return [{ do: 'log', level: 'info', msg: this.why }];
  }
}
