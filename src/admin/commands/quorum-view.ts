// The quorum part of lcdstatus: the gate (verdict, open or why closed, witness hosts) and, when
// QUORUM_MODE or WITNESS_MODE is storage, the storage heartbeat on QUORUM_DISK: this system's
// own record, every other system's record, and the evictions from the LUN.
import type { WatchdogStatus } from '../../cluster/quorum/self-fence-lease.js';
import type { QuorumStatus, StorageStatus } from '../../cluster/quorum/storage-status.js';
import { table } from './table.js';

const secs = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);

export function formatQuorum(q: QuorumStatus): string {
  const verdict = q.quorum === undefined ? 'undecided' : q.quorum ? 'quorum' : 'NO QUORUM';
  let out = `\nQuorum:\n  QUORUM_MODE ${q.mode}: ${verdict} (${q.reason})\n`;
  out += q.open ? '  gate open: hierarchies may come in service here\n' : `  gate closed: ${q.closedReason}\n`;
  for (const w of q.witnesses) out += `  witness ${w.host}: ${w.reachable === undefined ? 'no answer yet' : w.reachable ? 'reachable' : 'unreachable'}\n`;
  if (q.storage) out += formatStorage(q.storage);
  return out;
}

function formatStorage(s: StorageStatus): string {
  let out = `\nStorage heartbeat on ${s.device} (${s.serves.join(' and ')}; ${s.io}; every ${s.intervalMs / 1000} s, a record still ${s.numHbeats} intervals counts as stopped):\n`;
  const key = s.fenced ? `FENCED off the disk: ${s.fenced}` : 'key not fenced';
  out += `  own record written ${s.ownRecordAgeMs === undefined ? 'never' : `${secs(s.ownRecordAgeMs)} ago`}; last read ${s.lastReadAgeMs === undefined ? 'never' : `${secs(s.lastReadAgeMs)} ago`}; ${key}\n`;
  if (s.lastError) out += `  last round failed: ${s.lastError}\n`;
  if (s.serves.includes('quorum')) out += `  evictions: won ${s.evictions.won}, lost ${s.evictions.lost}, failed ${s.evictions.failed}\n`;
  out += s.peers.length
    ? table(
        ['SYSTEM', 'MEMBERSHIP', 'RECORD', 'UNCHANGED', 'EVICTION'],
        s.peers.map((p) => [p.system, p.alive ? 'ALIVE' : p.suspect ? 'NOT SEEN (suspect)' : 'NOT SEEN', p.state, secs(p.unchangedMs), p.eviction ?? '-']),
      )
    : '  (no other system)\n';
  return out;
}

/** The self-fencing watchdog part of lcdstatus (only while one is armed). */
export function formatWatchdog(w: WatchdogStatus): string {
  let out = `\nWatchdog: ${w.device} (${w.identity}), timeout ${w.timeoutSecs} s, ${w.pets} pets, keeper ${w.realtime ? 'real-time' : 'NOT real-time (no privilege)'}:\n`;
  if (w.lapsed) out += `  lease LAPSED: the watchdog resets this system within ${w.timeoutSecs} s (${w.reason})\n`;
  else if (w.leaseRemainingMs === Infinity) out += `  lease unbounded: ${w.reason}\n`;
  else out += `  lease ${secs(w.leaseRemainingMs)} left of ${secs(w.leaseMs)}: ${w.reason}\n`;
  return out;
}
