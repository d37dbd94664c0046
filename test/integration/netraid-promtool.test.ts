// promtool as the independent judge of the vigil_replication_* families and their alert rules:
// `check metrics` on the exposition, `check rules` and `test rules` on
// deploy/prometheus/vigil-replication-alerts*.yml.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';

import { registerReplicationMetrics } from '../../src/replication/replication-metrics.js';

const PROMTOOL = '/usr/bin/promtool';
const haveProm = existsSync(PROMTOOL);
const rulesDir = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));

function promtool(args: string[], input?: string) {
  const r = spawnSync(PROMTOOL, args, { input, encoding: 'utf8', cwd: rulesDir, timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!haveProm)('vigil_replication_* under promtool (needs /usr/bin/promtool from Debian\'s prometheus)', () => {
  it('the exposition passes check metrics and shows primary and backup', async () => {
    const registry = new Registry();
    const recorder = registerReplicationMetrics(registry, async () => [
      { tag: 'db', role: 'primary', generation: 3, mirror: { state: 'resyncing', percent: 42, resyncRate: 10_485_760 }, backupOutOfDate: true, linkHeld: true, dataCorrupt: true },
      { tag: 'logs', role: 'backup', generation: 7, backupOutOfDate: false, dataCorrupt: false },
    ]);
    recorder.holdEnded('db', 'backup-acknowledged', 4200);
    recorder.holdEnded('db', 'kernel-timeout', 16_000);
    recorder.resyncStarted('db', 'full');
    recorder.resyncDone('db', 'full', 95_000);
    recorder.resyncStarted('db', 'partial');
    const text = await registry.metrics();
    const r = promtool(['check', 'metrics'], text);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
    expect(text).toMatch(/^vigil_replication_mirror_state\{tag="db",state="resyncing"\} 1$/m);
    expect(text).toMatch(/^vigil_replication_mirror_state\{tag="db",state="mirroring"\} 0$/m);
    expect(text).toMatch(/^vigil_replication_resync_progress_ratio\{tag="db"\} 0.42$/m);
    expect(text).toMatch(/^vigil_replication_backup_out_of_date\{tag="logs",role="backup"\} 0$/m);
    expect(text).toMatch(/^vigil_replication_generation\{tag="logs"\} 7$/m);
    expect(text).toMatch(/^vigil_replication_link_held\{tag="db"\} 1$/m);
    expect(text).toMatch(/^vigil_replication_link_hold_seconds_count\{tag="db",ended="backup-acknowledged"\} 1$/m);
    expect(text).toMatch(/^vigil_replication_link_hold_seconds_sum\{tag="db",ended="kernel-timeout"\} 16$/m);
    expect(text).toMatch(/^vigil_replication_resync_rate_bytes_per_second\{tag="db"\} 10485760$/m);
    expect(text).toMatch(/^vigil_replication_resyncs_total\{tag="db",kind="partial"\} 1$/m);
    expect(text).toMatch(/^vigil_replication_resyncs_total\{tag="logs",kind="full"\} 0$/m);
    expect(text).toMatch(/^vigil_replication_resync_duration_seconds_count\{tag="db",kind="full"\} 1$/m);
    expect(text).toMatch(/^vigil_replication_data_corrupt\{tag="db"\} 1$/m);
  });

  it('the replication rules load and their unit tests pass', () => {
    const check = promtool(['check', 'rules', 'vigil-replication-alerts.yml']);
    expect(check.out).toMatch(/SUCCESS: 5 rules found/);
    const test = promtool(['test', 'rules', 'vigil-replication-alerts.test.yml']);
    expect(test.out).toMatch(/SUCCESS/);
    expect(test.status).toBe(0);
  });
});
