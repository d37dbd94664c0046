// A mutable in-memory MetricsSources for metrics tests: the tests change its fields and scrape.
import type {
  ClusterCounters,
  CommPathSnapshot,
  MetricsSources,
  ProbeStats,
  ResourceSnapshot,
  SystemSnapshot,
} from '../../../src/metrics/sources.js';

export class FakeSources implements MetricsSources {
  local = 'node1';
  systemList: SystemSnapshot[] = [
    { name: 'node1', state: 'ALIVE' },
    { name: 'node2', state: 'ALIVE' },
  ];
  paths: CommPathSnapshot[] = [
    { system: 'node1', otherSystem: 'node2', type: 'tcp', priority: 1, state: 'ALIVE', heartbeatRttSeconds: 0.0004, lastHeartbeatAgeSeconds: 0.1 },
    { system: 'node1', otherSystem: 'node2', type: 'tty', priority: 2, state: 'DEAD' },
  ];
  resourceList: ResourceSnapshot[] = [];
  counters: ClusterCounters = { authFailures: { bad_tag: 2 }, droppedFrames: { replay: 5 } };
  probes: ProbeStats = { inFlight: 1, parked: 1, timeouts: 3, reclaimed: 2 };
  writes = 11;
  calls = 0;

  localSystem(): string {
    return this.local;
  }
  systems(): SystemSnapshot[] {
    return this.systemList;
  }
  commPaths(): CommPathSnapshot[] {
    return this.paths;
  }
  resources(): ResourceSnapshot[] {
    this.calls++;
    return this.resourceList;
  }
  clusterCounters(): ClusterCounters {
    return this.counters;
  }
  probeStats(): ProbeStats {
    return this.probes;
  }
  lcdWrites(): number {
    return this.writes;
  }
  lcdLastWriteSeconds(): number {
    return 0.004;
  }
}

export function makeResources(count: number, prefix = 'res', state = 'ISP'): ResourceSnapshot[] {
  return Array.from({ length: count }, (_, i) => ({
    tag: `${prefix}-${i}`,
    app: i % 2 === 0 ? 'gen' : 'scsi',
    type: i % 2 === 0 ? 'filesys' : 'netraid',
    system: 'node1',
    state,
  }));
}

/** Sample lines (not comments) of an exposition body whose metric name starts with `prefix`. */
export function samples(body: string, prefix: string): string[] {
  return body.split('\n').filter((l) => l.startsWith(prefix) && !l.startsWith('#'));
}

/** The value of the one sample line that begins with `series` (name plus labels). */
export function valueOf(body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
