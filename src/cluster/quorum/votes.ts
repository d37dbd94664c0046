// The quorum verdict from one set of facts, as a pure function: which systems this one sees
// alive and which witness hosts answered. Both sides of a partition compute it from their own
// view, so every rule here must give at most one side quorum when the views are disjoint.
//
//   majority   votes = this system + the configured systems seen alive + reachable QUORUM_HOSTS;
//              quorum when votes are more than half of (systems + hosts). An exact half (an even
//              total) is a tie: the side holding the lowest-named configured system wins it, a
//              rule both sides apply alike without talking. Two systems and no QUORUM_HOSTS
//              keep the old rule: the survivor has quorum (there is no majority to be had; the
//              split-brain risk is logged at start).
//   tcp_remote quorum when more than half of QUORUM_HOSTS are reachable; the systems do not count.
//   none       always quorum.
// (storage quorum is decided from this system's own record on the quorum disk: storage-watch.ts.)

export type QuorumMode = 'majority' | 'tcp_remote' | 'storage' | 'none';

export interface VoteFacts {
  mode: Exclude<QuorumMode, 'storage'>;
  local: string;
  /** Every system of the cluster (this one included). */
  systems: readonly string[];
  /** Systems seen alive now (this one need not be listed: it always counts). */
  alive: ReadonlySet<string>;
  /** Witness hosts (labels such as "10.0.0.9:7370"). */
  hosts: readonly string[];
  /** Witness hosts that answered within the time limit. */
  reachable: ReadonlySet<string>;
}

export interface Verdict {
  quorum: boolean;
  votes: number;
  total: number;
  /** One line for the log: how the verdict came about. */
  reason: string;
}

export function countVotes(f: VoteFacts): Verdict {
  const hostsUp = f.hosts.filter((h) => f.reachable.has(h)).length;
  switch (f.mode) {
    case 'none':
      return { quorum: true, votes: 0, total: 0, reason: 'QUORUM_MODE=none' };
    case 'tcp_remote': {
      const total = f.hosts.length;
      const quorum = hostsUp * 2 > total;
      return { quorum, votes: hostsUp, total, reason: `${hostsUp} of ${total} quorum hosts reachable` };
    }
    case 'majority': {
      const systems = [...new Set([...f.systems, f.local])].sort();
      const onOurSide = systems.filter((s) => s === f.local || f.alive.has(s));
      const votes = onOurSide.length + hostsUp;
      const total = systems.length + f.hosts.length;
      const what = `${onOurSide.length} of ${systems.length} systems` + (f.hosts.length ? ` and ${hostsUp} of ${f.hosts.length} quorum hosts` : '');
      if (systems.length <= 2 && f.hosts.length === 0) {
        return { quorum: true, votes, total, reason: `${what}: two systems without a witness, the survivor keeps quorum` };
      }
      if (votes * 2 > total) return { quorum: true, votes, total, reason: `${what}: a majority` };
      if (votes * 2 === total) {
        const lowest = systems[0]!;
        const wins = onOurSide.includes(lowest);
        return { quorum: wins, votes, total, reason: `${what}: a tie, ${wins ? 'won' : 'lost'} (the side with ${lowest} wins ties)` };
      }
      return { quorum: false, votes, total, reason: `${what}: no majority` };
    }
  }
}
