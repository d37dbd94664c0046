// Adapts the comm layer's stats() snapshot (src/cluster/cluster-node.ts ClusterNode) to the
// metrics sources: systems, comm paths with heartbeat round trip and age, and the refused /
// dropped frame counters. Typed structurally, so metrics does not import the cluster code.

import type { ClusterCounters, CommPathSnapshot, MetricsSources, SystemSnapshot } from './sources.js';

/** The part of ClusterNode.stats() that metrics reads. */
export interface ClusterStatsView {
  localSystem: string;
  paths: Array<{
    type: string;
    system: string;
    priority: number;
    state: string;
    rttMs: number | null;
    lastHeartbeatAgeMs: number | null;
  }>;
  systems: Array<{ name: string; state: string }>;
  counters: {
    authFailures: Record<string, number>;
    droppedFrames: Record<string, number>;
    /** Frames refused by the replay window; exposed as dropped frames with reason "replay". */
    replays: number;
  };
}

export type ClusterSources = Required<Pick<MetricsSources, 'localSystem' | 'systems' | 'commPaths' | 'clusterCounters'>>;

export function clusterMetricsSources(cluster: { stats(): ClusterStatsView }): ClusterSources {
  // A scrape reads systems(), commPaths() and clusterCounters() back to back; take one stats()
  // snapshot for all three, forgotten at the next microtask.
  let cached: ClusterStatsView | undefined;
  const stats = (): ClusterStatsView => {
    if (!cached) {
      cached = cluster.stats();
      queueMicrotask(() => {
        cached = undefined;
      });
    }
    return cached;
  };
  return {
    localSystem: () => stats().localSystem,
    systems: (): SystemSnapshot[] => {
      const s = stats();
      const peers = s.systems.map((sys) => ({ name: sys.name, state: sys.state }));
      // The local system is alive by definition while its agent answers the scrape.
      return peers.some((p) => p.name === s.localSystem) ? peers : [{ name: s.localSystem, state: 'ALIVE' }, ...peers];
    },
    commPaths: (): CommPathSnapshot[] => {
      const s = stats();
      return s.paths.map((p) => ({
        system: s.localSystem,
        otherSystem: p.system,
        type: p.type,
        priority: p.priority,
        state: p.state,
        heartbeatRttSeconds: p.rttMs === null ? undefined : p.rttMs / 1000,
        lastHeartbeatAgeSeconds: p.lastHeartbeatAgeMs === null ? undefined : p.lastHeartbeatAgeMs / 1000,
      }));
    },
    clusterCounters: (): ClusterCounters => {
      const c = stats().counters;
      const dropped = { ...c.droppedFrames };
      if (c.replays > 0) dropped.replay = (dropped.replay ?? 0) + c.replays;
      return { authFailures: { ...c.authFailures }, droppedFrames: dropped };
    },
  };
}
