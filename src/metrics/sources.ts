// What the metrics layer reads from the rest of the agent, at scrape time (pull design).
// Other parts never push state into metrics: the daemon hands the registry an object with
// these getters, and each metric family's collect() callback reads the current snapshot when
// Prometheus scrapes. Every getter is optional: a family is registered only when its getter
// exists, so an agent without (say) native probes exposes no fake, always-zero series.

/** A cluster member as the local agent sees it. `state` is normalised to ALIVE | DEAD | UNKNOWN. */
export interface SystemSnapshot {
  name: string;
  state: string;
}

/** One comm path from the local system to another one. */
export interface CommPathSnapshot {
  /** The local end's system name. */
  system: string;
  /** The system at the other end. */
  otherSystem: string;
  /** 'tcp' | 'tty' | 'disk' (bounded by the path kinds vigil has). */
  type: string;
  /** 1..999, unique per pair of systems, so (otherSystem, type, priority) names a path. */
  priority: number;
  /** Normalised to ALIVE | DEAD | UNKNOWN. */
  state: string;
  /** Round trip of the last answered heartbeat, when the path measures one. */
  heartbeatRttSeconds?: number;
  /** Seconds since the last heartbeat was received on this path. */
  lastHeartbeatAgeSeconds?: number;
}

/** One resource instance in the local LCD. `state` is ISP | ISU | OSU | OSF. */
export interface ResourceSnapshot {
  tag: string;
  /** Kit application, e.g. 'gen'. */
  app: string;
  /** Kit resource type, e.g. 'filesys'. */
  type: string;
  /** The system the instance lives on. */
  system: string;
  state: string;
}

/** Cumulative counters kept by the cluster layer (monotonic since the agent started). */
export interface ClusterCounters {
  /** Frames rejected by authentication, by reason ('bad_tag', 'unknown_key', ...). */
  authFailures: Record<string, number>;
  /** Frames dropped for other reasons ('replay', 'stale', 'malformed', ...). */
  droppedFrames: Record<string, number>;
}

/** State of the native, time-limited probes (timed stat etc.) that may hang in the kernel. */
export interface ProbeStats {
  /** Probes currently running. */
  inFlight: number;
  /** Probes past their time limit whose thread is still stuck in the kernel. */
  parked: number;
  /** Cumulative: probes that hit their time limit. */
  timeouts: number;
  /** Cumulative: parked probe threads that eventually returned and were reclaimed. */
  reclaimed: number;
  /** Cumulative: probes refused at once because the thread bounds were reached. */
  capacityRejected?: number;
  /** Parked probes per key (the mount point probed); keys with none are absent. */
  parkedByKey?: Record<string, number>;
}

/** This system's quorum, as its quorum gate sees it (docs/quorum.md). */
export interface QuorumSnapshot {
  /** QUORUM_MODE. */
  mode: string;
  /** Whether this system has quorum now (false while undecided). */
  present: boolean;
  /** Votes this system counts now (systems and witness hosts; reachable hosts for tcp_remote). */
  votes: number;
  /** Witness hosts (QUORUM_HOSTS) with their latest probe answer. */
  witnesses: Array<{ host: string; reachable: boolean }>;
  /** Whether the quorum gate is open (quorum, and no hold or quarantine): anything may come in service here. */
  gateOpen?: boolean;
  /** The storage heartbeat on QUORUM_DISK (QUORUM_MODE or WITNESS_MODE storage), when configured. */
  storage?: StorageQuorumSnapshot;
}

/** The storage heartbeat of storage quorum / witness (src/cluster/quorum/storage-status.ts). */
export interface StorageQuorumSnapshot {
  /** QUORUM_DISK. */
  device: string;
  /** Seconds since this system's last successful write of its record (undefined: none yet). */
  ownRecordAgeSeconds?: number;
  /** Seconds since the last successful read of every system's record (undefined: none yet). */
  lastReadAgeSeconds?: number;
  /** Whether this system's key is gone from the LUN (another system evicted it). */
  fenced: boolean;
  /** Each other system: its record's state (unknown|absent|moving|stopped) and how long reads saw it unchanged. */
  peers: Array<{ system: string; state: string; unchangedSeconds?: number }>;
  /** QUORUM_MODE=storage: outcomes of this system's evictions of others since start. */
  evictions?: { won: number; lost: number; failed: number };
}

/** Self-fencing with a kernel watchdog (daemon/wire-watchdog.ts). */
export interface WatchdogSnapshot {
  /** Whether a watchdog is armed (WATCHDOG_DEVICE set and opened). */
  armed: boolean;
  /** WATCHDOG_DEVICE ('' when none). */
  device: string;
  /** The timeout the driver uses (0 when not armed). */
  timeoutSeconds: number;
  /** Seconds left on the lease (+Inf: unbounded, nothing in service here; 0: lapsed). */
  leaseRemainingSeconds: number;
}

export interface MetricsSources {
  /** Name of the local system (labels vigil_agent_info). */
  localSystem(): string;
  systems?(): SystemSnapshot[];
  commPaths?(): CommPathSnapshot[];
  resources?(): ResourceSnapshot[];
  clusterCounters?(): ClusterCounters;
  probeStats?(): ProbeStats;
  /** Cumulative count of committed LCD writes. */
  lcdWrites?(): number;
  /** Duration of the most recent durable LCD write, in seconds. */
  lcdLastWriteSeconds?(): number;
  /** Cumulative failed or refused LCD writes by reason: 'error' (errno), 'timeout', 'stalled'. */
  lcdWriteFailures?(): Record<string, number>;
  /** Whether an LCD write that hit its time limit is still stuck in the kernel. */
  lcdWriteStalled?(): boolean;
  /** Whether the LCD in use was rebuilt at start-up from a fallback (damaged lcd.json or journal). */
  lcdRecovered?(): boolean;
  /** Cumulative LCD compactions (journal folded into a new lcd.json). */
  lcdCompactions?(): number;
  /** The quorum gate's view (undefined while it has not started). */
  quorum?(): QuorumSnapshot | undefined;
  /** The self-fencing watchdog. */
  watchdog?(): WatchdogSnapshot;
}
