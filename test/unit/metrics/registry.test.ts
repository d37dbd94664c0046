// The per-agent registry: families read from sources at scrape time, enum states, series
// deleted with their resource, event families from the recorder, bounded labels.
import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../../src/metrics/registry.js';
import { FakeSources, makeResources, samples, valueOf } from './fake-sources.js';

function newMetrics(sources = new FakeSources()) {
  return { sources, metrics: new AgentMetrics({ sources, version: '9.9.9' }) };
}

describe('AgentMetrics', { timeout: 60_000 }, () => {
  it('exposes system, path and resource state as enum gauges read at scrape time', async () => {
    const { sources, metrics } = newMetrics();
    sources.resourceList = [{ tag: 'web', app: 'gen', type: 'app', system: 'node1', state: 'ISP' }];
    let body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_agent_info{system="node1",version="9.9.9"}')).toBe(1);
    expect(valueOf(body, 'vigil_system_state{system="node2",state="ALIVE"}')).toBe(1);
    expect(valueOf(body, 'vigil_system_state{system="node2",state="DEAD"}')).toBe(0);
    expect(valueOf(body, 'vigil_comm_path_state{system="node1",other_system="node2",type="tty",priority="2",state="DEAD"}')).toBe(1);
    expect(valueOf(body, 'vigil_comm_path_heartbeat_rtt_seconds{system="node1",other_system="node2",type="tcp",priority="1"}')).toBe(0.0004);
    // A path without a measured RTT has no RTT series rather than a made-up zero.
    expect(samples(body, 'vigil_comm_path_heartbeat_rtt_seconds{')).toHaveLength(1);
    // One series per resource, carrying its current state.
    expect(samples(body, 'vigil_resource_state{')).toEqual(['vigil_resource_state{tag="web",app="gen",type="app",system="node1",state="ISP"} 1']);

    sources.systemList[1] = { name: 'node2', state: 'DEAD' };
    sources.resourceList[0]!.state = 'osf';
    body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_system_state{system="node2",state="DEAD"}')).toBe(1);
    expect(valueOf(body, 'vigil_system_state{system="node2",state="ALIVE"}')).toBe(0);
    expect(samples(body, 'vigil_resource_state{')).toEqual(['vigil_resource_state{tag="web",app="gen",type="app",system="node1",state="OSF"} 1']);
  });

  it('maps an unknown state to UNKNOWN so the state label stays bounded', async () => {
    const { sources, metrics } = newMetrics();
    sources.systemList = [{ name: 'node1', state: 'confused' }];
    const body = (await metrics.scrape()).body;
    expect(samples(body, 'vigil_system_state{')).toEqual([
      'vigil_system_state{system="node1",state="ALIVE"} 0',
      'vigil_system_state{system="node1",state="DEAD"} 0',
      'vigil_system_state{system="node1",state="UNKNOWN"} 1',
    ]);
  });

  it('escapes label values of resources in the exposition text', async () => {
    const { sources, metrics } = newMetrics();
    sources.resourceList = [{ tag: 'a"b\\c\nd', app: 'gen', type: 'app', system: 'node1', state: 'ISP' }];
    metrics.recorder.resourceTransition('a"b\\c\nd', 'OSU', 'ISP');
    const body = (await metrics.scrape()).body;
    expect(body).toContain('vigil_resource_state{tag="a\\"b\\\\c\\nd",app="gen",type="app",system="node1",state="ISP"} 1');
    expect(body).toContain('vigil_resource_transitions_total{tag="a\\"b\\\\c\\nd",from="OSU",to="ISP"} 1');
  });

  it('exposes cumulative cluster, probe and LCD counters from the sources', async () => {
    const { sources, metrics } = newMetrics();
    let body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_cluster_auth_failures_total{reason="bad_tag"}')).toBe(2);
    expect(valueOf(body, 'vigil_cluster_dropped_frames_total{reason="replay"}')).toBe(5);
    expect(valueOf(body, 'vigil_probes_in_flight')).toBe(1);
    expect(valueOf(body, 'vigil_probes_parked')).toBe(1);
    expect(valueOf(body, 'vigil_probe_timeouts_total')).toBe(3);
    expect(valueOf(body, 'vigil_probe_threads_reclaimed_total')).toBe(2);
    expect(valueOf(body, 'vigil_lcd_writes_total')).toBe(11);
    expect(valueOf(body, 'vigil_lcd_last_write_duration_seconds')).toBe(0.004);
    sources.writes = 12;
    sources.counters.authFailures.unknown_key = 1;
    body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_lcd_writes_total')).toBe(12);
    expect(valueOf(body, 'vigil_cluster_auth_failures_total{reason="unknown_key"}')).toBe(1);
  });

  it('registers no family for a source the agent does not have', async () => {
    const metrics = new AgentMetrics({ version: '1', sources: { localSystem: () => 'solo' } });
    const body = (await metrics.scrape()).body;
    expect(body).toContain('vigil_agent_info{system="solo",version="1"} 1');
    for (const family of ['vigil_system_state', 'vigil_comm_path_state', 'vigil_resource_state', 'vigil_probes_parked', 'vigil_lcd_writes_total', 'vigil_cluster_auth_failures_total']) {
      expect(body).not.toContain(`# TYPE ${family} `);
    }
    // Default process metrics and event-loop delay are there unless left out.
    expect(body).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(body).toContain('# TYPE nodejs_eventloop_lag_p99_seconds gauge');
  });

  it('leaves out the process metrics, and with them the event-loop sampling, when asked', async () => {
    const metrics = new AgentMetrics({ version: '1', sources: { localSystem: () => 'solo' }, processMetrics: false });
    const body = (await metrics.scrape()).body;
    expect(body).toContain('vigil_agent_info{system="solo",version="1"} 1');
    expect(body).not.toContain('process_cpu_user_seconds_total');
    expect(body).not.toContain('nodejs_eventloop_lag');
  });

  it('reads each source once per scrape', async () => {
    const { sources, metrics } = newMetrics();
    await metrics.scrape();
    expect(sources.calls).toBe(1);
  });

  it('records events and deletes the series of a resource when it disappears', async () => {
    const { sources, metrics } = newMetrics();
    sources.resourceList = makeResources(2);
    const r = metrics.recorder;
    r.resourceTransition('res-0', 'OSU', 'ISP');
    r.resourceTransition('res-0', 'OSU', 'ISP');
    r.failover('res-0', 'node2', 'node1', 4.5, 'system_down');
    r.switchover('res-1', 'node1', 'node2', 2);
    r.localRecovery('res-1', false, 0.3);
    r.quickCheck('gen/filesys', 20, 'failed', 0.004);
    r.probe(0.0015, 'ok');
    let body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_resource_transitions_total{tag="res-0",from="OSU",to="ISP"}')).toBe(2);
    expect(valueOf(body, 'vigil_failovers_total{tag="res-0",from_system="node2",to_system="node1",reason="system_down"}')).toBe(1);
    expect(valueOf(body, 'vigil_failover_duration_seconds_bucket{le="5",reason="system_down"}')).toBe(1);
    expect(valueOf(body, 'vigil_failover_duration_seconds_bucket{le="2",reason="system_down"}')).toBe(0);
    expect(valueOf(body, 'vigil_switchovers_total{tag="res-1",from_system="node1",to_system="node2"}')).toBe(1);
    expect(valueOf(body, 'vigil_local_recoveries_total{tag="res-1",result="failure"}')).toBe(1);
    expect(valueOf(body, 'vigil_quickcheck_results_total{kit="gen_filesys",depth="20",result="failed"}')).toBe(1);
    expect(valueOf(body, 'vigil_quickcheck_duration_seconds_count{kit="gen_filesys",depth="20"}')).toBe(1);
    expect(valueOf(body, 'vigil_probe_duration_seconds_count{outcome="ok"}')).toBe(1);

    sources.resourceList = sources.resourceList.filter((x) => x.tag !== 'res-0');
    body = (await metrics.scrape()).body;
    expect(body).not.toContain('tag="res-0"');
    expect(valueOf(body, 'vigil_switchovers_total{tag="res-1",from_system="node1",to_system="node2"}')).toBe(1);
    // Aggregate histograms have no tag and keep their history.
    expect(valueOf(body, 'vigil_failover_duration_seconds_count{reason="system_down"}')).toBe(1);
  });

  it('folds free-form label values beyond the bound into "other" and ignores bad durations', async () => {
    const { metrics } = newMetrics();
    for (let i = 0; i < 100; i++) metrics.recorder.quickCheck('gen/app', 0, `message number ${i}`, 0.001);
    metrics.recorder.probe(Number.NaN, 'ok');
    metrics.recorder.probe(-1, 'ok');
    const body = (await metrics.scrape()).body;
    const results = samples(body, 'vigil_quickcheck_results_total{');
    expect(results.length).toBeLessThanOrEqual(33);
    expect(valueOf(body, 'vigil_quickcheck_results_total{kit="gen_app",depth="0",result="other"}')).toBe(100 - 32);
    expect(samples(body, 'vigil_probe_duration_seconds_count')).toHaveLength(0);
  });

  it('keeps two agents in one process apart', async () => {
    const a = newMetrics();
    const b = newMetrics();
    b.sources.local = 'node2';
    a.metrics.recorder.failover('x', 'node2', 'node1', 1, 'system_down');
    a.sources.resourceList = makeResources(1, 'x');
    a.sources.resourceList[0]!.tag = 'x';
    const bodyA = (await a.metrics.scrape()).body;
    const bodyB = (await b.metrics.scrape()).body;
    expect(bodyA).toContain('vigil_failovers_total{tag="x"');
    expect(bodyB).not.toContain('vigil_failovers_total{');
    expect(bodyB).toContain('vigil_agent_info{system="node2"');
  });
});
