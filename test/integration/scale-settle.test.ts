// Commands that change state return when the change they describe has settled (issue: 13 of
// 200 resources still read ISU right after their own `extend` returned). Two real vigild
// processes on 127.0.0.1/127.0.0.2: many gen/app hierarchies created on node1 and extended to
// node2 several at a time, each one's state read from node1's LCD the moment its own extend
// returns; out-of-service and in-service read back at once; --no-wait says the change goes on
// in the background, and it does.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sendAdminRequest } from '../../src/cli/admin-client.js';
import { LocalCluster } from '../../src/demo/local-cluster.js';

const N = 40;
const WIDTH = 8;
let seq = 1;

describe('state-changing commands return when settled (two vigild)', () => {
  let c: LocalCluster;
  const call = async (node: string, command: string, options: Record<string, string | boolean> = {}) => {
    const r = await sendAdminRequest(c.socket(node), { id: seq++, command, options, args: [], json: true });
    return r;
  };
  const must = async (node: string, command: string, options: Record<string, string | boolean> = {}) => {
    const r = await call(node, command, options);
    if (r.exitCode !== 0) throw new Error(`${command} ${JSON.stringify(options)} on ${node}: ${r.stderr}`);
    return r;
  };
  const stateOf = async (node: string, tag: string) => {
    const rows = (await must(node, 'ins_list')).data as Array<{ tag: string; state: string }>;
    return rows.find((r) => r.tag === tag)?.state;
  };

  beforeAll(async () => {
    c = new LocalCluster({
      nodes: [
        { name: 'node1', address: '127.0.0.1' },
        { name: 'node2', address: '127.0.0.2' },
      ],
      heartbeatSec: 0.5,
      missedHeartbeats: 6,
      checkIntervalSec: 1,
      port: 31_000 + (process.pid % 5_000),
    });
    const ok = join(c.dir, 'ok.sh');
    writeFileSync(ok, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    await Promise.all(['node1', 'node2'].map((n) => c.startNode(n)));
    await c.connectAll();
    await c.waitFor(async () => (await c.json<Array<{ name: string; state: string }>>('node1', ['sys_list'])).every((s) => s.state === 'ALIVE'), 30_000, 'node1 sees node2');
    for (let i = 0; i < N; i++) {
      await must('node1', 'create', { a: 'gen/app', t: `app${i}`, i: `svc${i}`, restore: ok, remove: ok, quickCheck: ok });
    }
  }, 240_000);

  afterAll(async () => {
    await c?.destroy();
  });

  it(`every one of ${N} hierarchies reads ISP the moment its own extend returns (${WIDTH} at a time)`, async () => {
    const notSettled: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: WIDTH }, async () => {
        while (next < N) {
          const tag = `app${next++}`;
          expect(await stateOf('node1', tag)).toBe('ISU');
          await must('node1', 'extend', { t: tag, s: 'node2', targetPriority: '10' });
          const st = await stateOf('node1', tag);
          if (st !== 'ISP') notSettled.push(`${tag}=${st}`);
        }
      }),
    );
    expect(notSettled).toEqual([]);
  }, 240_000);

  it('out-of-service and in-service read back at once; --no-wait says it continues and it does', async () => {
    for (const tag of ['app0', 'app1', 'app2']) {
      await must('node1', 'out-of-service', { t: tag, wait: true });
      expect(await stateOf('node1', tag)).toBe('OSU');
      await must('node1', 'in-service', { t: tag, wait: true });
      expect(await stateOf('node1', tag)).toBe('ISP');
    }
    const r = await must('node1', 'out-of-service', { t: 'app3', wait: false });
    expect(r.stdout).toMatch(/out-of-service of app3 started on node1; it continues in the background/);
    expect(r.data).toMatchObject({ tag: 'app3', settled: false });
    await c.waitFor(async () => (await stateOf('node1', 'app3')) === 'OSU', 20_000, 'app3 OSU after --no-wait');
  }, 120_000);
});
