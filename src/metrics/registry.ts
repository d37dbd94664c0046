// One metrics registry per agent: its own prom-client Registry (never the global default, so
// several agents can live in one process, as tests do), Node's default process metrics with
// event-loop delay, the snapshot families read from MetricsSources at scrape time, and the
// event recorder.

import { Registry, collectDefaultMetrics } from 'prom-client';
import { MetricsRecorder } from './recorder.js';
import { registerSnapshotFamilies, takeSnapshot, type SourcesSnapshot } from './snapshot-families.js';
import type { MetricsSources } from './sources.js';

const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface AgentMetricsOptions {
  sources: MetricsSources;
  /** vigil version for vigil_agent_info. */
  version: string;
  /** Resolution of the event-loop delay histogram in milliseconds (default 10). */
  eventLoopMonitoringPrecisionMs?: number;
}

export interface Scrape {
  contentType: string;
  body: string;
}

export class AgentMetrics {
  readonly registry: Registry;
  readonly recorder: MetricsRecorder;
  private readonly sources: MetricsSources;
  /** The snapshot of the scrape in progress; collect() callbacks share it. */
  private current: SourcesSnapshot | undefined;

  constructor(options: AgentMetricsOptions) {
    this.sources = options.sources;
    this.registry = new Registry();
    collectDefaultMetrics({
      register: this.registry,
      eventLoopMonitoringPrecision: options.eventLoopMonitoringPrecisionMs ?? 10,
    });
    // prom-client names these three gauges *_total, which `promtool check metrics` rejects
    // (only counters end in _total); the per-type gauges without the suffix carry the same data.
    for (const name of MISNAMED_DEFAULT_GAUGES) this.registry.removeSingleMetric(name);
    this.recorder = new MetricsRecorder(this.registry);
    registerSnapshotFamilies(this.registry, this.sources, () => this.current ?? takeSnapshot(this.sources), this.recorder, options.version);
  }

  /** Render the exposition text, reading every source exactly once. */
  async scrape(): Promise<Scrape> {
    const snapshot = takeSnapshot(this.sources);
    this.current = snapshot;
    // Prune before rendering: the event families come earlier in the output than the
    // resource family whose collect() would otherwise do it.
    if (snapshot.resources) this.recorder.pruneTags(new Set(snapshot.resources.map((r) => r.tag)));
    try {
      const body = await this.registry.metrics();
      return { contentType: this.registry.contentType, body };
    } finally {
      if (this.current === snapshot) this.current = undefined;
    }
  }
}
