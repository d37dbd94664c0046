// Commands that change state return when the change they describe has settled (issue: 13 of
// 200 resources still read ISU right after their own `extend` returned). Two real vigild
// processes on 127.0.0.1/127.0.0.2: many gen/app hierarchies created on node1 and extended to
// node2 several at a time, each one's state read from node1's LCD the moment its own extend
// returns; out-of-service and in-service read back at once; --no-wait says the change goes on
// in the background, and it does.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freePort } from '../../scripts/lib/free-port.js';
import { sendAdminRequest } from '../../src/cli/admin-client.js';
import { LocalCluster } from '../../src/demo/local-cluster.js';

const N = 40;
const WIDTH = 8;
let seq = 1;

describe('state-changing commands return when settled (two vigild)', () => {
  let c: LocalCluster;
  // Every request has a time limit, and a failure carries both vigild logs: a CI run once spent
  // the whole setup hook (240 s) somewhere in here without saying where.
  const withLogs = (what: string) => new Error(`${what}\n--- node1 log ---\n${c.tail('node1', 40)}\n--- node2 log ---\n${c.tail('node2', 40)}`);
  const call = async (node: string, command: string, options: Record<string, string | boolean> = {}) => {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(withLogs(`${command} ${JSON.stringify(options)} on ${node}: no reply in 60 s`)), 60_000);
    });
    try {
      return await Promise.race([sendAdminRequest(c.socket(node), { id: seq++, command, options, args: [], json: true }), limit]);
    } finally {
      clearTimeout(timer);
    }
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
      port: await freePort(),
    });
    const ok = join(c.dir, 'ok.sh');
    writeFileSync(ok, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    // Each step has its own limit, well inside the hook's, so a hang names its step.
    const step = async (what: string, fn: () => Promise<unknown>, limitMs = 60_000) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          fn(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`not done in ${limitMs} ms`)), limitMs);
          }),
        ]);
      } catch (e) {
        throw (e as Error).message.includes('--- node1 log ---') ? e : withLogs(`${what}: ${(e as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    };
    await step('starting both vigild', () => Promise.all(['node1', 'node2'].map((n) => c.startNode(n))));
    await step('connecting them', () => c.connectAll());
    await step('node1 seeing node2 ALIVE', () => c.waitFor(async () => (await c.json<Array<{ name: string; state: string }>>('node1', ['sys_list'])).every((s) => s.state === 'ALIVE'), 30_000, 'node1 sees node2'));
    await step(`creating ${N} hierarchies`, async () => {
      for (let i = 0; i < N; i++) {
        await must('node1', 'create', { a: 'gen/app', t: `app${i}`, i: `svc${i}`, restore: ok, remove: ok, quickCheck: ok });
      }
    }, 90_000);
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
