// The event sink: other parts of the agent call these methods when something discrete
// happens (a transition, a failover, a quickCheck). States are pulled at scrape time (see
// sources.ts); only events that cannot be reconstructed from a snapshot come through here.
// Calls never throw: a metrics problem must not disturb a failover in progress.

import { Counter, Histogram, type Registry } from 'prom-client';
import { BoundedLabel, CHECK_BUCKETS, FAILOVER_BUCKETS, RECOVERY_BUCKETS } from './naming.js';
import type { ResourceFamilies } from './resource-families.js';

type Removable = { remove(labels: Record<string, string>): void };

/** What the hierarchy service reports (give it the agent's recorder, typed this narrowly).
 *  quickCheck and local recovery are measured around the kits (instrument.ts) and transitions
 *  from the LCD (transition-tracker.ts), so the service reports only operations it alone sees. */
export type HierarchyMetricsEvents = Pick<MetricsRecorder, 'failover' | 'switchover'>;
/** What a kit's time-limited probe reports (latency and outcome of each probe). */
export type ProbeMetricsEvents = Pick<MetricsRecorder, 'probe'>;

export class MetricsRecorder {
  private readonly failovers: Counter<'tag' | 'from_system' | 'to_system' | 'reason'>;
  private readonly failoverDuration: Histogram<'reason'>;
  private readonly switchovers: Counter<'tag' | 'from_system' | 'to_system'>;
  private readonly switchoverDuration: Histogram<string>;
  private readonly localRecoveries: Counter<'tag' | 'result'>;
  private readonly localRecoveryDuration: Histogram<'result'>;
  private readonly quickChecks: Counter<'kit' | 'depth' | 'result'>;
  private readonly quickCheckDuration: Histogram<'kit' | 'depth'>;
  private readonly probeDuration: Histogram<'outcome'>;

  private readonly failoverReason = new BoundedLabel();
  private readonly quickCheckResult = new BoundedLabel();
  private readonly quickCheckKit = new BoundedLabel();
  private readonly quickCheckDepth = new BoundedLabel();
  private readonly probeOutcome = new BoundedLabel();
  private readonly systemLabel = new BoundedLabel(64);

  /** Per tag, the labelled series created for it, so they can be deleted with the resource. */
  private readonly seriesByTag = new Map<string, Map<string, [Removable, Record<string, string>]>>();

  /** `resources` renders the per-resource families (state and transitions) as text. */
  constructor(
    registry: Registry,
    private readonly resources: ResourceFamilies,
  ) {
    const registers = [registry];
    this.failovers = new Counter({
      name: 'vigil_failovers_total',
      help: 'Resources brought in service on this system by a failover.',
      labelNames: ['tag', 'from_system', 'to_system', 'reason'],
      registers,
    });
    this.failoverDuration = new Histogram({
      name: 'vigil_failover_duration_seconds',
      help: 'Time from the start of a failover to the resource being in service.',
      labelNames: ['reason'],
      buckets: FAILOVER_BUCKETS,
      registers,
    });
    this.switchovers = new Counter({
      name: 'vigil_switchovers_total',
      help: 'Administrator-requested moves of a resource to this system.',
      labelNames: ['tag', 'from_system', 'to_system'],
      registers,
    });
    this.switchoverDuration = new Histogram({
      name: 'vigil_switchover_duration_seconds',
      help: 'Time a switchover took, from the request to in service on the new system.',
      buckets: FAILOVER_BUCKETS,
      registers,
    });
    this.localRecoveries = new Counter({
      name: 'vigil_local_recoveries_total',
      help: 'Local recovery attempts, by resource and result (success or failure).',
      labelNames: ['tag', 'result'],
      registers,
    });
    this.localRecoveryDuration = new Histogram({
      name: 'vigil_local_recovery_duration_seconds',
      help: 'Duration of local recovery attempts.',
      labelNames: ['result'],
      buckets: RECOVERY_BUCKETS,
      registers,
    });
    this.quickChecks = new Counter({
      name: 'vigil_quickcheck_results_total',
      help: 'quickCheck (resource monitor) runs, by kit, depth and result.',
      labelNames: ['kit', 'depth', 'result'],
      registers,
    });
    this.quickCheckDuration = new Histogram({
      name: 'vigil_quickcheck_duration_seconds',
      help: 'quickCheck latency by kit and depth.',
      labelNames: ['kit', 'depth'],
      buckets: CHECK_BUCKETS,
      registers,
    });
    this.probeDuration = new Histogram({
      name: 'vigil_probe_duration_seconds',
      help: 'Latency of native, time-limited probes (e.g. stat on a mount), by outcome.',
      labelNames: ['outcome'],
      buckets: CHECK_BUCKETS,
      registers,
    });
  }

  resourceTransition(tag: string, from: string, to: string): void {
    this.resources.recordTransition(tag, from, to);
  }

  failover(tag: string, fromSystem: string, toSystem: string, durationSeconds: number, reason: string): void {
    const reasonLabel = this.failoverReason.value(reason);
    const labels = {
      tag,
      from_system: this.systemLabel.value(fromSystem),
      to_system: this.systemLabel.value(toSystem),
      reason: reasonLabel,
    };
    this.failovers.inc(labels);
    this.remember(tag, this.failovers, labels);
    if (validDuration(durationSeconds)) this.failoverDuration.observe({ reason: reasonLabel }, durationSeconds);
  }

  switchover(tag: string, fromSystem: string, toSystem: string, durationSeconds: number): void {
    const labels = {
      tag,
      from_system: this.systemLabel.value(fromSystem),
      to_system: this.systemLabel.value(toSystem),
    };
    this.switchovers.inc(labels);
    this.remember(tag, this.switchovers, labels);
    if (validDuration(durationSeconds)) this.switchoverDuration.observe(durationSeconds);
  }

  localRecovery(tag: string, ok: boolean, durationSeconds: number): void {
    const result = ok ? 'success' : 'failure';
    const labels = { tag, result };
    this.localRecoveries.inc(labels);
    this.remember(tag, this.localRecoveries, labels);
    if (validDuration(durationSeconds)) this.localRecoveryDuration.observe({ result }, durationSeconds);
  }

  /** `kit` as 'app/type' (e.g. 'gen/filesys'), `depth` 0|10|20, `result` 'ok'|'failed'|'timeout'. */
  quickCheck(kit: string, depth: number, result: string, durationSeconds: number): void {
    const kitLabel = this.quickCheckKit.value(kit.replace('/', '_'));
    const depthLabel = this.quickCheckDepth.value(depth);
    this.quickChecks.inc({ kit: kitLabel, depth: depthLabel, result: this.quickCheckResult.value(result) });
    if (validDuration(durationSeconds)) {
      this.quickCheckDuration.observe({ kit: kitLabel, depth: depthLabel }, durationSeconds);
    }
  }

  /** `outcome` 'ok'|'error'|'timeout'. */
  probe(latencySeconds: number, outcome: string): void {
    if (!validDuration(latencySeconds)) return;
    this.probeDuration.observe({ outcome: this.probeOutcome.value(outcome) }, latencySeconds);
  }

  /** Delete every tag-labelled series of resources that no longer exist. */
  pruneTags(liveTags: ReadonlySet<string>): void {
    this.resources.prune(liveTags);
    for (const [tag, series] of this.seriesByTag) {
      if (liveTags.has(tag)) continue;
      for (const [metric, labels] of series.values()) metric.remove(labels);
      this.seriesByTag.delete(tag);
    }
  }

  /** Number of tags that currently own series (exposed for the cardinality test). */
  trackedTagCount(): number {
    return new Set([...this.seriesByTag.keys(), ...this.resources.trackedTags()]).size;
  }

  private remember(tag: string, metric: Removable & { name?: string }, labels: Record<string, string>): void {
    let series = this.seriesByTag.get(tag);
    if (!series) {
      series = new Map();
      this.seriesByTag.set(tag, series);
    }
    const key = `${(metric as { name: string }).name}\u0000${Object.values(labels).join('\u0000')}`;
    if (!series.has(key)) series.set(key, [metric, labels]);
  }
}

function validDuration(seconds: number): boolean {
  return Number.isFinite(seconds) && seconds >= 0;
}
