// Quorum and witness with real vigild processes, each in a network namespace of its own, joined
// by a bridge in a hub namespace; the hub also runs the witness: a plain TCP listener. A
// partition takes a node's link to the hub down: that node loses every comm path and the
// witness at once. Both nodes' ins_list are sampled throughout; no sample may show the gen/app
// hierarchy ISP on two systems.
//   1. two nodes + tcp_remote-style witness (QUORUM_MODE=majority, QUORUM_HOSTS = the witness;
//      and QUORUM_MODE=tcp_remote): the isolated active node loses quorum and takes its
//      hierarchy out of service (osu); the other takes it over after its hold.
//   1b. the same with a serial (TTY) path as well: a LAN cut alone moves nothing (the serial line
//      keeps both systems and the majority); the serial line cut too is the full partition.
//   2. three nodes, majority, no witness: the isolated node loses quorum (osu), the two others
//      confirm its death with each other (remote_verify) and one takes over.
//   3. QUORUM_MODE=none: the split-brain risk is reported at start.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { LocalCluster } from '../../src/demo/local-cluster.js';
import { Socat } from './cluster/processes.js';
import { createApp, logOf, logTime, makeCluster, Net, netnsSkipReason, overlaps, Sampler, WITNESS } from './helpers/netns-cluster.js';

const skip = netnsSkipReason;
if (skip) console.warn(`[quorum-partition] skipped: ${skip}`);

/**
 * After node1 was cut off at `cut`: waits until node2 has app in service and node1 has it out,
 * stops the sampler a little later, and returns when each decided (from their logs).
 */
async function isolatedNode1LosesNode2TakesOver(c: LocalCluster, sampler: Sampler, cut: number): Promise<{ lost?: number; takeover?: number }> {
  await c.waitFor(async () => (await c.states('node2'))['app'] === 'ISP', 60_000, 'node2 to take app over');
  await c.waitFor(async () => (await c.states('node1'))['app'] === 'OSU', 30_000, 'node1 to take app out of service');
  await new Promise((r) => setTimeout(r, 1_500));
  await sampler.stop();
  return { lost: logTime(c, 'node1', /quorum lost/, cut), takeover: logTime(c, 'node2', /restoring hierarchy app \(failover\)/, cut) };
}

describe.skipIf(skip !== '')(`quorum: partitions of real vigild in network namespaces${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let net: Net;
  const clusters: LocalCluster[] = [];

  beforeAll(() => {
    net = new Net();
    for (const i of [1, 2, 3]) net.addNode(i);
    net.startWitness();
  });

  // Each test leaves the network whole and no vigild behind, passed or failed.
  // VIGIL_KEEP_TEST_DIRS=1 keeps the nodes' logs for a post-mortem.
  afterEach(async () => {
    for (const c of clusters.splice(0)) await c.destroy(process.env.VIGIL_KEEP_TEST_DIRS === '1');
    for (const i of [1, 2, 3]) net?.heal(i);
  });

  afterAll(() => net?.destroy());

  for (const mode of ['majority', 'tcp_remote'] as const) {
    it(`two nodes + witness (${mode}): the isolated active node goes out of service, the other takes over, never both ISP`, async () => {
      const c = await makeCluster(net, [1, 2], { QUORUM_MODE: mode, QUORUM_HOSTS: WITNESS });
      clusters.push(c);
      const { journal } = await createApp(c, join(c.dir, 'app'), 'node1', ['node2']);
      await c.waitFor(() => /quorum: gate open/.test(logOf(c, 'node2')), 10_000, 'the gate open on node2');
      const sampler = new Sampler(c, ['node1', 'node2'], ['app']);
      await new Promise((r) => setTimeout(r, 1_000));
      const cut = Date.now();
      net.isolate(1);
      const { lost, takeover } = await isolatedNode1LosesNode2TakesOver(c, sampler, cut);
      console.log(
        `[quorum-partition] ${mode}: cut -> node1 decides it lost quorum ${lost! - cut} ms; cut -> node2 starts the takeover ${takeover! - cut} ms ` +
          `(seen by ins_list: node1 OSU by ${sampler.firstAt('node1', 'OSU', cut)! - cut} ms, node2 ISP by ${sampler.firstAt('node2', 'ISP', cut)! - cut} ms, ${sampler.samples.length} samples)`,
      );
      expect(sampler.doubles()).toEqual([]);
      expect(overlaps(journal)).toEqual([]);
      expect(readFileSync(journal, 'utf8')).toMatch(/start node1\n.* stop node1\n.* start node2\n$/);
      expect(lost).toBeLessThan(takeover!);
      expect(logOf(c, 'node1')).toMatch(/quorum lost .*QUORUM_LOSS_ACTION=osu/);
      expect(logOf(c, 'node2')).not.toMatch(/quorum lost/);
      // Healed: node1 rejoins and stays out of service; node2 keeps app.
      net.heal(1);
      await c.waitFor(async () => (await c.json<Array<{ name: string; state: string }>>('node1', ['sys_list'])).every((s) => s.state === 'ALIVE'), 30_000, 'node1 to see node2 again');
      expect(await c.states('node1')).toEqual({ app: 'OSU' });
      expect(await c.states('node2')).toEqual({ app: 'ISP' });
    });
  }

  it('two nodes + witness with a serial path too: a LAN cut alone takes nothing over; cutting the serial line as well is a full partition, and only the side with the witness serves', async () => {
    const c = await makeCluster(net, [1, 2], { QUORUM_MODE: 'majority', QUORUM_HOSTS: WITNESS });
    clusters.push(c);
    const socat = new Socat(join(c.dir, 'tty1'), join(c.dir, 'tty2'));
    try {
      await socat.ready();
      for (const [me, other, dev] of [['node1', 'node2', 'tty1'], ['node2', 'node1', 'tty2']] as const) {
        await c.must(me, ['net_create', '-S', other, '-T', 'TTY', '-D', join(c.dir, dev), '-b', '115200', '-p', '10']);
      }
      const ttyAlive = async (n: string) => (await c.json<Array<{ type: string; state: string }>>(n, ['net_list'])).some((p) => p.type === 'TTY' && p.state.startsWith('ALIVE'));
      await c.waitFor(async () => (await ttyAlive('node1')) && (await ttyAlive('node2')), 30_000, 'the serial path ALIVE on both');
      const { journal } = await createApp(c, join(c.dir, 'app'), 'node1', ['node2']);
      await c.waitFor(() => /quorum: gate open/.test(logOf(c, 'node2')), 10_000, 'the gate open on node2');
      const sampler = new Sampler(c, ['node1', 'node2'], ['app']);
      // The LAN cut: node1 loses its TCP path and the witness, but still hears node2 on the serial
      // line: 2 of 3 votes, nobody dies, nothing moves.
      const lanCut = Date.now();
      net.isolate(1);
      await new Promise((r) => setTimeout(r, 4_000));
      expect(await c.states('node1')).toEqual({ app: 'ISP' });
      expect(await c.states('node2')).toEqual({ app: 'OSU' });
      expect(logTime(c, 'node2', /system dead/, lanCut)).toBeUndefined();
      expect(logTime(c, 'node1', /quorum lost/, lanCut)).toBeUndefined();
      // The serial line goes too: every comm path is cut.
      const cut = Date.now();
      await socat.kill();
      const { lost, takeover } = await isolatedNode1LosesNode2TakesOver(c, sampler, cut);
      console.log(`[quorum-partition] majority + serial path: serial cut -> node1 decides it lost quorum ${lost! - cut} ms; -> node2 starts the takeover ${takeover! - cut} ms (${sampler.samples.length} samples)`);
      expect(sampler.doubles()).toEqual([]);
      expect(overlaps(journal)).toEqual([]);
      expect(lost).toBeLessThan(takeover!);
    } finally {
      await socat.kill();
    }
  });

  it('three nodes, majority: the isolated active node goes out of service, one of the two others takes over after they confirm', async () => {
    const c = await makeCluster(net, [1, 2, 3], { QUORUM_MODE: 'majority' });
    clusters.push(c);
    const { journal } = await createApp(c, join(c.dir, 'app'), 'node3', ['node1', 'node2']);
    const sampler = new Sampler(c, ['node1', 'node2', 'node3'], ['app']);
    await new Promise((r) => setTimeout(r, 1_000));
    const cut = Date.now();
    net.isolate(3);
    await c.waitFor(async () => (await c.states('node3'))['app'] === 'OSU', 30_000, 'node3 to take app out of service');
    // node1 has priority 20, node2 30: node1 is the target.
    await c.waitFor(async () => (await c.states('node1'))['app'] === 'ISP', 60_000, 'node1 to take app over');
    await new Promise((r) => setTimeout(r, 1_500));
    await sampler.stop();
    const lost = logTime(c, 'node3', /quorum lost/, cut);
    const takeover = logTime(c, 'node1', /restoring hierarchy app \(failover\)/, cut);
    console.log(`[quorum-partition] majority, 3 nodes: cut -> node3 decides it lost quorum ${lost! - cut} ms; cut -> node1 starts the takeover ${takeover! - cut} ms`);
    expect(sampler.doubles()).toEqual([]);
    expect(overlaps(journal)).toEqual([]);
    expect(readFileSync(journal, 'utf8')).toMatch(/start node3\n.* stop node3\n.* start node1\n$/);
    expect(lost).toBeLessThan(takeover!);
    expect(sampler.samples.some((s) => s.states['app']!['node2'] === 'ISP')).toBe(false);
    expect(logOf(c, 'node3')).toMatch(/quorum lost \(1 of 3 systems: no majority\)/);
    expect(logOf(c, 'node1')).toMatch(/remote_verify: node3 is dead \(confirmed by node2\)/);
    expect(logOf(c, 'node2')).toMatch(/remote_verify: node3 is dead \(confirmed by node1\)/);
  });

  it('three nodes, remote_verify: a node that loses only its link to the active one is told by the third that it lives, and takes nothing over', async () => {
    const c = await makeCluster(net, [1, 2, 3], { QUORUM_MODE: 'majority', WITNESS_MODE: 'remote_verify' });
    clusters.push(c);
    const { journal } = await createApp(c, join(c.dir, 'app'), 'node3', ['node1', 'node2']);
    const sampler = new Sampler(c, ['node1', 'node2', 'node3'], ['app']);
    net.cutBetween(1, 3);
    try {
      await c.waitFor(() => /remote_verify: node2 still see node3 alive; not taking it over/.test(logOf(c, 'node1')), 20_000, 'node1 to be told node3 lives');
      // Well past the survivor hold: still nothing taken over.
      await new Promise((r) => setTimeout(r, 6_000));
      await sampler.stop();
      expect(sampler.doubles()).toEqual([]);
      expect(await c.states('node3')).toEqual({ app: 'ISP' });
      expect(await c.states('node1')).toEqual({ app: 'OSU' });
      expect(readFileSync(journal, 'utf8')).toMatch(/^\d+ start node3\n$/);
      expect(logOf(c, 'node1')).not.toMatch(/restoring hierarchy app/);
      expect(logOf(c, 'node1')).not.toMatch(/quorum lost/);
    } finally {
      net.cutBetween(1, 3, false);
    }
  });

  it('QUORUM_QUARANTINE_SECS: a restarted node refuses to bring anything in service until the quarantine passed', async () => {
    // 10 s: the refusal below comes within 8 s of the restart, and lcdstatus right after it still within the quarantine.
    const c = await makeCluster(net, [1, 2], { QUORUM_MODE: 'majority', QUORUM_HOSTS: WITNESS, QUORUM_QUARANTINE_SECS: '10' });
    clusters.push(c);
    await createApp(c, join(c.dir, 'app'), 'node1', ['node2']);
    c.killNode('node1');
    await c.waitExit('node1');
    await c.waitFor(async () => (await c.states('node2'))['app'] === 'ISP', 60_000, 'node2 to take app over');
    const restartedAt = Date.now();
    await c.startNode('node1');
    await c.waitFor(async () => (await c.json<Array<{ name: string; state: string }>>('node1', ['sys_list'])).every((x) => x.state === 'ALIVE'), 20_000, 'node1 to see node2');
    // In quarantine: the switchover to node1 is refused, nothing changes.
    const early = await c.vigil('node1', ['in-service', '-t', 'app']);
    expect(Date.now() - restartedAt).toBeLessThan(8_000);
    expect(early.code).not.toBe(0);
    expect(early.stdout + early.stderr).toMatch(/no quorum on node1/);
    expect(await c.states('node2')).toEqual({ app: 'ISP' });
    // lcdstatus says why, in text and in --json.
    expect(await c.must('node1', ['lcdstatus'])).toMatch(/\nQuorum:\n  QUORUM_MODE majority: quorum \([^\n]*\)\n  gate closed: quarantine until \d+ s from now\n  witness [^\n]*: reachable\n/);
    const status = await c.json<{ quorum: { mode: string; quorum: boolean; open: boolean; closedReason: string } }>('node1', ['lcdstatus']);
    expect(status.quorum).toMatchObject({ mode: 'majority', quorum: true, open: false, closedReason: expect.stringMatching(/^quarantine until/) });
    await c.waitFor(() => /quorum: gate open/.test(logOf(c, 'node1').split('vigild ready').at(-1)!), 17_000, 'the gate to open on node1');
    const opened = logTime(c, 'node1', /quorum: gate open/, restartedAt)!;
    expect(opened - restartedAt).toBeGreaterThanOrEqual(10_000);
    expect(await c.must('node1', ['lcdstatus'])).toMatch(/\n  gate open: hierarchies may come in service here\n/);
    await c.must('node1', ['in-service', '-t', 'app']);
    expect(await c.states('node1')).toEqual({ app: 'ISP' });
    expect(await c.states('node2')).toEqual({ app: 'OSU' });
  });

  it('QUORUM_MODE=none: the split-brain risk is reported at start', async () => {
    const c = new LocalCluster({ nodes: [{ name: 'solo', address: '127.0.0.1' }], extraConfig: { QUORUM_MODE: 'none' } });
    clusters.push(c);
    await c.startNode('solo');
    await c.waitFor(() => /QUORUM_MODE=none: RISK/.test(logOf(c, 'solo')), 10_000, 'the risk in the log');
    expect(logOf(c, 'solo')).toMatch(/both sides of a partition .*same hierarchy in service/);
  });
});
