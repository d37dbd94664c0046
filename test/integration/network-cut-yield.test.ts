// A network-only cut longer than detection + the survivor hold, with QUORUM_MODE=tcp_remote and a
// DISK comm path beside the TCP one (issue #15). The cut node cannot reach the witness: it loses
// quorum, takes its hierarchy out (osu) and its DISK records say "yielding", so its peer, which
// still reads those records, counts it gone and takes the hierarchy over during the cut instead of
// leaving it out of service until the network comes back. Never in service on both; after the
// heal the records say running again and the cluster is whole, the hierarchy in service once.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { LocalCluster } from '../../src/demo/local-cluster.js';
import { adminJson, createApp, logOf, makeCluster, Net, netnsSkipReason, overlaps, Sampler, WITNESS } from './helpers/netns-cluster.js';
import { SharedLun, sharedLunSkipReason } from './helpers/shared-lun.js';

const skip = netnsSkipReason || sharedLunSkipReason();
if (skip) console.warn(`[network-cut-yield] skipped: ${skip}`);
const NODES = ['node1', 'node2'];

type PathRow = { system: string; otherSystem: string; type: string; state: string };
const pathState = async (c: LocalCluster, node: string, type: string) =>
  (await adminJson<PathRow[]>(c, node, 'net_list', 2_000))?.find((r) => r.system === node && r.type === type)?.state;

describe.skipIf(skip !== '')(`a long network-only cut with tcp_remote and a DISK path${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let net: Net | undefined;
  let cluster: LocalCluster | undefined;
  let lun: SharedLun | undefined;
  afterAll(async () => {
    await cluster?.destroy(process.env.VIGIL_KEEP_TEST_DIRS === '1');
    lun?.destroy();
    net?.destroy();
  });

  it('the cut node yields on the disk and its peer takes the hierarchy over during the cut; never on both', { timeout: 120_000 }, async () => {
    net = new Net();
    for (const i of [1, 2]) net.addNode(i);
    net.startWitness();
    lun = await SharedLun.open(NODES);
    const c = (cluster = await makeCluster(net, [1, 2], { QUORUM_MODE: 'tcp_remote', QUORUM_HOSTS: WITNESS, QUORUM_TIMEOUT_SECS: '1' }));
    for (const [me, other] of [['node1', 'node2'], ['node2', 'node1']] as const) await c.must(me, ['net_create', '-S', other, '-T', 'DISK', '-D', lun.device(me)]);
    const app = await createApp(c, join(c.dir, 'app'), 'node1', ['node2'], 'app');
    await c.waitFor(async () => (await pathState(c, 'node2', 'DISK')) === 'ALIVE' && (await pathState(c, 'node1', 'DISK')) === 'ALIVE', 30_000, 'DISK paths ALIVE');
    await c.waitFor(async () => /gate open/.test(logOf(c, 'node2').match(/quorum: gate (open|closed)[^\n]*/g)?.at(-1) ?? ''), 30_000, 'node2 gate open');
    const sampler = new Sampler(c, NODES, ['app'], { intervalMs: 200, timeoutMs: 1_000 });
    const cutAt = Date.now();
    net.isolate(1);
    try {
      // node2 in service while node1 is still cut off: detection of the yield (5 x 0.3 s) after
      // node1's loss (a failed probe round, ~2 s) and osu, then node2's hold (~3.6 s).
      await c.waitFor(async () => (await c.states('node2')).app === 'ISP', 25_000, 'app ISP on node2 during the cut');
      const tookOverMs = Date.now() - cutAt;
      console.log(`[network-cut-yield] app ISP on node2 ${tookOverMs} ms after node1's network was cut`);
      expect(logOf(c, 'node1')).toMatch(/DISK path records say \\"yielding\\"/);
      // node1 still reads node2's records: only its own say yielding.
      expect(await pathState(c, 'node1', 'DISK')).toBe('ALIVE');
      expect(await pathState(c, 'node2', 'DISK')).toBe('DEAD');
    } finally {
      net.heal(1);
    }
    await c.waitFor(async () => (await pathState(c, 'node2', 'DISK')) === 'ALIVE' && (await pathState(c, 'node2', 'TCP')) === 'ALIVE', 30_000, 'node1 whole again on node2');
    expect(logOf(c, 'node1')).toMatch(/DISK path records say \\"running\\" again/);
    await new Promise((r) => setTimeout(r, 3_000));
    await sampler.stop();
    expect(sampler.doubles()).toEqual([]);
    expect(overlaps(app.journal)).toEqual([]);
    const last = sampler.samples.at(-1)!;
    expect(Object.values(last.states.app!).filter((s) => s === 'ISP')).toHaveLength(1);
  });
});
