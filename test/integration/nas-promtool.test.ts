// promtool as the independent judge of the vigil_nas_* families and their alert rules:
// `check metrics` on NasMetrics' exposition, `check rules` and `test rules` on
// deploy/prometheus/vigil-nas-alerts*.yml.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';

import { NasMetrics } from '../../src/metrics/nas-metrics.js';

const PROMTOOL = '/usr/bin/promtool';
const haveProm = existsSync(PROMTOOL);
const rulesDir = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));

function promtool(args: string[], input?: string) {
  const r = spawnSync(PROMTOOL, args, { input, encoding: 'utf8', cwd: rulesDir, timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!haveProm)('vigil_nas_* under promtool (needs /usr/bin/promtool from Debian\'s prometheus)', () => {
  it('the exposition passes check metrics and has every family with samples', async () => {
    const registry = new Registry();
    const m = new NasMetrics(registry, () => ({ '/mnt/nfs': 2 }), () => [{ tag: 'share', mountPoint: '/mnt/nfs' }]);
    m.probeAttempt('share', 'ok', 0.002);
    m.probeAttempt('share', 'hung', 5);
    m.exportFailed('share', 'hung');
    m.exportReachable('share', false);
    m.badMountRemounted('share', true);
    m.releaseStep('lazy', 'ok', 0.01);
    const text = await registry.metrics();
    const r = promtool(['check', 'metrics'], text);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
    expect(text).toMatch(/^vigil_nas_probes_parked\{tag="share"\} 2$/m);
    expect(text).toMatch(/^vigil_nas_hung_probes_total\{tag="share"\} 1$/m);
    expect(text).toMatch(/^vigil_nas_export_failures_total\{tag="share",cause="hung"\} 1$/m);
  });

  it('the NAS rules load and their unit tests pass', () => {
    const check = promtool(['check', 'rules', 'vigil-nas-alerts.yml']);
    expect(check.out).toMatch(/SUCCESS: 5 rules found/);
    const test = promtool(['test', 'rules', 'vigil-nas-alerts.test.yml']);
    expect(test.out).toMatch(/SUCCESS/);
    expect(test.status).toBe(0);
  });
});
