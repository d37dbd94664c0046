// The standby's decision on fake clocks: heartbeats keep it listening; a stuck, replayed, forged
// or vanished record — or a primary that left — starts the takeover at exactly the time-out;
// the boot continues only once the fence holds; only the manual return leaves active.
import { describe, expect, it } from 'vitest';
import { decodeRecord, diskRecordKey, type DiskRecord, encodeRecord } from '../../../src/cluster/disk-record.js';
import { StandbyMachine, type StandbyAction } from '../../../src/standby/standby-machine.js';

const T = 10_000;
const HB = 1_000;
const WALL0 = 1_800_000_000_000;

function rec(seq: number, over: Partial<DiskRecord> = {}): DiskRecord {
  return { slot: 3, system: 'node1', bootId: 7n, seq: BigInt(seq), timeMs: WALL0 + seq * HB, state: 'running', ...over };
}

function machine(now = 0) {
  return new StandbyMachine({ primary: 'node1', timeoutMs: T, nowMs: now });
}

const kinds = (a: StandbyAction[]) => a.map((x) => x.do);

describe('StandbyMachine', () => {
  it('stays listening while the record advances, however long', () => {
    const m = machine();
    for (let i = 0; i <= 100; i++) expect(kinds(m.step({ type: 'read', nowMs: i * HB, wallMs: WALL0 + i * HB, record: rec(i) }))).not.toContain('fence');
    expect(m.snapshot().state).toBe('listening');
    expect(m.snapshot().heartbeats).toBe(100); // the first record seen is no heartbeat
    expect(m.snapshot().why).toMatch(/node1 is alive \(sequence 100/);
  });

  it('pins the boundary: a stuck record starts the takeover at exactly the time-out, not 1 ms before', () => {
    const m = machine();
    m.step({ type: 'read', nowMs: 0, wallMs: WALL0, record: rec(1) });
    m.step({ type: 'read', nowMs: 500, wallMs: WALL0 + 500, record: rec(2) }); // last heartbeat at 500
    expect(kinds(m.step({ type: 'read', nowMs: 500 + T - 1, wallMs: WALL0, record: rec(2) }))).toEqual([]);
    expect(m.snapshot().state).toBe('listening');
    const a = m.step({ type: 'read', nowMs: 500 + T, wallMs: WALL0, record: rec(2) });
    expect(kinds(a)).toEqual(['log', 'fence']);
    expect(m.snapshot().state).toBe('taking_over');
    expect(m.snapshot().why).toMatch(/stopped at sequence 2; no heartbeat for 10\.0 s \(time-out 10\.0 s\)/);
  });

  it('continues the boot only once the fence holds, and retries a failed fence', () => {
    const m = machine();
    m.step({ type: 'read', nowMs: 0, wallMs: WALL0, record: rec(1) });
    expect(kinds(m.step({ type: 'read', nowMs: T, wallMs: WALL0, record: rec(1) }))).toContain('fence');
    // The fence is in flight: the next read does not ask again.
    expect(kinds(m.step({ type: 'read', nowMs: T + HB, wallMs: WALL0, record: rec(1) }))).toEqual([]);
    expect(kinds(m.step({ type: 'fence_failed', nowMs: T + HB, error: 'RESERVATION CONFLICT' }))).toEqual(['log']);
    expect(m.snapshot().state).toBe('taking_over');
    expect(m.snapshot().why).toMatch(/fence failed \(RESERVATION CONFLICT\)/);
    expect(kinds(m.step({ type: 'read', nowMs: T + 2 * HB, wallMs: WALL0, record: rec(1) }))).toEqual(['fence']);
    const a = m.step({ type: 'fenced', nowMs: T + 2 * HB, detail: 'preempted 0x56aa' });
    expect(a).toEqual([{ do: 'continue_boot', why: expect.stringMatching(/took over from node1: .*stopped at sequence 1.*preempted 0x56aa/) }]);
    expect(m.snapshot().state).toBe('active');
    // Active stays active whatever the disk says: the return is manual.
    expect(kinds(m.step({ type: 'read', nowMs: T + 3 * HB, wallMs: WALL0, record: rec(2) }))).toEqual([]);
    expect(m.snapshot().state).toBe('active');
  });

  it('a replayed (older) record is not a heartbeat', () => {
    const m = machine();
    m.step({ type: 'read', nowMs: 0, wallMs: WALL0, record: rec(5) });
    m.step({ type: 'read', nowMs: HB, wallMs: WALL0, record: rec(6) });
    for (let t = 2 * HB; t < HB + T; t += HB) expect(kinds(m.step({ type: 'read', nowMs: t, wallMs: WALL0, record: rec(t % 2 ? 4 : 5) }))).toEqual([]);
    expect(kinds(m.step({ type: 'read', nowMs: HB + T, wallMs: WALL0, record: rec(3) }))).toContain('fence');
    expect(m.snapshot().why).toMatch(/went back \(a replayed record is not a heartbeat\)/);
  });

  it('a forged record (wrong key) decodes to nothing: the primary counts as silent', () => {
    const key = diskRecordKey(Buffer.alloc(32, 1));
    const forger = diskRecordKey(Buffer.alloc(32, 2));
    const forged = decodeRecord(key, encodeRecord(forger, rec(99)), 3);
    expect(forged).toEqual({ ok: false, reason: 'bad_tag' });
    const m = machine();
    m.step({ type: 'read', nowMs: 0, wallMs: WALL0, record: rec(1) });
    for (let t = HB; t < T; t += HB) expect(kinds(m.step({ type: 'read', nowMs: t, wallMs: WALL0, rejected: ['bad_tag'] }))).toEqual([]);
    expect(kinds(m.step({ type: 'read', nowMs: T, wallMs: WALL0, rejected: ['bad_tag'] }))).toContain('fence');
    expect(m.snapshot().rejectedRecords).toBe(10);
    expect(m.snapshot().why).toMatch(/10 forged or misplaced records refused/);
  });

  it('a primary leaving cleanly stops its heartbeat: the takeover follows after the time-out, not at once', () => {
    const m = machine();
    m.step({ type: 'read', nowMs: 0, wallMs: WALL0, record: rec(1) });
    m.step({ type: 'read', nowMs: HB, wallMs: WALL0, record: rec(2) });
    expect(kinds(m.step({ type: 'read', nowMs: 2 * HB, wallMs: WALL0, record: rec(3, { state: 'leaving' }) }))).toEqual([]);
    expect(kinds(m.step({ type: 'read', nowMs: HB + T - 1, wallMs: WALL0, record: rec(3, { state: 'leaving' }) }))).toEqual([]);
    expect(kinds(m.step({ type: 'read', nowMs: HB + T, wallMs: WALL0, record: rec(3, { state: 'leaving' }) }))).toContain('fence');
    expect(m.snapshot().why).toMatch(/node1 left \(its last record says leaving\)/);
  });

  it('a primary restarting within the time-out (new boot, later time) is a heartbeat', () => {
    const m = machine();
    m.step({ type: 'read', nowMs: 0, wallMs: WALL0, record: rec(1) });
    m.step({ type: 'read', nowMs: HB, wallMs: WALL0, record: rec(2, { state: 'leaving' }) });
    m.step({ type: 'read', nowMs: T - 1, wallMs: WALL0 + 60_000, record: rec(1, { bootId: 8n, timeMs: WALL0 + 60_000 }) });
    expect(kinds(m.step({ type: 'read', nowMs: T + 5, wallMs: WALL0 + 60_000, record: rec(1, { bootId: 8n, timeMs: WALL0 + 60_000 }) }))).toEqual([]);
    expect(m.snapshot().state).toBe('listening');
  });

  it('no record of the primary at all: the time-out runs from the start of listening', () => {
    const m = machine(1000);
    expect(kinds(m.step({ type: 'read', nowMs: 1000 + T - 1, wallMs: WALL0 }))).toEqual([]);
    expect(kinds(m.step({ type: 'read', nowMs: 1000 + T, wallMs: WALL0 }))).toContain('fence');
    expect(m.snapshot().why).toMatch(/no record of node1 on the heartbeat area/);
  });

  it('unreadable LUN: failed reads never start a takeover', () => {
    const m = machine();
    m.step({ type: 'read', nowMs: 0, wallMs: WALL0, record: rec(1) });
    for (let t = HB; t < 5 * T; t += HB) expect(kinds(m.step({ type: 'read_failed', nowMs: t, error: 'EIO' })).filter((k) => k !== 'log')).toEqual([]);
    expect(m.snapshot().state).toBe('listening');
    expect(m.snapshot().readFailures).toBeGreaterThan(0);
  });

  it('stands down when the primary advances again before the fence holds', () => {
    const m = machine();
    m.step({ type: 'read', nowMs: 0, wallMs: WALL0, record: rec(1) });
    m.step({ type: 'read', nowMs: T, wallMs: WALL0, record: rec(1) });
    expect(m.snapshot().state).toBe('taking_over');
    m.step({ type: 'read', nowMs: T + HB, wallMs: WALL0, record: rec(2) });
    expect(m.snapshot().state).toBe('listening');
    expect(kinds(m.step({ type: 'fenced', nowMs: T + HB, detail: 'late' }))).toEqual([]);
    expect(m.snapshot().state).toBe('listening');
  });

  it('the manual return: refused while the primary is not healthy, then back to listening', () => {
    const m = new StandbyMachine({ primary: 'node1', timeoutMs: T, nowMs: 0, initial: { state: 'active', why: 'took over earlier' } });
    expect(m.snapshot().state).toBe('active');
    const refused = m.step({ type: 'return', nowMs: 1, primaryHealthy: false, why: "node1's record is not advancing" });
    expect(refused).toEqual([{ do: 'log', level: 'error', msg: "return refused: node1's record is not advancing" }]);
    expect(m.snapshot().state).toBe('active');
    m.step({ type: 'return', nowMs: 2, primaryHealthy: true, why: 'node1 advancing, key registered' });
    expect(m.snapshot().state).toBe('listening');
    // Listening again with a fresh time-out from the return.
    expect(kinds(m.step({ type: 'read', nowMs: 2 + T - 1, wallMs: WALL0, record: rec(1) }))).toEqual([]);
    expect(kinds(m.step({ type: 'read', nowMs: 2 + T, wallMs: WALL0, record: rec(1) }))).toContain('fence');
  });
});
