// Public surface of the metrics layer, for the daemon wiring and tests.
export { AgentMetrics, type AgentMetricsOptions, type Scrape } from './registry.js';
export { MetricsRecorder, type HierarchyMetricsEvents, type ProbeMetricsEvents } from './recorder.js';
export { TransitionTracker } from './transition-tracker.js';
export { probeMetricsSource, type ProbeCountersView } from './probe-source.js';
export { MetricsServer, type ListenAddress } from './server.js';
export { clusterMetricsSources, type ClusterStatsView } from './cluster-source.js';
export type * from './sources.js';
export { instrumentKit, instrumentTimedStat } from './instrument.js';
