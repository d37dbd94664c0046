// Quorum and witness with real vigild processes, each in a network namespace of its own, joined
// by a bridge in a hub namespace; the hub also runs the witness: a plain TCP listener. A
// partition takes a node's link to the hub down: that node loses every comm path and the
// witness at once. Both nodes' ins_list are sampled throughout; no sample may show the gen/app
// hierarchy ISP on two systems.
//   1. two nodes + tcp_remote-style witness (QUORUM_MODE=majority, QUORUM_HOSTS = the witness;
//      and QUORUM_MODE=tcp_remote): the isolated active node loses quorum and takes its
//      hierarchy out of service (osu); the other takes it over after its hold.
//   2. three nodes, majority, no witness: the isolated node loses quorum (osu), the two others
//      confirm its death with each other (remote_verify) and one takes over.
//   3. QUORUM_MODE=none: the split-brain risk is reported at start.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { LocalCluster } from '../../src/demo/local-cluster.js';

const haveRoot = process.getuid?.() === 0;
const haveIp = spawnSync('ip', ['-V']).status === 0;
const haveSocat = spawnSync('socat', ['-V']).status === 0;
const skip = !haveRoot ? 'needs root (network namespaces)' : !haveIp ? 'needs iproute2' : !haveSocat ? 'needs socat (the witness listener)' : '';
if (skip) console.warn(`[quorum-partition] skipped: ${skip}`);

const TAG = String(process.pid % 100_000);
const WITNESS_ADDR = '10.241.0.254';
const WITNESS_PORT = 7370;

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
}

/** A hub namespace with a bridge, the witness listener, and one namespace per node linked to it. */
class Net {
  readonly hub = `vq-hub-${TAG}`;
  private readonly nodes: string[] = [];
  private witness: ChildProcess | undefined;

  constructor() {
    ip('netns', 'add', this.hub);
    ip('-n', this.hub, 'link', 'set', 'lo', 'up');
    ip('-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', this.hub, 'addr', 'add', `${WITNESS_ADDR}/24`, 'dev', 'br0');
    ip('-n', this.hub, 'link', 'set', 'br0', 'up');
  }

  ns(i: number): string {
    return `vq-n${i}-${TAG}`;
  }

  hubLink(i: number): string {
    return `vqh${i}-${TAG}`;
  }

  addr(i: number): string {
    return `10.241.0.${i}`;
  }

  addNode(i: number): void {
    const ns = this.ns(i);
    ip('netns', 'add', ns);
    this.nodes.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('link', 'add', `vqn${i}-${TAG}`, 'netns', ns, 'type', 'veth', 'peer', 'name', this.hubLink(i), 'netns', this.hub);
    ip('-n', ns, 'link', 'set', `vqn${i}-${TAG}`, 'name', 'eth0');
    ip('-n', ns, 'addr', 'add', `${this.addr(i)}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', this.hub, 'link', 'set', this.hubLink(i), 'master', 'br0');
    ip('-n', this.hub, 'link', 'set', this.hubLink(i), 'up');
  }

  /** Cuts node i off the hub: its comm paths and the witness at once. */
  isolate(i: number): void {
    ip('-n', this.hub, 'link', 'set', this.hubLink(i), 'down');
  }

  heal(i: number): void {
    ip('-n', this.hub, 'link', 'set', this.hubLink(i), 'up');
  }

  /** Cuts only the link between nodes a and b (a blackhole route on each side); the rest stays. */
  cutBetween(a: number, b: number, cut = true): void {
    ip('-n', this.ns(a), 'route', cut ? 'add' : 'del', 'blackhole', `${this.addr(b)}/32`);
    ip('-n', this.ns(b), 'route', cut ? 'add' : 'del', 'blackhole', `${this.addr(a)}/32`);
  }

  startWitness(): void {
    this.witness = spawn('ip', ['netns', 'exec', this.hub, 'socat', `TCP-LISTEN:${WITNESS_PORT},bind=${WITNESS_ADDR},fork,reuseaddr`, 'SYSTEM:true'], { stdio: 'ignore' });
  }

  destroy(): void {
    if (this.witness?.pid) this.witness.kill('SIGKILL');
    for (const ns of [...this.nodes, this.hub]) spawnSync('ip', ['netns', 'del', ns]);
  }
}

/**
 * A gen/app that needs no network: a sleeping process with a pid file per system. Its restore
 * and remove scripts append "<ms> start|stop <system>" to one journal shared by all nodes, after
 * the process started and after it is gone: the true record of where it ran.
 */
function writeApp(dir: string): { restore: string; remove: string; quickCheck: string; journal: string } {
  mkdirSync(dir, { recursive: true });
  const journal = join(dir, 'journal');
  writeFileSync(journal, '');
  // Killed and not yet reaped (a zombie) counts as stopped.
  const head = `#!/bin/bash\nset -u\nPIDFILE=${dir}/app-$VIGIL_SYSTEM.pid\nJOURNAL=${journal}\nrunning() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && ! grep -q "^State:.*Z" "/proc/$(cat "$PIDFILE")/status" 2>/dev/null; }\n`;
  const script = (name: string, body: string) => {
    const p = join(dir, name);
    writeFileSync(p, head + body + '\n');
    chmodSync(p, 0o755);
    return p;
  };
  return {
    restore: script('restore.sh', 'running && exit 0\nsetsid sleep 100000 >/dev/null 2>&1 &\necho $! > "$PIDFILE"\necho "$(date +%s%3N) start $VIGIL_SYSTEM" >> "$JOURNAL"'),
    remove: script(
      'remove.sh',
      'if running; then P=$(cat "$PIDFILE"); kill -9 "$P"; while kill -0 "$P" 2>/dev/null && ! grep -q "^State:.*Z" "/proc/$P/status" 2>/dev/null; do sleep 0.01; done; echo "$(date +%s%3N) stop $VIGIL_SYSTEM" >> "$JOURNAL"; fi\nrm -f "$PIDFILE"\nexit 0',
    ),
    quickCheck: script('quickcheck.sh', 'running || exit 1'),
    journal,
  };
}

/** Starts of the app while it still ran on another system, from the journal. */
function overlaps(journal: string): string[] {
  const running = new Set<string>();
  const bad: string[] = [];
  for (const line of readFileSync(journal, 'utf8').trim().split('\n').filter(Boolean)) {
    const [, what, system] = line.split(' ') as [string, string, string];
    if (what === 'start') {
      if ([...running].some((s) => s !== system)) bad.push(`${line} while running on ${[...running].join(', ')}`);
      running.add(system);
    } else running.delete(system);
  }
  return bad;
}

/** Time of the first log line of `node` matching `re` at or after `from` (ms since the epoch). */
function logTime(c: LocalCluster, node: string, re: RegExp, from: number): number | undefined {
  for (const line of readFileSync(c.logFile(node), 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const j = JSON.parse(line) as { time: number; msg: string };
    if (j.time >= from && re.test(j.msg)) return j.time;
  }
  return undefined;
}

interface Sample {
  at: number;
  states: Record<string, string | undefined>;
}

/** Samples every node's state of `tag` as fast as the CLI answers, until stopped. */
class Sampler {
  readonly samples: Sample[] = [];
  private running = true;
  private loop: Promise<void>;

  constructor(c: LocalCluster, nodes: string[], tag: string) {
    this.loop = (async () => {
      while (this.running) {
        const rows = await Promise.all(
          nodes.map(async (n) => {
            const r = await c.vigil(n, ['ins_list', '--json'], undefined, 10_000);
            if (r.code !== 0) return undefined;
            return (JSON.parse(r.stdout) as Array<{ tag: string; state: string }>).find((x) => x.tag === tag)?.state;
          }),
        );
        // Stamped when the answers are in: a state is seen at the latest then.
        this.samples.push({ at: Date.now(), states: Object.fromEntries(nodes.map((n, i) => [n, rows[i]])) });
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Samples in which more than one node had the hierarchy ISP. */
  doubles(): Sample[] {
    return this.samples.filter((s) => Object.values(s.states).filter((x) => x === 'ISP').length > 1);
  }

  /** First time after `from` that `node` was in `state`. */
  firstAt(node: string, state: string, from: number): number | undefined {
    return this.samples.find((s) => s.at >= from && s.states[node] === state)?.at;
  }
}

const HB = { heartbeatSec: 0.3, missedHeartbeats: 5 };

async function makeCluster(net: Net, nodes: number[], extra: Record<string, string>): Promise<LocalCluster> {
  const names = nodes.map((i) => `node${i}`);
  const c = new LocalCluster({
    nodes: nodes.map((i) => ({ name: `node${i}`, address: net.addr(i) })),
    ...HB,
    checkIntervalSec: 1,
    port: 7365,
    netns: Object.fromEntries(nodes.map((i) => [`node${i}`, net.ns(i)])),
    extraConfig: { QUORUM_LOSS_ACTION: 'osu', QUORUM_TIMEOUT_SECS: '2', ...extra },
  });
  await Promise.all(names.map((n) => c.startNode(n)));
  await c.connectAll();
  await c.waitFor(async () => {
    for (const n of names) {
      const sys = await c.json<Array<{ name: string; state: string }>>(n, ['sys_list']);
      if (sys.filter((s) => s.state === 'ALIVE').length !== names.length) return false;
    }
    return true;
  }, 30_000, 'every node to see every other');
  return c;
}

async function createApp(c: LocalCluster, dir: string, on: string, extendTo: string[]): Promise<string> {
  const app = writeApp(dir);
  await c.must(on, ['create', '-a', 'gen/app', '-t', 'app', '-i', 'sleeper', '--restore', app.restore, '--remove', app.remove, '--quick-check', app.quickCheck, '--switchback', 'intelligent']);
  let prio = 10;
  for (const t of extendTo) await c.must(on, ['extend', '-t', 'app', '-s', t, '--target-priority', String((prio += 10)), '--accept-defaults']);
  await c.waitFor(async () => (await c.states(on))['app'] === 'ISP', 20_000, `app ISP on ${on}`);
  return app.journal;
}

const logOf = (c: LocalCluster, n: string) => readFileSync(c.logFile(n), 'utf8');

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
      const c = await makeCluster(net, [1, 2], { QUORUM_MODE: mode, QUORUM_HOSTS: `${WITNESS_ADDR}:${WITNESS_PORT}` });
      clusters.push(c);
      const journal = await createApp(c, join(c.dir, 'app'), 'node1', ['node2']);
      await c.waitFor(() => /quorum: gate open/.test(logOf(c, 'node2')), 10_000, 'the gate open on node2');
      const sampler = new Sampler(c, ['node1', 'node2'], 'app');
      await new Promise((r) => setTimeout(r, 1_000));
      const cut = Date.now();
      net.isolate(1);
      await c.waitFor(async () => (await c.states('node2'))['app'] === 'ISP', 60_000, 'node2 to take app over');
      await c.waitFor(async () => (await c.states('node1'))['app'] === 'OSU', 30_000, 'node1 to take app out of service');
      await new Promise((r) => setTimeout(r, 1_500));
      await sampler.stop();
      const lost = logTime(c, 'node1', /quorum lost/, cut);
      const takeover = logTime(c, 'node2', /restoring hierarchy app \(failover\)/, cut);
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

  it('three nodes, majority: the isolated active node goes out of service, one of the two others takes over after they confirm', async () => {
    const c = await makeCluster(net, [1, 2, 3], { QUORUM_MODE: 'majority' });
    clusters.push(c);
    const journal = await createApp(c, join(c.dir, 'app'), 'node3', ['node1', 'node2']);
    const sampler = new Sampler(c, ['node1', 'node2', 'node3'], 'app');
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
    expect(sampler.samples.some((s) => s.states['node2'] === 'ISP')).toBe(false);
    expect(logOf(c, 'node3')).toMatch(/quorum lost \(1 of 3 systems: no majority\)/);
    expect(logOf(c, 'node1')).toMatch(/remote_verify: node3 is dead \(confirmed by node2\)/);
    expect(logOf(c, 'node2')).toMatch(/remote_verify: node3 is dead \(confirmed by node1\)/);
  });

  it('three nodes, remote_verify: a node that loses only its link to the active one is told by the third that it lives, and takes nothing over', async () => {
    const c = await makeCluster(net, [1, 2, 3], { QUORUM_MODE: 'majority', WITNESS_MODE: 'remote_verify' });
    clusters.push(c);
    const journal = await createApp(c, join(c.dir, 'app'), 'node3', ['node1', 'node2']);
    const sampler = new Sampler(c, ['node1', 'node2', 'node3'], 'app');
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
    const c = await makeCluster(net, [1, 2], { QUORUM_MODE: 'majority', QUORUM_HOSTS: `${WITNESS_ADDR}:${WITNESS_PORT}`, QUORUM_QUARANTINE_SECS: '8' });
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
    await c.waitFor(() => /quorum: gate open/.test(logOf(c, 'node1').split('vigild ready').at(-1)!), 15_000, 'the gate to open on node1');
    const opened = logTime(c, 'node1', /quorum: gate open/, restartedAt)!;
    expect(opened - restartedAt).toBeGreaterThanOrEqual(8_000);
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
