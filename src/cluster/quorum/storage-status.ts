// What the storage heartbeat of QUORUM_MODE=storage / WITNESS_MODE=storage looks like now, as
// plain data for the status output (lcdstatus) and the metrics: this system's own record (how
// long ago its last write was issued, whether its key is fenced off the LUN), every other
// system's record (how long reads have seen it unchanged, and so whether it still moves), the
// evictions the gate asked for and their outcomes. Built without I/O from the facts the quorum
// wiring already keeps (the last rounds, storage-watch.ts PeerRecordWatch, the gate's status).
import type { QuorumGateStatus, EvictionState } from './gate.js';
import { staleMs, type StorageTiming } from './storage-watch.js';

/**
 * One other system's record as reads see it: `unknown` before the first successful read,
 * `absent` when no read ever found a record of it, `moving` when it changed within N x T,
 * `stopped` when it stood still that long (the storage witness's and the gate's "dead").
 */
export type PeerRecordState = 'unknown' | 'absent' | 'moving' | 'stopped';

export interface StoragePeerStatus {
  system: string;
  state: PeerRecordState;
  /** How long successful reads have seen its record unchanged (undefined before the first read). */
  unchangedMs: number | undefined;
  /** Seen alive by the membership now. */
  alive: boolean;
  /** QUORUM_MODE=storage: its eviction from the LUN, when one was asked since it was last seen alive. */
  eviction: EvictionState | undefined;
  /** WITNESS_MODE=storage: declared dead and waiting for its record to stand still. */
  suspect: boolean;
}

export interface StorageStatus {
  /** QUORUM_DISK. */
  device: string;
  /** What the heartbeat serves: the quorum verdict (QUORUM_MODE=storage), the witness, or both. */
  serves: Array<'quorum' | 'witness'>;
  /** How the disk is reached ('SG_IO: ...', 'O_DIRECT: ...', 'opening', or why it is not running). */
  io: string;
  intervalMs: number;
  numHbeats: number;
  /** Since this system's last successful write was issued (undefined: none yet). */
  ownRecordAgeMs: number | undefined;
  /** Since the last successful read of the slots completed (undefined: none yet). */
  lastReadAgeMs: number | undefined;
  /** Why this system is fenced off the LUN (its key is gone), if it is. */
  fenced: string | undefined;
  /** What failed in the last round, if anything did. */
  lastError: string | undefined;
  peers: StoragePeerStatus[];
  /** Outcomes of this system's evictions of others since start (QUORUM_MODE=storage; zeros otherwise). */
  evictions: { won: number; lost: number; failed: number };
}

/** The quorum subsystem's whole status: its gate's, and the storage heartbeat's when one runs. */
export interface QuorumStatus extends QuorumGateStatus {
  storage?: StorageStatus;
}

export interface StorageStatusInput {
  nowMs: number;
  device: string;
  serves: Array<'quorum' | 'witness'>;
  io: string;
  timing: StorageTiming;
  /** When the last successful write was issued, and what the last round said. */
  lastWroteAtMs: number | undefined;
  lastRound: { fenced: string | undefined; error: string | undefined } | undefined;
  /** The read side (PeerRecordWatch). */
  watch: { unchangedFor(system: string): number | undefined; seen(system: string): boolean; readonly lastReadAtMs: number | undefined };
  /** The other configured systems, and those seen alive. */
  systems: readonly string[];
  alive: ReadonlySet<string>;
  /** Storage witness suspects not confirmed yet. */
  suspects: readonly string[];
  gate: Pick<QuorumGateStatus, 'evictions'> | undefined;
}

export function storageStatus(i: StorageStatusInput): StorageStatus {
  const still = staleMs(i.timing);
  const ev = i.gate?.evictions;
  const peers = [...new Set(i.systems)].sort().map((system): StoragePeerStatus => {
    const unchangedMs = i.watch.unchangedFor(system);
    let state: PeerRecordState;
    if (unchangedMs === undefined) state = 'unknown';
    else if (!i.watch.seen(system)) state = 'absent';
    else state = unchangedMs >= still ? 'stopped' : 'moving';
    return { system, state, unchangedMs, alive: i.alive.has(system), eviction: ev?.bySystem[system], suspect: i.suspects.includes(system) };
  });
  return {
    device: i.device,
    serves: i.serves,
    io: i.io,
    intervalMs: i.timing.intervalMs,
    numHbeats: i.timing.numHbeats,
    ownRecordAgeMs: i.lastWroteAtMs === undefined ? undefined : Math.max(0, i.nowMs - i.lastWroteAtMs),
    lastReadAgeMs: i.watch.lastReadAtMs === undefined ? undefined : Math.max(0, i.nowMs - i.watch.lastReadAtMs),
    fenced: i.lastRound?.fenced,
    lastError: i.lastRound?.error,
    peers,
    evictions: { won: ev?.won ?? 0, lost: ev?.lost ?? 0, failed: ev?.failed ?? 0 },
  };
}
