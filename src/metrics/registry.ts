// One metrics registry per agent: its own prom-client Registry (never the global default, so
// several agents can live in one process, as tests do), Node's default process metrics with
// event-loop delay, the snapshot families read from MetricsSources at scrape time, the
// per-resource families rendered as text, and the event recorder.

import { Registry, collectDefaultMetrics } from 'prom-client';
import { MetricsRecorder } from './recorder.js';
import { ResourceFamilies } from './resource-families.js';
import { registerSnapshotFamilies, takeSnapshot, type SourcesSnapshot } from './snapshot-families.js';
import type { MetricsSources } from './sources.js';

const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface AgentMetricsOptions {
  sources: MetricsSources;
  /** vigil version for vigil_agent_info. */
  version: string;
  /** Resolution of the event-loop delay histogram in milliseconds (default 10). */
  eventLoopMonitoringPrecisionMs?: number;
  /**
   * Node's default process metrics (default true). Their event-loop delay histogram wakes the
   * loop every `eventLoopMonitoringPrecisionMs`: an agent whose metrics nobody can scrape
   * (VIGIL_METRICS_ADDRESS=off) leaves them out, which was most of its wake-ups when idle.
   */
  processMetrics?: boolean;
}

export interface Scrape {
  contentType: string;
  body: string;
}

/** A prom-client Registry whose exposition also carries the per-resource families, and which
 *  deletes the series of deleted resources before rendering anything. */
class AgentRegistry extends Registry {
  constructor(private readonly hooks: { prepare(): SourcesSnapshot; renderExtra(s: SourcesSnapshot): string }) {
    super();
  }

  override async metrics(): Promise<string> {
    const snapshot = this.hooks.prepare();
    const base = await super.metrics();
    return `${base}\n${this.hooks.renderExtra(snapshot)}`;
  }
}

export class AgentMetrics {
  /** prom-client registry; metrics() renders every family, getSingleMetric() finds all but the
   *  per-resource ones (resource-families.ts). */
  readonly registry: Registry;
  readonly recorder: MetricsRecorder;
  private readonly sources: MetricsSources;
  /** The snapshot of the scrape in progress; collect() callbacks share it. */
  private current: SourcesSnapshot | undefined;

  constructor(options: AgentMetricsOptions) {
    this.sources = options.sources;
    const resources = new ResourceFamilies();
    const snapshot = () => this.current ?? takeSnapshot(this.sources);
    this.registry = new AgentRegistry({
      prepare: () => {
        const s = snapshot();
        // Tag-labelled event series of resources that no longer exist go before rendering.
        if (s.resources) this.recorder.pruneTags(new Set(s.resources.map((r) => r.tag)));
        return s;
      },
      renderExtra: (s) => resources.render(s.resources),
    });
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({
        register: this.registry,
        eventLoopMonitoringPrecision: options.eventLoopMonitoringPrecisionMs ?? 10,
      });
      // prom-client names these three gauges *_total, which `promtool check metrics` rejects
      // (only counters end in _total); the per-type gauges without the suffix carry the same data.
      for (const name of MISNAMED_DEFAULT_GAUGES) this.registry.removeSingleMetric(name);
    }
    this.recorder = new MetricsRecorder(this.registry, resources);
    registerSnapshotFamilies(this.registry, this.sources, snapshot, options.version);
  }

  /** Render the exposition text, reading every source exactly once. */
  async scrape(): Promise<Scrape> {
    const snapshot = takeSnapshot(this.sources);
    this.current = snapshot;
    try {
      const body = await this.registry.metrics();
      return { contentType: this.registry.contentType, body };
    } finally {
      if (this.current === snapshot) this.current = undefined;
    }
  }
}
