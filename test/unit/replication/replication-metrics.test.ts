// The vigil_replication_* families as a scrape shows them: md's resync rate and the data_corrupt
// flag read at scrape time from the samples, the resyncs counted by kind when each starts (both
// kinds from 0 for every resource) and their durations when md reports them done.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';

import { registerReplicationMetrics, type ReplicationSample } from '../../../src/replication/replication-metrics.js';

function setup(samples: ReplicationSample[]) {
  const registry = new Registry();
  const recorder = registerReplicationMetrics(registry, async () => samples);
  return { registry, recorder, scrape: () => registry.metrics() };
}

const line = (text: string, series: string) => text.split('\n').find((l) => l.startsWith(`${series} `));

describe('vigil_replication_* resync and data_corrupt families', () => {
  it('resync rate: md\'s rate on a resyncing primary, 0 on a primary with none running, nothing on a backup', async () => {
    const { scrape } = setup([
      { tag: 'db', role: 'primary', generation: 2, mirror: { state: 'resyncing', percent: 30, resyncRate: 10_485_760 }, backupOutOfDate: true },
      { tag: 'web', role: 'primary', generation: 4, mirror: { state: 'mirroring', percent: 100, resyncRate: 0 }, backupOutOfDate: false },
      { tag: 'old', role: 'primary', generation: 1, mirror: { state: 'degraded', percent: 0 }, backupOutOfDate: true },
      { tag: 'logs', role: 'backup', generation: 7, backupOutOfDate: false },
    ]);
    const text = await scrape();
    expect(line(text, 'vigil_replication_resync_rate_bytes_per_second{tag="db"}')).toBe('vigil_replication_resync_rate_bytes_per_second{tag="db"} 10485760');
    expect(line(text, 'vigil_replication_resync_rate_bytes_per_second{tag="web"}')).toMatch(/ 0$/);
    expect(line(text, 'vigil_replication_resync_rate_bytes_per_second{tag="old"}')).toMatch(/ 0$/);
    expect(line(text, 'vigil_replication_resync_rate_bytes_per_second{tag="logs"}')).toBeUndefined();
  });

  it('data_corrupt: 1 while the flag file exists, 0 without it, no series when it could not be read', async () => {
    const { scrape } = setup([
      { tag: 'db', role: 'primary', generation: 2, backupOutOfDate: false, dataCorrupt: true },
      { tag: 'logs', role: 'backup', generation: 7, backupOutOfDate: false, dataCorrupt: false },
      { tag: 'web', role: 'backup', generation: 1, backupOutOfDate: false },
    ]);
    const text = await scrape();
    expect(line(text, 'vigil_replication_data_corrupt{tag="db"}')).toMatch(/ 1$/);
    expect(line(text, 'vigil_replication_data_corrupt{tag="logs"}')).toMatch(/ 0$/);
    expect(line(text, 'vigil_replication_data_corrupt{tag="web"}')).toBeUndefined();
  });

  it('resyncs: each start counted by kind, both kinds shown from 0; durations observed by kind when done', async () => {
    const { scrape, recorder } = setup([
      { tag: 'db', role: 'primary', generation: 2, mirror: { state: 'resyncing', percent: 1 }, backupOutOfDate: true },
      { tag: 'logs', role: 'backup', generation: 7, backupOutOfDate: false },
    ]);
    let text = await scrape();
    for (const tag of ['db', 'logs']) for (const kind of ['partial', 'full']) expect(line(text, `vigil_replication_resyncs_total{tag="${tag}",kind="${kind}"}`)).toMatch(/ 0$/);
    recorder.resyncStarted('db', 'full');
    recorder.resyncDone('db', 'full', 95_000);
    recorder.resyncStarted('db', 'partial');
    recorder.resyncStarted('db', 'partial');
    recorder.resyncDone('db', 'partial', 3_500);
    text = await scrape();
    expect(line(text, 'vigil_replication_resyncs_total{tag="db",kind="full"}')).toMatch(/ 1$/);
    expect(line(text, 'vigil_replication_resyncs_total{tag="db",kind="partial"}')).toMatch(/ 2$/);
    expect(line(text, 'vigil_replication_resync_duration_seconds_count{tag="db",kind="full"}')).toMatch(/ 1$/);
    expect(line(text, 'vigil_replication_resync_duration_seconds_sum{tag="db",kind="full"}')).toMatch(/ 95$/);
    expect(line(text, 'vigil_replication_resync_duration_seconds_sum{tag="db",kind="partial"}')).toMatch(/ 3.5$/);
    expect(line(text, 'vigil_replication_resync_duration_seconds_bucket{le="5",tag="db",kind="partial"}')).toMatch(/ 1$/);
    expect(line(text, 'vigil_replication_resync_duration_seconds_bucket{le="60",tag="db",kind="full"}')).toMatch(/ 0$/);
    expect(line(text, 'vigil_replication_resync_duration_seconds_bucket{le="120",tag="db",kind="full"}')).toMatch(/ 1$/);
    expect(text).toMatch(/^# TYPE vigil_replication_resyncs_total counter$/m);
    expect(text).toMatch(/^# TYPE vigil_replication_resync_duration_seconds histogram$/m);
  });
});
