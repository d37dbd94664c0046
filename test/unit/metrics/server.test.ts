// The HTTP endpoint: /metrics, /healthz, errors, loopback default, address parsing, close.
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../../src/metrics/registry.js';
import { MetricsServer } from '../../../src/metrics/server.js';
import { FakeSources } from './fake-sources.js';

const haveIpv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = createServer();
  probe.once('error', () => resolve(false));
  probe.listen(0, '::1', () => probe.close(() => resolve(true)));
});
if (!haveIpv6Loopback) console.warn('skipping the IPv6 endpoint test: ::1 cannot be bound on this host');

const servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(health?: () => { ok: boolean; detail?: string }): Promise<MetricsServer> {
  const metrics = new AgentMetrics({ sources: new FakeSources(), version: '1' });
  const server = await MetricsServer.start({ address: { host: '127.0.0.1', port: 0 }, scrape: () => metrics.scrape(), health });
  servers.push(server);
  return server;
}

async function get(server: MetricsServer, path: string, method = 'GET') {
  const res = await fetch(`http://${server.endpoint()}${path}`, { method });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

describe('MetricsServer', { timeout: 60_000 }, () => {
  it('serves the exposition format on /metrics', async () => {
    const server = await start();
    const res = await get(server, '/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain; version=0.0.4');
    expect(res.body).toContain('vigil_system_state{system="node2",state="ALIVE"} 1');
  });

  it('answers /healthz, 503 when the health check fails, 404 and 405 otherwise', async () => {
    let healthy = true;
    const server = await start(() => ({ ok: healthy, detail: 'lcd not loaded' }));
    expect(await get(server, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    healthy = false;
    expect(await get(server, '/healthz')).toMatchObject({ status: 503, body: 'unhealthy: lcd not loaded\n' });
    expect((await get(server, '/nope')).status).toBe(404);
    expect((await get(server, '/metrics', 'POST')).status).toBe(405);
  });

  it('/healthz names every degraded subsystem, and is 200 again once none is', async () => {
    const metrics = new AgentMetrics({ sources: new FakeSources(), version: '1' });
    let degraded = ['cluster: no cluster key: cannot open /etc/vigil/cluster.key', 'lcd: a write has been stuck in the kernel for 12.0 s'];
    const server = await MetricsServer.start({ address: { host: '127.0.0.1', port: 0 }, scrape: () => metrics.scrape(), degraded: () => degraded });
    servers.push(server);
    expect(await get(server, '/healthz')).toMatchObject({
      status: 503,
      body: 'unhealthy: cluster: no cluster key: cannot open /etc/vigil/cluster.key; lcd: a write has been stuck in the kernel for 12.0 s\n',
    });
    degraded = [];
    expect(await get(server, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it.skipIf(!haveIpv6Loopback)('listens on the IPv6 loopback when told to (needs ::1)', async () => {
    const metrics = new AgentMetrics({ sources: new FakeSources(), version: '1' });
    const server = await MetricsServer.start({ address: { host: '::1', port: 0 }, scrape: () => metrics.scrape() });
    servers.push(server);
    expect(server.endpoint()).toMatch(/^\[::1\]:\d+$/);
    expect((await get(server, '/healthz')).status).toBe(200);
  });

  it('reports a busy port as a listen error', async () => {
    const first = await start();
    const metrics = new AgentMetrics({ sources: new FakeSources(), version: '1' });
    await expect(MetricsServer.start({ address: first.address(), scrape: () => metrics.scrape() })).rejects.toThrow(/EADDRINUSE/);
  });

  it('closes gracefully, also with an idle keep-alive connection open', async () => {
    const server = await start();
    const endpoint = server.address();
    // Keep a connection open with keep-alive, then close the server.
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: endpoint.host, port: endpoint.port, path: '/healthz', agent: new Agent({ keepAlive: true }) }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
    const started = Date.now();
    await server.close();
    // Well under the 5 s keep-alive timeout the idle connection would otherwise hold it for.
    expect(Date.now() - started).toBeLessThan(4500);
    await expect(fetch(`http://${server.endpoint()}/healthz`)).rejects.toThrow();
  });
});
