// The pull-side metric families: gauges and counters rebuilt from the current state at every
// scrape (collect() does reset() then set()), so a system or path that disappeared leaves no
// series behind. A family is registered only when its source getter exists. The per-resource
// families are rendered separately (resource-families.ts).

import { Counter, Gauge, type Registry } from 'prom-client';
import { PATH_STATES, PEER_RECORD_STATES, SYSTEM_STATES, normaliseState } from './naming.js';
import type {
  ClusterCounters,
  CommPathSnapshot,
  MetricsSources,
  ProbeStats,
  QuorumSnapshot,
  ResourceSnapshot,
  StorageQuorumSnapshot,
  SystemSnapshot,
  WatchdogSnapshot,
} from './sources.js';

/** Everything the sources said at one instant; one scrape reads each getter once. */
export interface SourcesSnapshot {
  systems?: SystemSnapshot[];
  commPaths?: CommPathSnapshot[];
  resources?: ResourceSnapshot[];
  clusterCounters?: ClusterCounters;
  probeStats?: ProbeStats;
  lcdWrites?: number;
  lcdLastWriteSeconds?: number;
  lcdWriteFailures?: Record<string, number>;
  lcdWriteStalled?: boolean;
  lcdRecovered?: boolean;
  lcdCompactions?: number;
  quorum?: QuorumSnapshot;
  watchdog?: WatchdogSnapshot;
}

export function takeSnapshot(sources: MetricsSources): SourcesSnapshot {
  return {
    systems: sources.systems?.(),
    commPaths: sources.commPaths?.(),
    resources: sources.resources?.(),
    clusterCounters: sources.clusterCounters?.(),
    probeStats: sources.probeStats?.(),
    lcdWrites: sources.lcdWrites?.(),
    lcdLastWriteSeconds: sources.lcdLastWriteSeconds?.(),
    lcdWriteFailures: sources.lcdWriteFailures?.(),
    lcdWriteStalled: sources.lcdWriteStalled?.(),
    lcdRecovered: sources.lcdRecovered?.(),
    lcdCompactions: sources.lcdCompactions?.(),
    quorum: sources.quorum?.(),
    watchdog: sources.watchdog?.(),
  };
}

/** Registers the snapshot-driven families. `snapshot()` gives the state for the scrape in progress. */
export function registerSnapshotFamilies(
  registry: Registry,
  sources: MetricsSources,
  snapshot: () => SourcesSnapshot,
  version: string,
): void {
  const registers = [registry];

  new Gauge({
    name: 'vigil_agent_info',
    help: 'Always 1; labels name the local system and the vigil version.',
    labelNames: ['system', 'version'],
    registers,
    collect() {
      this.reset();
      this.set({ system: sources.localSystem(), version }, 1);
    },
  });

  if (sources.systems) {
    new Gauge({
      name: 'vigil_system_state',
      help: 'Cluster member state as seen by this agent (1 for the current state).',
      labelNames: ['system', 'state'],
      registers,
      collect() {
        this.reset();
        for (const sys of snapshot().systems ?? []) {
          const current = normaliseState(sys.state, SYSTEM_STATES);
          for (const state of SYSTEM_STATES) this.set({ system: sys.name, state }, state === current ? 1 : 0);
        }
      },
    });
  }

  if (sources.commPaths) {
    const pathLabels = (p: CommPathSnapshot) => ({
      system: p.system,
      other_system: p.otherSystem,
      type: p.type,
      priority: String(p.priority),
    });
    new Gauge({
      name: 'vigil_comm_path_state',
      help: 'Comm path state (1 for the current state).',
      labelNames: ['system', 'other_system', 'type', 'priority', 'state'],
      registers,
      collect() {
        this.reset();
        for (const p of snapshot().commPaths ?? []) {
          const current = normaliseState(p.state, PATH_STATES);
          const base = pathLabels(p);
          for (const state of PATH_STATES) this.set({ ...base, state }, state === current ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'vigil_comm_path_heartbeat_rtt_seconds',
      help: 'Round-trip time of the last answered heartbeat on the comm path.',
      labelNames: ['system', 'other_system', 'type', 'priority'],
      registers,
      collect() {
        this.reset();
        for (const p of snapshot().commPaths ?? []) {
          if (p.heartbeatRttSeconds !== undefined) this.set(pathLabels(p), p.heartbeatRttSeconds);
        }
      },
    });
    new Gauge({
      name: 'vigil_comm_path_last_heartbeat_age_seconds',
      help: 'Seconds since a heartbeat was last received on the comm path.',
      labelNames: ['system', 'other_system', 'type', 'priority'],
      registers,
      collect() {
        this.reset();
        for (const p of snapshot().commPaths ?? []) {
          if (p.lastHeartbeatAgeSeconds !== undefined) this.set(pathLabels(p), p.lastHeartbeatAgeSeconds);
        }
      },
    });
  }

  // vigil_resource_state and vigil_resource_transitions_total: see resource-families.ts.

  if (sources.clusterCounters) {
    new Counter({
      name: 'vigil_cluster_auth_failures_total',
      help: 'Frames from peers rejected by authentication, by reason.',
      labelNames: ['reason'],
      registers,
      collect() {
        setCumulative(this, snapshot().clusterCounters?.authFailures ?? {});
      },
    });
    new Counter({
      name: 'vigil_cluster_dropped_frames_total',
      help: 'Frames dropped for reasons other than authentication (replay, stale, malformed...).',
      labelNames: ['reason'],
      registers,
      collect() {
        setCumulative(this, snapshot().clusterCounters?.droppedFrames ?? {});
      },
    });
  }

  if (sources.probeStats) {
    new Gauge({
      name: 'vigil_probes_in_flight',
      help: 'Native time-limited probes currently running.',
      registers,
      collect() {
        this.set(snapshot().probeStats?.inFlight ?? 0);
      },
    });
    new Gauge({
      name: 'vigil_probes_parked',
      help: 'Probes past their time limit whose thread is still blocked in the kernel.',
      registers,
      collect() {
        this.set(snapshot().probeStats?.parked ?? 0);
      },
    });
    new Gauge({
      name: 'vigil_probes_parked_by_key',
      help: 'Parked probes per probe key (the mount point probed); keys with none are absent.',
      labelNames: ['key'],
      registers,
      collect() {
        this.reset();
        for (const [key, count] of Object.entries(snapshot().probeStats?.parkedByKey ?? {})) {
          if (count > 0) this.set({ key }, count);
        }
      },
    });
    new Counter({
      name: 'vigil_probe_capacity_rejections_total',
      help: 'Probes refused at once because the bounds on probe threads were reached.',
      registers,
      collect() {
        setCumulativeValue(this, snapshot().probeStats?.capacityRejected);
      },
    });
    new Counter({
      name: 'vigil_probe_timeouts_total',
      help: 'Native probes that hit their time limit.',
      registers,
      collect() {
        setCumulativeValue(this, snapshot().probeStats?.timeouts);
      },
    });
    new Counter({
      name: 'vigil_probe_threads_reclaimed_total',
      help: 'Parked probe threads that eventually returned and were reclaimed.',
      registers,
      collect() {
        setCumulativeValue(this, snapshot().probeStats?.reclaimed);
      },
    });
  }

  if (sources.lcdWrites) {
    new Counter({
      name: 'vigil_lcd_writes_total',
      help: 'Committed writes to the configuration database (LCD).',
      registers,
      collect() {
        setCumulativeValue(this, snapshot().lcdWrites);
      },
    });
  }

  if (sources.lcdLastWriteSeconds) {
    new Gauge({
      name: 'vigil_lcd_last_write_duration_seconds',
      help: 'Duration of the most recent durable LCD write (a journal append, or a compaction of the whole database).',
      registers,
      collect() {
        this.reset();
        const seconds = snapshot().lcdLastWriteSeconds;
        if (seconds !== undefined && Number.isFinite(seconds)) this.set(seconds);
      },
    });
  }

  registerLcdWriteFamilies(registers, sources, snapshot);
  registerQuorumFamilies(registers, sources, snapshot);
  registerWatchdogFamilies(registers, sources, snapshot);
}

function registerLcdWriteFamilies(registers: Registry[], sources: MetricsSources, snapshot: () => SourcesSnapshot): void {
  if (sources.lcdWriteFailures) {
    new Counter({
      name: 'vigil_lcd_write_failures_total',
      help: 'LCD writes that failed (reason error: errno; timeout: time limit) or were refused while an earlier one was stuck (stalled).',
      labelNames: ['reason'],
      registers,
      collect() {
        setCumulative(this, snapshot().lcdWriteFailures ?? {});
      },
    });
  }
  if (sources.lcdWriteStalled) {
    new Gauge({
      name: 'vigil_lcd_write_stalled',
      help: '1 while an LCD write that hit its time limit is still stuck in the kernel (configuration changes are refused meanwhile), else 0.',
      registers,
      collect() {
        this.set(snapshot().lcdWriteStalled ? 1 : 0);
      },
    });
  }
  if (sources.lcdRecovered) {
    new Gauge({
      name: 'vigil_lcd_recovered',
      help: '1 when the LCD was rebuilt at start-up from a kept generation or the valid part of its journal (lcdstatus says from what), else 0.',
      registers,
      collect() {
        this.set(snapshot().lcdRecovered ? 1 : 0);
      },
    });
  }
  if (sources.lcdCompactions) {
    new Counter({
      name: 'vigil_lcd_compactions_total',
      help: 'LCD compactions: the journal of changes folded into a new lcd.json.',
      registers,
      collect() {
        setCumulativeValue(this, snapshot().lcdCompactions);
      },
    });
  }
}

/** Expose a source's own cumulative counts (monotonic since start) as a labelled counter. */
function setCumulative(counter: Counter<'reason'>, byReason: Record<string, number>): void {
  counter.reset();
  for (const [reason, value] of Object.entries(byReason)) {
    if (Number.isFinite(value) && value >= 0) counter.inc({ reason }, value);
  }
}

function setCumulativeValue(counter: Counter<string>, value: number | undefined): void {
  counter.reset();
  if (value !== undefined && Number.isFinite(value) && value >= 0) counter.inc(value);
}

/** Self-fencing (wire-watchdog.ts): whether the watchdog is armed, and how long the lease has left. */
function registerWatchdogFamilies(registers: Registry[], sources: MetricsSources, snapshot: () => SourcesSnapshot): void {
  if (!sources.watchdog) return;
  new Gauge({
    name: 'vigil_watchdog_armed',
    help: 'Whether the self-fencing watchdog (WATCHDOG_DEVICE, label device) is armed: 1 armed, 0 not configured or disarmed.',
    labelNames: ['device'],
    registers,
    collect() {
      this.reset();
      const w = snapshot().watchdog;
      if (w) this.set({ device: w.device }, w.armed ? 1 : 0);
    },
  });
  new Gauge({
    name: 'vigil_watchdog_timeout_seconds',
    help: 'The timeout the watchdog driver (label device) uses: a lapsed lease resets this system within it.',
    labelNames: ['device'],
    registers,
    collect() {
      this.reset();
      const w = snapshot().watchdog;
      if (w?.armed) this.set({ device: w.device }, w.timeoutSeconds);
    },
  });
  new Gauge({
    name: 'vigil_watchdog_lease_remaining_seconds',
    help: 'Seconds left on the self-fence lease of the watchdog (label device): +Inf while nothing is in service here (nothing to fence), 0 once it lapsed (the watchdog resets this system). Absent when no watchdog is armed.',
    labelNames: ['device'],
    registers,
    collect() {
      this.reset();
      const w = snapshot().watchdog;
      if (w?.armed) this.set({ device: w.device }, w.leaseRemainingSeconds);
    },
  });
}

/** This system's quorum (wire-quorum.ts): present, votes, each witness host's latest answer. */
function registerQuorumFamilies(registers: Registry[], sources: MetricsSources, snapshot: () => SourcesSnapshot): void {
  if (!sources.quorum) return;
  new Gauge({
    name: 'vigil_quorum_present',
    help: 'Whether this system has quorum now (1) or not or not yet decided (0); label mode is QUORUM_MODE.',
    labelNames: ['mode'],
    registers,
    collect() {
      this.reset();
      const q = snapshot().quorum;
      if (q) this.set({ mode: q.mode }, q.present ? 1 : 0);
    },
  });
  new Gauge({
    name: 'vigil_quorum_votes',
    help: 'Votes this system counts now: systems seen alive (itself included) and reachable witness hosts (tcp_remote: the hosts only).',
    labelNames: ['mode'],
    registers,
    collect() {
      this.reset();
      const q = snapshot().quorum;
      if (q) this.set({ mode: q.mode }, q.votes);
    },
  });
  new Gauge({
    name: 'vigil_quorum_witness_reachable',
    help: 'Whether the witness host (a QUORUM_HOSTS entry) answered the latest probe within QUORUM_TIMEOUT_SECS.',
    labelNames: ['host'],
    registers,
    collect() {
      this.reset();
      for (const w of snapshot().quorum?.witnesses ?? []) this.set({ host: w.host }, w.reachable ? 1 : 0);
    },
  });
  new Gauge({
    name: 'vigil_quorum_gate_open',
    help: 'Whether the quorum gate is open (1): quorum held and no survivor hold, quarantine or eviction pending, so hierarchies may come in service here.',
    labelNames: ['mode'],
    registers,
    collect() {
      this.reset();
      const q = snapshot().quorum;
      if (q?.gateOpen !== undefined) this.set({ mode: q.mode }, q.gateOpen ? 1 : 0);
    },
  });
  registerStorageQuorumFamilies(registers, () => snapshot().quorum?.storage);
}

/** The storage heartbeat on QUORUM_DISK: own record, the other systems' records, evictions. */
function registerStorageQuorumFamilies(registers: Registry[], storage: () => StorageQuorumSnapshot | undefined): void {
  const perDevice = (name: string, help: string, value: (s: StorageQuorumSnapshot) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['device'],
      registers,
      collect() {
        this.reset();
        const s = storage();
        const v = s ? value(s) : undefined;
        if (s && v !== undefined) this.set({ device: s.device }, v);
      },
    });
  perDevice('vigil_quorum_storage_own_record_age_seconds', "Seconds since this system's last successful write of its storage heartbeat record (with QUORUM_MODE=storage, quorum is lost past (QWK_STORAGE_NUMHBEATS - 1) x QWK_STORAGE_HBEATTIME).", (s) => s.ownRecordAgeSeconds);
  perDevice('vigil_quorum_storage_last_read_age_seconds', "Seconds since the last successful read of the storage heartbeat records.", (s) => s.lastReadAgeSeconds);
  perDevice('vigil_quorum_storage_fenced', "Whether this system's reservation key is gone from QUORUM_DISK (evicted by another system): 1 fenced, else 0.", (s) => (s.fenced ? 1 : 0));
  new Gauge({
    name: 'vigil_quorum_storage_peer_record_age_seconds',
    help: "Seconds that successful reads have seen another system's storage heartbeat record unchanged.",
    labelNames: ['system'],
    registers,
    collect() {
      this.reset();
      for (const p of storage()?.peers ?? []) if (p.unchangedSeconds !== undefined) this.set({ system: p.system }, p.unchangedSeconds);
    },
  });
  new Gauge({
    name: 'vigil_quorum_storage_peer_record_state',
    help: "Another system's storage heartbeat record (1 for the current state): moving, stopped (unchanged QWK_STORAGE_NUMHBEATS x QWK_STORAGE_HBEATTIME), absent (never found), unknown (no read yet).",
    labelNames: ['system', 'state'],
    registers,
    collect() {
      this.reset();
      for (const p of storage()?.peers ?? []) {
        const current = PEER_RECORD_STATES.includes(p.state as (typeof PEER_RECORD_STATES)[number]) ? p.state : 'unknown';
        for (const state of PEER_RECORD_STATES) this.set({ system: p.system, state }, state === current ? 1 : 0);
      }
    },
  });
  new Counter({
    name: 'vigil_quorum_storage_evictions_total',
    help: "QUORUM_MODE=storage: this system's evictions of an absent system's key from QUORUM_DISK since start, by outcome (won; lost: the other system evicted this one first; failed: asked again).",
    labelNames: ['outcome'],
    registers,
    collect() {
      this.reset();
      const e = storage()?.evictions;
      if (e) for (const outcome of ['won', 'lost', 'failed'] as const) this.inc({ outcome }, e[outcome]);
    },
  });
}
