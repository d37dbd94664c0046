// Metric names, state sets, histogram buckets and label bounds, kept in one place so the
// dashboard, the alert rules and the code agree.
//
// Naming scheme (Prometheus conventions: `vigil_` prefix, base units, `_total` for counters,
// `_seconds` / `_bytes` suffixes, `_ratio` for 0..1, enum gauges with a `state` label; systems
// and paths carry every state as 0/1, resources only their current one):
//
//   vigil_agent_info{system,version}                         1
//   vigil_system_state{system,state}                          enum ALIVE|DEAD|UNKNOWN
//   vigil_comm_path_state{system,other_system,type,priority,state}
//   vigil_comm_path_heartbeat_rtt_seconds{system,other_system,type,priority}
//   vigil_comm_path_last_heartbeat_age_seconds{...same path labels}
//   vigil_resource_state{tag,app,type,system,state}           1, one series per resource,
//                                                             state ISP|ISU|OSU|OSF|UNKNOWN
//   vigil_resource_transitions_total{tag,from,to}
//   vigil_failovers_total{tag,from_system,to_system,reason}, vigil_failover_duration_seconds{reason}
//   vigil_switchovers_total{tag,from_system,to_system},     vigil_switchover_duration_seconds
//   vigil_local_recoveries_total{tag,result},               vigil_local_recovery_duration_seconds{result}
//   vigil_quickcheck_results_total{kit,depth,result},       vigil_quickcheck_duration_seconds{kit,depth}
//   vigil_probe_duration_seconds{outcome}, vigil_probes_in_flight, vigil_probes_parked,
//   vigil_probes_parked_by_key{key}, vigil_probe_timeouts_total,
//   vigil_probe_threads_reclaimed_total, vigil_probe_capacity_rejections_total
//   vigil_cluster_auth_failures_total{reason}, vigil_cluster_dropped_frames_total{reason}
//   vigil_quorum_present{mode}, vigil_quorum_votes{mode}, vigil_quorum_witness_reachable{host},
//   vigil_quorum_gate_open{mode}
//   vigil_quorum_storage_own_record_age_seconds{device}, vigil_quorum_storage_last_read_age_seconds{device},
//   vigil_quorum_storage_fenced{device}, vigil_quorum_storage_peer_record_age_seconds{system},
//   vigil_quorum_storage_peer_record_state{system,state} (enum unknown|absent|moving|stopped),
//   vigil_quorum_storage_evictions_total{outcome} (won|lost|failed)
//   vigil_lcd_writes_total, vigil_lcd_last_write_duration_seconds,
//   vigil_lcd_write_failures_total{reason} (error|timeout|stalled), vigil_lcd_write_stalled,
//   vigil_lcd_recovered, vigil_lcd_compactions_total
//   vigil_watchdog_armed{device}, vigil_watchdog_timeout_seconds{device},
//   vigil_watchdog_lease_remaining_seconds{device}
//
// The kits' own families are registered next to the code that measures them (on the same
// registry; their rules in deploy/prometheus/vigil-<kit>-alerts.yml):
//   vigil_nas_*            NFS-mounted file systems (metrics/nas-metrics.ts, docs/nas.md)
//   vigil_replication_*    NetRAID mirrors (replication/replication-metrics.ts, docs/netraid.md):
//                          mirror_state{tag,state}, resync_progress_ratio{tag},
//                          resync_rate_bytes_per_second{tag}, resyncs_total{tag,kind}
//                          (partial|full), resync_duration_seconds{tag,kind},
//                          backup_out_of_date{tag,role}, generation{tag}, data_corrupt{tag},
//                          link_held{tag}, link_hold_seconds{tag,ended}
//   vigil_standby_*        recovery-server roles (standby/standby-monitor.ts)
// Reserved (NOT registered until code measures them, so no always-zero series): disk comm paths
// are reported by the vigil_comm_path_* families (type="disk"); a family of their own would be
//   vigil_disk_heartbeat_* vigil_disk_heartbeat_record_age_seconds{system,device},
//                          vigil_disk_heartbeat_write_duration_seconds
// A new kit adds its own family under its prefix; the generic families above (resource state,
// quickCheck, failovers) already carry the kit through `app`/`type`/`kit` labels.

export const SYSTEM_STATES = ['ALIVE', 'DEAD', 'UNKNOWN'] as const;
export const PATH_STATES = ['ALIVE', 'DEAD', 'UNKNOWN'] as const;
export const RESOURCE_STATES = ['ISP', 'ISU', 'OSU', 'OSF', 'UNKNOWN'] as const;
/** A storage quorum peer's record (src/cluster/quorum/storage-status.ts PeerRecordState). */
export const PEER_RECORD_STATES = ['unknown', 'absent', 'moving', 'stopped'] as const;

/** Map any incoming state to one of the allowed values (case-insensitive), else UNKNOWN. */
export function normaliseState(state: string, allowed: readonly string[]): string {
  const upper = String(state).toUpperCase();
  return allowed.includes(upper) ? upper : 'UNKNOWN';
}

/** Failover and switchover take seconds to minutes (detection + ordered restores). */
export const FAILOVER_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
/** Local recovery: a remount or an application restart. */
export const RECOVERY_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120];
/** quickCheck and native probes: milliseconds when healthy, up to the time limit when not. */
export const CHECK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Most distinct values one free-form label (reason, outcome, result) may take before new
 *  values are folded into "other": callers pass short fixed codes, this is the safety net that
 *  keeps cardinality bounded if one ever passes a message instead. */
export const MAX_DISTINCT_LABEL_VALUES = 32;

/** Keeps one label's set of values bounded and well-formed. */
export class BoundedLabel {
  private readonly seen = new Set<string>();
  constructor(private readonly limit = MAX_DISTINCT_LABEL_VALUES) {}

  value(raw: string | number): string {
    const clean = String(raw).toLowerCase().replace(/[^a-z0-9_]+/g, '_').slice(0, 48) || 'none';
    if (this.seen.has(clean)) return clean;
    if (this.seen.size >= this.limit) return 'other';
    this.seen.add(clean);
    return clean;
  }
}
