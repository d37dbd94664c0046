// attachMetrics on a real Agent (LCD in a temp dir): the metrics subsystem serves the LCD's
// resources and writes on the configured address, follows LCD changes, prefers the cluster's
// live view when given one, and serves nothing when the address is "off".
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/common/config.js';
import { memoryDisk } from '../../helpers/memory-disk.js';
import { Agent } from '../../../src/daemon/agent.js';
import { attachMetrics } from '../../../src/daemon/wire-metrics.js';
import { createMemoryPlatform } from '../../../src/platform/memory/index.js';
import type { ClusterStatsView } from '../../../src/metrics/cluster-source.js';
import { freePort } from '../../integration/cluster/helpers.js';
import { samples, valueOf } from './fake-sources.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function newAgent(metricsAddress: string): Promise<Agent> {
  const root = mkdtempSync(join(tmpdir(), 'vigil-wire-metrics-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'state'); // vigild keeps a marker beside its state directory
  const { config } = buildConfig({
    VIGIL_NODE_NAME: 'node1',
    VIGIL_STATE_DIR: dir,
    VIGIL_ADMIN_SOCKET: join(dir, 'admin.sock'),
    VIGIL_METRICS_ADDRESS: metricsAddress,
  });
  const agent = new Agent(config, pino({ level: 'silent' }), { platform: memoryDisk(dir).platform });
  cleanups.push(() => agent.stop());
  return agent;
}

async function scrape(endpoint: string | undefined): Promise<string> {
  const res = await fetch(`http://${endpoint}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

it('says vigil_lcd_recovered 1 when the LCD was rebuilt from a kept generation at start-up', async () => {
  const first = await newAgent('off');
  const dir = first.lcd.dir;
  await first.stop();
  writeFileSync(join(dir, 'lcd.json'), '{"damaged'); // lcd.json.1 from the first start is the fallback
  const { config } = buildConfig({ VIGIL_NODE_NAME: 'node1', VIGIL_STATE_DIR: dir, VIGIL_ADMIN_SOCKET: join(dir, 'admin.sock'), VIGIL_METRICS_ADDRESS: `127.0.0.1:${await freePort()}` });
  const agent = new Agent(config, pino({ level: 'silent' }), { platform: memoryDisk(dir).platform });
  cleanups.push(() => agent.stop());
  const attached = attachMetrics(agent);
  await agent.start();
  expect(valueOf(await scrape(attached.endpoint()), 'vigil_lcd_recovered')).toBe(1);
}, 60_000);

// Generous time limits: these run beside other test files on a loaded 2-core machine.
describe('attachMetrics', { timeout: 60_000 }, () => {
  it('serves the LCD resources and writes on VIGIL_METRICS_ADDRESS and follows changes', async () => {
    const port = await freePort();
    const agent = await newAgent(`127.0.0.1:${port}`);
    const attached = attachMetrics(agent);
    expect(agent.subsystemNames()).toContain('metrics');
    await agent.start();
    expect(attached.endpoint()).toBe(`127.0.0.1:${port}`);

    await agent.lcd.createInstance({ tag: 'web', id: '/srv/web', app: 'gen', type: 'app' });
    let body = await scrape(attached.endpoint());
    expect(samples(body, 'vigil_resource_state{')).toEqual(['vigil_resource_state{tag="web",app="gen",type="app",system="node1",state="OSU"} 1']);
    expect(valueOf(body, 'vigil_lcd_writes_total')).toBe(agent.lcd.writes);
    expect(agent.lcd.writes).toBeGreaterThan(0);
    expect(valueOf(body, 'vigil_lcd_write_stalled')).toBe(0);
    expect(valueOf(body, 'vigil_lcd_recovered')).toBe(0);
    expect(valueOf(body, 'vigil_lcd_compactions_total')).toBe(agent.lcd.compactions);
    expect(samples(body, 'vigil_lcd_write_failures_total{')).toEqual([
      'vigil_lcd_write_failures_total{reason="error"} 0',
      'vigil_lcd_write_failures_total{reason="timeout"} 0',
      'vigil_lcd_write_failures_total{reason="stalled"} 0',
    ]);
    expect(body).toMatch(/vigil_agent_info\{system="node1",version="\d+\.\d+\.\d+"\} 1/);

    // The transition is derived from the LCD change itself.
    await agent.lcd.setInstanceState('web', 'ISP');
    body = await scrape(attached.endpoint());
    expect(samples(body, 'vigil_resource_state{')).toEqual(['vigil_resource_state{tag="web",app="gen",type="app",system="node1",state="ISP"} 1']);
    expect(valueOf(body, 'vigil_resource_transitions_total{tag="web",from="OSU",to="ISP"}')).toBe(1);
    await agent.lcd.setInstanceState('web', 'OSF', 'test');
    await agent.lcd.setInstanceState('web', 'OSF', 'again, same state');
    body = await scrape(attached.endpoint());
    expect(valueOf(body, 'vigil_resource_transitions_total{tag="web",from="ISP",to="OSF"}')).toBe(1);
    expect(samples(body, 'vigil_resource_transitions_total{')).toHaveLength(2);

    await agent.lcd.removeInstances([{ system: 'node1', tag: 'web' }]);
    body = await scrape(attached.endpoint());
    expect(body).not.toContain('tag="web"');

    await agent.stop();
    expect(attached.endpoint()).toBeUndefined();
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('takes systems and paths from the cluster when one is given', async () => {
    const port = await freePort();
    const agent = await newAgent(`127.0.0.1:${port}`);
    const stats: ClusterStatsView = {
      localSystem: 'node1',
      systems: [{ name: 'node2', state: 'DEAD' }],
      paths: [{ type: 'TCP', system: 'node2', priority: 1, state: 'DEAD', rttMs: 0.8, lastHeartbeatAgeMs: 2500 }],
      counters: { authFailures: { bad_tag: 4 }, droppedFrames: {}, replays: 2 },
    };
    await agent.lcd.createSystem({ name: 'node3' });
    const attached = attachMetrics(agent, { cluster: { stats: () => stats } });
    await agent.start();
    const body = await scrape(attached.endpoint());
    // node3 has no comm path yet: the LCD's last-known state.
    expect(valueOf(body, 'vigil_system_state{system="node3",state="UNKNOWN"}')).toBe(1);
    expect(samples(body, 'vigil_system_state{').filter((l) => l.endsWith(' 1'))).toHaveLength(3);
    expect(valueOf(body, 'vigil_system_state{system="node1",state="ALIVE"}')).toBe(1);
    expect(valueOf(body, 'vigil_system_state{system="node2",state="DEAD"}')).toBe(1);
    expect(valueOf(body, 'vigil_comm_path_heartbeat_rtt_seconds{system="node1",other_system="node2",type="TCP",priority="1"}')).toBe(0.0008);
    expect(valueOf(body, 'vigil_comm_path_last_heartbeat_age_seconds{system="node1",other_system="node2",type="TCP",priority="1"}')).toBe(2.5);
    expect(valueOf(body, 'vigil_cluster_auth_failures_total{reason="bad_tag"}')).toBe(4);
    expect(valueOf(body, 'vigil_cluster_dropped_frames_total{reason="replay"}')).toBe(2);
  });

  it('falls back to the LCD states while the cluster has no running node', async () => {
    const port = await freePort();
    const agent = await newAgent(`127.0.0.1:${port}`);
    await agent.lcd.createSystem({ name: 'node2' });
    agent.lcd.setSystemState('node2', 'DEAD');
    const attached = attachMetrics(agent, { cluster: { stats: () => undefined } });
    await agent.start();
    const body = await scrape(attached.endpoint());
    expect(valueOf(body, 'vigil_system_state{system="node2",state="DEAD"}')).toBe(1);
    expect(body).toContain('# TYPE vigil_cluster_auth_failures_total counter');
    expect(samples(body, 'vigil_cluster_auth_failures_total{')).toEqual([]);
  });

  it('exposes the platform probe counters: a hung probe is parked, then reclaimed', async () => {
    const platform = createMemoryPlatform();
    platform.kernel.addDirectory('/mnt').addDirectory('/mnt/nfs');
    platform.kernel.addMount({ source: '10.0.0.9:/export', mountPoint: '/mnt/nfs', fsType: 'nfs', options: ['rw'] });
    const agent = await newAgent(`127.0.0.1:${await freePort()}`);
    const attached = attachMetrics(agent, { probes: platform.timedStat });
    await agent.start();
    platform.kernel.hang('/mnt/nfs');
    await expect(platform.timedStat.stat('/mnt/nfs', 50)).rejects.toThrow();
    let body = await scrape(attached.endpoint());
    expect(valueOf(body, 'vigil_probes_parked')).toBe(1);
    expect(valueOf(body, 'vigil_probes_parked_by_key{key="/mnt/nfs"}')).toBe(1);
    expect(valueOf(body, 'vigil_probe_timeouts_total')).toBe(1);
    expect(valueOf(body, 'vigil_probe_threads_reclaimed_total')).toBe(0);
    platform.kernel.release('/mnt/nfs');
    for (let i = 0; i < 100 && platform.timedStat.counters().parked > 0; i++) await new Promise((r) => setTimeout(r, 10));
    body = await scrape(attached.endpoint());
    expect(valueOf(body, 'vigil_probes_parked')).toBe(0);
    expect(samples(body, 'vigil_probes_parked_by_key{')).toEqual([]);
    expect(valueOf(body, 'vigil_probe_threads_reclaimed_total')).toBe(1);
    expect(valueOf(body, 'vigil_probe_capacity_rejections_total')).toBe(0);
  });

  it('refuses to start with an error naming the key when the address is taken', async () => {
    const port = await freePort();
    const first = await newAgent(`127.0.0.1:${port}`);
    attachMetrics(first);
    await first.start();
    const second = await newAgent(`127.0.0.1:${port}`);
    attachMetrics(second);
    await expect(second.start()).rejects.toThrow(/VIGIL_METRICS_ADDRESS=127\.0\.0\.1:\d+: .*EADDRINUSE/);
  });

  it('serves nothing when VIGIL_METRICS_ADDRESS is off, but still records events', async () => {
    const agent = await newAgent('off');
    const attached = attachMetrics(agent);
    await agent.start();
    expect(attached.endpoint()).toBeUndefined();
    attached.recorder.quickCheck('gen/app', 0, 'ok', 0.01);
    expect((await attached.metrics.scrape()).body).toContain('vigil_quickcheck_results_total{kit="gen_app",depth="0",result="ok"} 1');
  });
});
