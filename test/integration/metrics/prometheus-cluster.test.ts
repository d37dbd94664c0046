// A real Prometheus server (Debian's prometheus package) scrapes a two-node cluster on loopback
// every second: its query API returns the vigil series, the dashboard's queries evaluate, and
// after one node is SIGKILLed the survivor's system-state series turns DEAD within two scrape
// intervals of the survivor noticing, and the VigilSystemDown alert fires.
//
// The nodes are real vigild processes (dist/src/daemon/main.js) with the cluster key, two TCP
// comm paths created with `vigil net_create`, and VIGIL_METRICS_ADDRESS on their own loopback
// address.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClusterSecret, writeKeyFile } from '../../../src/cluster/cluster-key.js';
import { freePort } from '../cluster/helpers.js';
import { ensureDaemonBuilt, runVigil, startVigild, stopAll, writeNodeConfig, type VigildHandle } from '../helpers/vigild-proc.js';

const PROMETHEUS = '/usr/bin/prometheus';
const havePrometheus = existsSync(PROMETHEUS) && existsSync('/usr/bin/promtool');
if (!havePrometheus) console.warn(`skipping the Prometheus scrape test: ${PROMETHEUS} or /usr/bin/promtool not found (apt-get install prometheus)`);

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const rulesFile = join(repoRoot, 'deploy/prometheus/vigil-alerts.yml');
const dashboardFile = join(repoRoot, 'deploy/grafana/vigil-dashboard.json');
const SCRAPE_INTERVAL_S = 1;

type Sample = { metric: Record<string, string>; value: [number, string] };

async function pollUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe.skipIf(!havePrometheus)('Prometheus scraping a two-node cluster (needs /usr/bin/prometheus)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-prom-'));
  const children: ChildProcess[] = [];
  const endpoints: Record<string, string> = {};
  const nodes: Record<string, VigildHandle> = {};
  let promUrl = '';
  let promLog = '';

  async function query(expr: string): Promise<Sample[]> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const json = (await res.json()) as { status: string; error?: string; data: { result: Sample[] } };
    if (json.status !== 'success') throw new Error(`query ${expr}: ${json.error}`);
    return json.data.result;
  }

  beforeAll(async () => {
    ensureDaemonBuilt();
    const keyFile = join(dir, 'cluster.key');
    writeKeyFile(keyFile, generateClusterSecret());
    const commPort = await freePort();
    // node1 on 127.0.0.1 / 127.0.0.3, node2 on 127.0.0.2 / 127.0.0.4: two TCP paths between them.
    const addrs: Record<string, string[]> = { node1: ['127.0.0.1', '127.0.0.3'], node2: ['127.0.0.2', '127.0.0.4'] };
    for (const name of ['node1', 'node2']) {
      const metricsAddress = `${addrs[name]![0]}:${await freePort()}`;
      const cfg = writeNodeConfig(join(dir, name), name, {
        VIGIL_KEY_FILE: keyFile,
        LCMHBEATTIME: '0.2',
        LCMNUMHBEATS: '5',
        VIGIL_METRICS_ADDRESS: metricsAddress,
        VIGIL_LOG_LEVEL: 'info',
      });
      nodes[name] = await startVigild(name, join(dir, name), cfg);
      endpoints[name] = metricsAddress;
    }
    for (const [name, other] of [['node1', 'node2'], ['node2', 'node1']] as const) {
      for (const i of [0, 1]) {
        const r = await runVigil(nodes[name]!.socket, ['net_create', '-S', other, '-T', 'TCP', '-l', addrs[name]![i]!, '-r', addrs[other]![i]!, '-P', String(commPort), '-p', String(i + 1)]);
        expect(r.code, r.stderr).toBe(0);
      }
    }
    const [ep1, ep2] = [endpoints.node1!, endpoints.node2!];

    const webPort = await freePort();
    promUrl = `http://127.0.0.1:${webPort}`;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        `  scrape_interval: ${SCRAPE_INTERVAL_S}s`,
        `  scrape_timeout: ${SCRAPE_INTERVAL_S}s`,
        `  evaluation_interval: ${SCRAPE_INTERVAL_S}s`,
        'rule_files:',
        `  - ${JSON.stringify(rulesFile)}`,
        'scrape_configs:',
        '  - job_name: vigil',
        '    static_configs:',
        `      - targets: [${JSON.stringify(ep1)}, ${JSON.stringify(ep2)}]`,
        '',
      ].join('\n'),
    );
    const prom = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${webPort}`,
        '--log.level=warn',
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(prom);
    prom.stderr!.on('data', (d) => (promLog += d));
    await pollUntil('Prometheus to be ready', 60_000, async () => {
      const res = await fetch(`${promUrl}/-/ready`);
      return res.ok ? true : undefined;
    }, 200);
  }, 300_000); // may wait for a tsc rebuild held by another test file (npm test builds first)

  afterAll(async () => {
    await stopAll();
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns the vigil series of both nodes from its query API', async () => {
    // Both agents see both systems ALIVE: 2 instances x 2 systems.
    const alive = await pollUntil('both nodes to see both systems ALIVE', 60_000, async () => {
      const r = await query('vigil_system_state{state="ALIVE"} == 1');
      return r.length === 4 ? r : undefined;
    });
    expect(new Set(alive.map((s) => `${s.metric.instance}|${s.metric.system}`))).toEqual(
      new Set([`${endpoints.node1}|node1`, `${endpoints.node1}|node2`, `${endpoints.node2}|node1`, `${endpoints.node2}|node2`]),
    );
    const info = await query('vigil_agent_info');
    expect(info.map((s) => s.metric.system).sort()).toEqual(['node1', 'node2']);
    const paths = await pollUntil('all four comm paths ALIVE', 30_000, async () => {
      const r = await query('vigil_comm_path_state{state="ALIVE"} == 1');
      return r.length === 4 ? r : undefined;
    });
    expect(paths.map((s) => s.metric.priority).sort()).toEqual(['1', '1', '2', '2']);
    const rtt = await pollUntil('heartbeat round trips', 30_000, async () => {
      const r = await query('vigil_comm_path_heartbeat_rtt_seconds');
      return r.length === 4 ? r : undefined;
    });
    for (const s of rtt) expect(Number(s.value[1])).toBeGreaterThan(0);
    // The live exposition of a real vigild passes promtool's lint.
    const body = await (await fetch(`http://${endpoints.node1}/metrics`)).text();
    expect(body).toContain('# TYPE vigil_comm_path_heartbeat_rtt_seconds gauge');
    const lint = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 60_000 });
    expect(`${lint.stdout}${lint.stderr}`).toBe('');
    expect(lint.status).toBe(0);

    // The native probe counters of the agent (none hung here).
    const parked = await query('vigil_probes_parked');
    expect(parked.map((s) => s.value[1])).toEqual(['0', '0']);

    const lag = await query('nodejs_eventloop_lag_p99_seconds');
    expect(lag).toHaveLength(2);

    // A resource created with the CLI shows up with its state, and goes away when removed.
    const created = await runVigil(nodes.node1!.socket, ['ins_create', '-a', 'gen', '-r', 'app', '-t', 'web', '-i', '/srv/web', '-I', 'ISP']);
    expect(created.code, created.stderr).toBe(0);
    const resource = await pollUntil('the resource series', 10_000, async () => {
      const r = await query('vigil_resource_state{tag="web"}');
      return r.length === 1 ? r[0] : undefined;
    });
    expect(resource.metric).toMatchObject({ instance: endpoints.node1, tag: 'web', app: 'gen', type: 'app', system: 'node1', state: 'ISP' });
    const writes = await query(`vigil_lcd_writes_total{instance="${endpoints.node1}"}`);
    expect(Number(writes[0]!.value[1])).toBeGreaterThan(0);
    const removed = await runVigil(nodes.node1!.socket, ['ins_remove', '-t', 'web']);
    expect(removed.code, removed.stderr).toBe(0);
    await pollUntil('the resource series to go away', 10_000, async () => {
      const r = await query('vigil_resource_state{tag="web"}');
      return r.length === 0 ? true : undefined;
    });
    expect(promLog).not.toMatch(/level=error/);
  });

  it('evaluates every query of the Grafana dashboard', async () => {
    const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(20);
    for (const { title, expr } of exprs) {
      const concrete = expr.replaceAll('$instance', '.*').replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m');
      await expect(query(concrete), `${title}: ${expr}`).resolves.toBeInstanceOf(Array);
    }
    // The panels over families this cluster has (systems, paths, agents) return data.
    expect((await query('max by (system) (vigil_system_state{state="ALIVE",instance=~".*"})')).length).toBe(2);
  });

  it('turns node2 DEAD within two scrape intervals after a kill -9, and fires VigilSystemDown', async () => {
    const killedAt = Date.now();
    nodes.node2!.proc.kill('SIGKILL');
    const survivor = `http://${endpoints.node1}/metrics`;
    // The moment the survivor itself reports node2 dead (its own detection time).
    await pollUntil('node1 to declare node2 dead', 30_000, async () => {
      const body = await (await fetch(survivor)).text();
      return body.includes('vigil_system_state{system="node2",state="DEAD"} 1') ? true : undefined;
    }, 20);
    const detectedAt = Date.now();
    await pollUntil('Prometheus to show node2 DEAD', 10_000, async () => {
      const r = await query(`vigil_system_state{instance="${endpoints.node1}",system="node2",state="DEAD"} == 1`);
      return r.length === 1 ? true : undefined;
    }, 50);
    const inPrometheusAt = Date.now();
    const lagMs = inPrometheusAt - detectedAt;
    console.log(`node2 killed -> node1 detected: ${detectedAt - killedAt} ms; detected -> visible in Prometheus: ${lagMs} ms (scrape interval ${SCRAPE_INTERVAL_S * 1000} ms)`);
    expect(lagMs).toBeLessThanOrEqual(2 * SCRAPE_INTERVAL_S * 1000);
    const aliveNow = await query(`vigil_system_state{instance="${endpoints.node1}",system="node2",state="ALIVE"}`);
    expect(aliveNow.map((s) => s.value[1])).toEqual(['0']);

    await pollUntil('the killed target to be down', 10_000, async () => {
      const r = await query(`up{instance="${endpoints.node2}"} == 0`);
      return r.length === 1 ? true : undefined;
    }, 100);
    const alert = await pollUntil('VigilSystemDown to fire', 15_000, async () => {
      const r = await query('ALERTS{alertname="VigilSystemDown",alertstate="firing"}');
      return r.length > 0 ? r : undefined;
    }, 200);
    expect(alert.map((s) => s.metric.system)).toEqual(['node2']);
  });
});
