// Adapts the platform's probe counters (TimedStat.counters(), src/platform/platform.ts) to the
// metrics ProbeStats. Typed structurally so metrics does not load the platform itself.

import type { ProbeStats } from './sources.js';

/** The part of ProbeCounters that metrics reads. */
export interface ProbeCountersView {
  inFlight: number;
  parked: number;
  reclaimedTotal: number;
  timedOutTotal: number;
  capacityRejectedTotal: number;
  parkedByKey: Record<string, number>;
}

export function probeMetricsSource(probes: { counters(): ProbeCountersView }): () => ProbeStats {
  return () => {
    const c = probes.counters();
    return {
      inFlight: c.inFlight,
      parked: c.parked,
      timeouts: c.timedOutTotal,
      reclaimed: c.reclaimedTotal,
      capacityRejected: c.capacityRejectedTotal,
      parkedByKey: { ...c.parkedByKey },
    };
  };
}
