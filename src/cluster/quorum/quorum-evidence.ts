// How old the facts are that a quorum "yes" rests on (pure): the renewal time of the self-fence
// lease (self-fence-lease.ts). A verdict is only as fresh as its oldest needed fact, and a fact's
// time must be one this system measured itself, never the moment a message happened to be read:
// after a stall the event loop reads heartbeats that waited in a socket for seconds. So:
//   a witness host   counts from the start of the probe round that found it reachable (this
//                    system's own clock, before the connection was tried);
//   a peer system    counts from the send time this system wrote into a heartbeat that the peer
//                    echoed back (HeartbeatAck); over a DISK comm path, from the issue time of our
//                    record write whose sequence the peer's record echoes (disk-path.ts). A peer
//                    whose vigild predates the disk echoes, seen over DISK paths alone, gives none.
// The evidence time is the latest time e such that the facts from e on alone still give quorum
// (votes.ts): the freshest subset that suffices. A mode where nothing outside can take quorum away
// (none; majority with two systems and no witness hosts) needs no facts: the evidence is "now",
// and the lease only proves that the event loop runs.
import { countVotes, type QuorumMode } from './votes.js';

export interface EvidenceFacts {
  mode: Exclude<QuorumMode, 'storage'>;
  local: string;
  systems: readonly string[];
  /** Systems the membership sees alive now. */
  alive: ReadonlySet<string>;
  hosts: readonly string[];
  /** Hosts counted reachable now, each with the start of the round that found it so. */
  reachableSince: ReadonlyMap<string, number>;
  /** The send time of the latest heartbeat `system` echoed (undefined: none). */
  echoedAtMs: (system: string) => number | undefined;
  nowMs: number;
}

export function quorumEvidenceAtMs(f: EvidenceFacts): number | undefined {
  const verdict = (alive: ReadonlySet<string>, reachable: ReadonlySet<string>) =>
    countVotes({ mode: f.mode, local: f.local, systems: f.systems, alive, hosts: f.hosts, reachable }).quorum;
  if (verdict(new Set(), new Set())) return f.nowMs;
  const echoes = new Map<string, number>();
  for (const s of f.alive) {
    const at = f.echoedAtMs(s);
    if (at !== undefined && at <= f.nowMs) echoes.set(s, at);
  }
  const times = [...new Set([...echoes.values(), ...f.reachableSince.values()])].sort((a, b) => b - a);
  for (const e of times) {
    const alive = new Set([...echoes].filter(([, at]) => at >= e).map(([s]) => s));
    const reachable = new Set([...f.reachableSince].filter(([, at]) => at >= e).map(([h]) => h));
    if (verdict(alive, reachable)) return e;
  }
  return undefined;
}
