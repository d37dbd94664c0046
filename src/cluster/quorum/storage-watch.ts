// Storage quorum and storage witness facts, without I/O (docs/quorum.md, "Storage quorum"):
// what the rounds of the storage heartbeat (storage-heartbeat.ts) say about this system's own
// record and about every other system's record on QUORUM_DISK.
//
// Timing, with T = QWK_STORAGE_HBEATTIME and N = QWK_STORAGE_NUMHBEATS:
// - this system keeps quorum while its own record was written within (N-1) x T (measured from
//   when the write was issued) and its key is still registered on the LUN;
// - another system's record counts as stopped once successful reads saw it unchanged for N x T.
// The loser therefore decides at least one interval before the winner may conclude that its
// record stopped, and the winner adds the loser's QUORUM_LOSS_ACTION allowance on top (gate.ts).
import { type DiskRecord, RecordTracker } from '../disk-record.js';
import type { Verdict } from './votes.js';

export interface StorageTiming {
  /** QWK_STORAGE_HBEATTIME in ms. */
  intervalMs: number;
  /** QWK_STORAGE_NUMHBEATS. */
  numHbeats: number;
}

/** How old this system's last written record may be before it has no quorum. */
export function ownLossMs(t: StorageTiming): number {
  return (t.numHbeats - 1) * t.intervalMs;
}

/** How long another system's record must stand still before it counts as stopped. */
export function staleMs(t: StorageTiming): number {
  return t.numHbeats * t.intervalMs;
}

export interface OwnStorageFacts {
  nowMs: number;
  /** When the last successful round issued its write (undefined: none yet). */
  wroteAtMs: number | undefined;
  /** This system's key is gone from the LUN (why), or undefined. */
  fenced: string | undefined;
  /** The last I/O error, for the reason. */
  lastError: string | undefined;
}

/** The storage quorum verdict of this system alone; undefined until a first round finished. */
export function storageVerdict(f: OwnStorageFacts, t: StorageTiming): Verdict | undefined {
  if (f.fenced) return { quorum: false, votes: 0, total: 1, reason: `fenced off the quorum disk: ${f.fenced}` };
  if (f.wroteAtMs === undefined) {
    return f.lastError ? { quorum: false, votes: 0, total: 1, reason: `the quorum disk does not answer: ${f.lastError}` } : undefined;
  }
  const age = f.nowMs - f.wroteAtMs;
  const limit = ownLossMs(t);
  if (age > limit) {
    return { quorum: false, votes: 0, total: 1, reason: `own storage record not written for ${(age / 1000).toFixed(1)} s (limit ${limit / 1000} s)${f.lastError ? `: ${f.lastError}` : ''}` };
  }
  return { quorum: true, votes: 1, total: 1, reason: `own storage record written ${(age / 1000).toFixed(1)} s ago` };
}

/**
 * Per other system: since when its record has not changed, as seen by successful reads. Before
 * the first read nothing is known; a system first seen (or never found) starts its count at the
 * first read, because an old record proves nothing about when it stopped.
 */
export class PeerRecordWatch {
  private readonly trackers = new Map<string, RecordTracker>();
  private readonly changedAtMs = new Map<string, number>();
  private firstReadMs: number | undefined;
  private lastReadMs: number | undefined;

  constructor(
    private readonly localSystem: string,
    private readonly maxSkewMs = 30_000,
  ) {}

  /** The authentic records of one successful read of the area, read at `readAtMs` (monotonic). */
  observe(records: readonly DiskRecord[], readAtMs: number, wallNowMs: number): void {
    this.firstReadMs ??= readAtMs;
    this.lastReadMs = readAtMs;
    // Two slots of one system (it moved after a collision): the newest record counts.
    const newest = new Map<string, DiskRecord>();
    for (const r of records) {
      if (r.system === this.localSystem) continue;
      const prev = newest.get(r.system);
      if (!prev || r.timeMs > prev.timeMs || (r.bootId === prev.bootId && r.seq > prev.seq)) newest.set(r.system, r);
    }
    for (const [system, r] of newest) {
      let t = this.trackers.get(system);
      if (!t) this.trackers.set(system, (t = new RecordTracker(this.maxSkewMs)));
      // A record that appears (first) is a change too: it was not there at the last read.
      const o = t.observe(r, wallNowMs);
      if (o.heartbeat || o.why === 'first') this.changedAtMs.set(system, readAtMs);
    }
  }

  /** How long reads have seen `system`'s record unchanged; undefined before the first read. */
  unchangedFor(system: string): number | undefined {
    if (this.lastReadMs === undefined || this.firstReadMs === undefined) return undefined;
    return this.lastReadMs - (this.changedAtMs.get(system) ?? this.firstReadMs);
  }

  /** Whether a successful read ever found a record of `system`. */
  seen(system: string): boolean {
    return this.trackers.has(system);
  }

  /** When the last successful read completed (monotonic), undefined before the first. */
  get lastReadAtMs(): number | undefined {
    return this.lastReadMs;
  }

  /** unchangedFor for each of `systems` (those with an answer). */
  snapshot(systems: readonly string[]): Map<string, number> {
    const m = new Map<string, number>();
    for (const s of systems) {
      const u = this.unchangedFor(s);
      if (u !== undefined) m.set(s, u);
    }
    return m;
  }
}
