// Public surface of the metrics layer, for the daemon wiring and tests.
export { AgentMetrics, type AgentMetricsOptions, type Scrape } from './registry.js';
export { MetricsRecorder } from './recorder.js';
export { MetricsServer, type ListenAddress } from './server.js';
export { clusterMetricsSources, type ClusterStatsView } from './cluster-source.js';
export type * from './sources.js';
