// What the NAS kit reports to metrics (implemented by src/metrics/nas-metrics.ts). Calls must
// never throw: a metrics problem must not disturb a failover.
import type { ProbeCause } from './export-probe.js';

export interface NasMetricsEvents {
  /** One probe attempt of an export's mount: its outcome and duration. */
  probeAttempt(tag: string, outcome: 'ok' | ProbeCause, seconds: number): void;
  /** The monitor declared the export failed after LKNFSTIMEOUT, for this cause. */
  exportFailed(tag: string, cause: ProbeCause): void;
  /** Whether the last monitor run reached the export. */
  exportReachable(tag: string, reachable: boolean): void;
  /** A mount by host name was found and remounted by address. */
  badMountRemounted(tag: string, ok: boolean): void;
  /** One step of taking an NFS mount out of service, with its outcome and duration. */
  releaseStep(step: 'holders' | 'umount' | 'force' | 'lazy', outcome: 'ok' | 'failed' | 'timeout', seconds: number): void;
}

export const NO_NAS_METRICS: NasMetricsEvents = {
  probeAttempt: () => undefined,
  exportFailed: () => undefined,
  exportReachable: () => undefined,
  badMountRemounted: () => undefined,
  releaseStep: () => undefined,
};
