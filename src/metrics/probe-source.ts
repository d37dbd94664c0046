// Adapts the platform's probe counters (TimedStat.counters(), src/platform/platform.ts) to the
// metrics ProbeStats. A type-only import: metrics does not load the platform itself.

import type { ProbeCounters } from '../platform/platform.js';
import type { ProbeStats } from './sources.js';

export type ProbeCountersView = ProbeCounters;

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
