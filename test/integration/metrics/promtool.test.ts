// promtool (Debian's prometheus package) as the independent judge of our exposition and rules:
// `promtool check metrics` on a live scrape of the HTTP endpoint, `check rules` and
// `test rules` on deploy/prometheus.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../../src/metrics/registry.js';
import { MetricsServer } from '../../../src/metrics/server.js';
import { FakeSources, makeResources } from '../../unit/metrics/fake-sources.js';

const PROMTOOL = '/usr/bin/promtool';
const haveProm = existsSync(PROMTOOL);
if (!haveProm) console.warn(`skipping promtool checks: ${PROMTOOL} not found (apt-get install prometheus)`);
const rulesDir = fileURLToPath(new URL('../../../deploy/prometheus/', import.meta.url));

function promtool(args: string[], input?: string) {
  const r = spawnSync(PROMTOOL, args, { input, encoding: 'utf8', cwd: rulesDir, timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!haveProm)('promtool on the live endpoint and the rules (needs /usr/bin/promtool)', () => {
  let server: MetricsServer;
  let metrics: AgentMetrics;

  beforeAll(async () => {
    const sources = new FakeSources();
    sources.resourceList = makeResources(20);
    metrics = new AgentMetrics({ sources, version: '0.1.0' });
    // Every event family gets samples so the whole exposition is linted.
    const r = metrics.recorder;
    r.resourceTransition('res-0', 'OSU', 'ISP');
    r.failover('res-0', 'node2', 'node1', 3.5, 'system_down');
    r.switchover('res-1', 'node1', 'node2', 1.5);
    r.localRecovery('res-2', true, 0.4);
    r.quickCheck('gen/filesys', 10, 'ok', 0.002);
    r.probe(0.001, 'ok');
    r.probe(5, 'timeout');
    server = await MetricsServer.start({ address: { host: '127.0.0.1', port: 0 }, scrape: () => metrics.scrape() });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('`promtool check metrics` accepts a live scrape', async () => {
    const res = await fetch(`http://${server.endpoint()}/metrics`);
    const body = await res.text();
    // promtool happily accepts empty input, so make sure the scrape has the families first.
    for (const family of ['vigil_system_state', 'vigil_comm_path_state', 'vigil_resource_state', 'vigil_failovers_total', 'vigil_probe_duration_seconds', 'nodejs_eventloop_lag_p99_seconds']) {
      expect(body).toContain(`# TYPE ${family} `);
    }
    const r = promtool(['check', 'metrics'], body);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  it('`promtool check metrics` does reject a bad exposition (the check can fail)', () => {
    const r = promtool(['check', 'metrics'], '# HELP vigil_bad_total x\n# TYPE vigil_bad_total gauge\nvigil_bad_total 1\n');
    expect(r.status).not.toBe(0);
  });

  it('`promtool check rules` accepts the alert rules', () => {
    const r = promtool(['check', 'rules', 'vigil-alerts.yml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it('`promtool test rules` passes the alert unit tests', () => {
    const r = promtool(['test', 'rules', 'vigil-alerts.test.yml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });
});
