// Attaches metrics to a vigild Agent: builds the MetricsSources over the agent's LCD (resources,
// LCD writes) and, when given, the cluster's live stats (systems, comm paths with heartbeat
// round trip and age, refused frames), and adds a "metrics" subsystem that serves /metrics and
// /healthz on VIGIL_METRICS_ADDRESS (nothing when it is "off"). Without a cluster, system and
// path states come from the last-known states the LCD holds.
//
// Call from compose.ts after the cluster is attached, passing the cluster subsystem and the
// platform's timedStat. Measuring the rest: wrap each kit with instrumentKit(kit, recorder)
// (quickCheck results and latency, local recoveries) and the platform's timedStat with
// instrumentTimedStat(timedStat, recorder) (probe latency) before the hierarchy service gets
// them, and give the service the recorder as HierarchyMetricsEvents (failover, switchover).
// Resource transitions are derived here from the LCD.

import { VigilError } from '../common/errors.js';
import { clusterMetricsSources, type ClusterStatsView } from '../metrics/cluster-source.js';
import type { MetricsRecorder } from '../metrics/recorder.js';
import { AgentMetrics } from '../metrics/registry.js';
import { vigilVersion } from '../common/version.js';
import { MetricsServer } from '../metrics/server.js';
import { TransitionTracker } from '../metrics/transition-tracker.js';
import { probeMetricsSource, type ProbeCountersView } from '../metrics/probe-source.js';
import type { MetricsSources, QuorumSnapshot } from '../metrics/sources.js';
import type { QuorumStatus } from '../cluster/quorum/storage-status.js';
import type { Agent, Subsystem } from './agent.js';
import type { WatchdogStatus } from './wire-watchdog.js';

export interface MetricsParts {
  /** The cluster subsystem or a ClusterNode: anything with its stats() shape; stats() may be
   *  undefined while no node runs, and the LCD's last-known states are used meanwhile. */
  cluster?: { stats(): ClusterStatsView | undefined; problem?(): string | undefined };
  /** The platform's time-limited probes (Platform.timedStat), when the agent has them. */
  probes?: { counters(): ProbeCountersView };
  /** The quorum subsystem (its gate's status, with the storage heartbeat's). */
  quorum?: { status(): QuorumStatus | undefined };
  /** The self-fencing watchdog (wire-watchdog.ts). */
  watchdog?: { status(): WatchdogStatus };
}

export interface AttachedMetrics {
  metrics: AgentMetrics;
  /** Event sink for transitions, failovers, switchovers, local recoveries, quickChecks, probes. */
  recorder: MetricsRecorder;
  /** "host:port" of the endpoint once started, undefined while stopped or when disabled. */
  endpoint(): string | undefined;
}

export function agentMetricsSources(agent: Agent, parts: MetricsParts = {}): MetricsSources {
  const lcd = agent.lcd;
  const local = agent.localSystem;
  const fromLcd: MetricsSources = {
    localSystem: () => local,
    systems: () => lcd.systems().map((s) => ({ name: s.name, state: s.state })),
    commPaths: () =>
      lcd.commPaths({ system: local }).map((p) => ({
        system: p.system,
        otherSystem: p.otherSystem,
        type: p.type,
        priority: p.priority,
        state: p.state,
      })),
    resources: () =>
      lcd.instances({ system: local }).map((i) => ({ tag: i.tag, app: i.app, type: i.type, system: i.system, state: i.state })),
    lcdWrites: () => lcd.writes,
    lcdLastWriteSeconds: () => lcd.lastWriteMs / 1000,
    lcdWriteFailures: () => ({ ...lcd.writeFailures }),
    lcdWriteStalled: () => lcd.stalled,
    lcdRecovered: () => lcd.recovery !== undefined,
    lcdCompactions: () => lcd.compactions,
  };
  const sources: MetricsSources = { ...fromLcd };
  const cluster = parts.cluster;
  if (cluster) {
    const live = clusterMetricsSources({ stats: () => cluster.stats()! });
    const running = () => cluster.stats() !== undefined;
    // Membership knows the systems that have comm paths; systems only in the LCD (no path yet)
    // keep their last-known LCD state.
    sources.systems = () => {
      if (!running()) return fromLcd.systems!();
      const seen = live.systems();
      const names = new Set(seen.map((x) => x.name));
      return [...seen, ...fromLcd.systems!().filter((x) => !names.has(x.name))];
    };
    sources.commPaths = () => (running() ? live.commPaths() : fromLcd.commPaths!());
    sources.clusterCounters = () => (running() ? live.clusterCounters() : { authFailures: {}, droppedFrames: {} });
  }
  if (parts.probes) sources.probeStats = probeMetricsSource(parts.probes);
  const quorum = parts.quorum;
  if (quorum) {
    sources.quorum = () => {
      const q = quorum.status();
      return q && quorumSnapshotOf(q);
    };
  }
  const watchdog = parts.watchdog;
  if (watchdog) {
    sources.watchdog = () => {
      const w = watchdog.status();
      return { armed: w.armed, device: w.device ?? '', timeoutSeconds: w.timeoutSecs, leaseRemainingSeconds: w.leaseRemainingMs / 1000 };
    };
  }
  return sources;
}

/** The quorum subsystem's status as the metrics read it (seconds, flags). */
export function quorumSnapshotOf(q: QuorumStatus): QuorumSnapshot {
  const s = q.storage;
  const seconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);
  return {
    mode: q.mode,
    present: q.quorum === true,
    votes: q.votes,
    witnesses: q.witnesses.map((w) => ({ host: w.host, reachable: w.reachable === true })),
    gateOpen: q.open,
    storage: s && {
      device: s.device,
      ownRecordAgeSeconds: seconds(s.ownRecordAgeMs),
      lastReadAgeSeconds: seconds(s.lastReadAgeMs),
      fenced: s.fenced !== undefined,
      peers: s.peers.map((p) => ({ system: p.system, state: p.state, unchangedSeconds: seconds(p.unchangedMs) })),
      evictions: s.serves.includes('quorum') ? s.evictions : undefined,
    },
  };
}

/** How often the event-loop delay histogram samples (nodejs_eventloop_lag_*). */
const EVENT_LOOP_SAMPLE_MS = 100;

export function attachMetrics(agent: Agent, parts: MetricsParts = {}): AttachedMetrics {
  // Nothing scrapes an agent without an endpoint: no process metrics, so no event-loop sampling.
  // With one, the loop's delay is sampled every 100 ms (prom-client's default of 10 ms was ~95
  // wake-ups a second of an idle agent): a block long enough to matter to heartbeats spans a
  // sample and is recorded within 100 ms of its length.
  const metrics = new AgentMetrics({
    sources: agentMetricsSources(agent, parts),
    version: vigilVersion(),
    processMetrics: Boolean(agent.config.VIGIL_METRICS_ADDRESS),
    eventLoopMonitoringPrecisionMs: EVENT_LOOP_SAMPLE_MS,
  });
  let server: MetricsServer | undefined;
  // Transitions are derived from the LCD, where every state change lands: the hierarchy engine
  // does not report them itself, so nothing is counted twice.
  // Runs after every LCD change: read the committed records in place (a copy of 1,000 per change was most of its cost).
  const transitions = new TransitionTracker(() => agent.lcd.current().instances.filter((i) => i.system === agent.localSystem), metrics.recorder);
  let unsubscribe: (() => void) | undefined;
  const subsystem: Subsystem = {
    name: 'metrics',
    async start() {
      transitions.sync();
      unsubscribe = agent.lcd.onChange((change) => {
        if (change.kind !== 'sync') transitions.sync();
      });
      const address = agent.config.VIGIL_METRICS_ADDRESS;
      if (!address) {
        agent.log.info('metrics endpoint disabled (VIGIL_METRICS_ADDRESS=off)');
        return;
      }
      try {
        server = await MetricsServer.start({ address, scrape: () => metrics.scrape(), degraded: () => degradedSubsystems(agent, parts) });
      } catch (err) {
        // A subsystem that fails to start is not stopped by the agent: undo our part here.
        unsubscribe();
        unsubscribe = undefined;
        throw new VigilError(
          0,
          `cannot serve metrics on VIGIL_METRICS_ADDRESS=${address.host}:${address.port}: ${(err as Error).message} (set another address, or "off")`,
          { key: 'VIGIL_METRICS_ADDRESS' },
          { cause: err },
        );
      }
      agent.log.info({ endpoint: server.endpoint() }, 'metrics endpoint listening');
    },
    async stop() {
      unsubscribe?.();
      await server?.close();
      server = undefined;
    },
  };
  agent.addSubsystem(subsystem);
  return { metrics, recorder: metrics.recorder, endpoint: () => server?.endpoint() };
}

/** /healthz: every subsystem that is degraded now, named, with the reason. */
function degradedSubsystems(agent: Agent, parts: MetricsParts): string[] {
  const out: string[] = [];
  const cluster = parts.cluster?.problem?.();
  if (cluster) out.push(`cluster: ${cluster}`);
  const stuckMs = agent.lcd.stalledForMs();
  if (stuckMs !== undefined) out.push(`lcd: a write has been stuck in the kernel for ${(stuckMs / 1000).toFixed(1)} s (changes are refused)`);
  return out;
}

