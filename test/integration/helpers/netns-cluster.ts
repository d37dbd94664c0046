// Real vigild processes in network namespaces, for the quorum and fault-run tests: a hub
// namespace with a bridge and the witness (a plain TCP listener), one namespace per node linked
// to the hub by a veth pair; a gen/app that journals where it really ran; a sampler of every
// node's resource states over the admin sockets; and the cluster set-up both tests share.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';

import type { AdminReply } from '../../../src/admin/protocol.js';
import { LocalCluster } from '../../../src/demo/local-cluster.js';

export const haveRoot = process.getuid?.() === 0;
export const haveIp = spawnSync('ip', ['-V']).status === 0;
export const haveSocat = spawnSync('socat', ['-V']).status === 0;
/** Why the namespace tests cannot run here ('' when they can). */
export const netnsSkipReason = !haveRoot ? 'needs root (network namespaces)' : !haveIp ? 'needs iproute2' : !haveSocat ? 'needs socat (the witness listener)' : '';

export const WITNESS_ADDR = '10.241.0.254';
export const WITNESS_PORT = 7370;
export const WITNESS = `${WITNESS_ADDR}:${WITNESS_PORT}`;

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr}`);
}

/** A hub namespace with a bridge, the witness listener, and one namespace per node linked to it. */
export class Net {
  // The pid keeps two test files running at once (each in its own fork) apart.
  private readonly tag = String(process.pid % 100_000);
  readonly hub = `vq-hub-${this.tag}`;
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
    return `vq-n${i}-${this.tag}`;
  }

  hubLink(i: number): string {
    return `vqh${i}-${this.tag}`;
  }

  addr(i: number): string {
    return `10.241.0.${i}`;
  }

  addNode(i: number): void {
    const ns = this.ns(i);
    ip('netns', 'add', ns);
    this.nodes.push(ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('link', 'add', `vqn${i}-${this.tag}`, 'netns', ns, 'type', 'veth', 'peer', 'name', this.hubLink(i), 'netns', this.hub);
    ip('-n', ns, 'link', 'set', `vqn${i}-${this.tag}`, 'name', 'eth0');
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

export interface App {
  restore: string;
  remove: string;
  quickCheck: string;
  journal: string;
  /** The file holding the pid of the app's process on `system` (present while it runs there). */
  pidFile(system: string): string;
}

/**
 * A gen/app that needs no network: a sleeping process with a pid file per system. Its restore
 * and remove scripts append "<ms> start|stop <system>" to one journal shared by all nodes, after
 * the process started and after it is gone: the true record of where it ran.
 */
export function writeApp(dir: string): App {
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
    pidFile: (system) => join(dir, `app-${system}.pid`),
  };
}

export interface Overlap {
  at: number;
  line: string;
  /** The systems it still ran on when it started on another. */
  runningOn: string[];
}

/** Starts of the app while it still ran on another system, from the journal. */
export function overlapsAt(journal: string): Overlap[] {
  return replayJournal(journal).overlaps;
}

/** The systems the journal says the app runs on now (started and not stopped since). */
export function runningPerJournal(journal: string): Set<string> {
  return replayJournal(journal).running;
}

function replayJournal(journal: string): { running: Set<string>; overlaps: Overlap[] } {
  const running = new Set<string>();
  const overlaps: Overlap[] = [];
  for (const line of readFileSync(journal, 'utf8').trim().split('\n').filter(Boolean)) {
    const [at, what, system] = line.split(' ') as [string, string, string];
    if (what === 'start') {
      const others = [...running].filter((s) => s !== system);
      if (others.length) overlaps.push({ at: Number(at), line, runningOn: others });
      running.add(system);
    } else running.delete(system);
  }
  return { running, overlaps };
}

export function overlaps(journal: string): string[] {
  return overlapsAt(journal).map((o) => `${o.line} while running on ${o.runningOn.join(', ')}`);
}

/** Time of the first log line of `node` matching `re` at or after `from` (ms since the epoch). */
export function logTime(c: LocalCluster, node: string, re: RegExp, from: number): number | undefined {
  for (const line of readFileSync(c.logFile(node), 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const j = JSON.parse(line) as { time: number; msg: string };
    if (j.time >= from && re.test(j.msg)) return j.time;
  }
  return undefined;
}

export const logOf = (c: LocalCluster, n: string) => readFileSync(c.logFile(n), 'utf8');

/**
 * One admin request straight to a node's socket (no CLI process: cheap enough to sample every
 * node several times a second). undefined when the node does not answer within timeoutMs (not
 * running, or stopped).
 */
export function adminJson<T>(c: LocalCluster, node: string, command: string, timeoutMs: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect(c.socket(node));
    let buf = '';
    const done = (v: T | undefined) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify({ id: 1, command, options: {}, args: [], json: true }) + '\n'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        const reply = JSON.parse(buf.slice(0, nl)) as AdminReply;
        done(reply.exitCode === 0 ? (reply.data as T) : undefined);
      } catch {
        done(undefined);
      }
    });
    sock.on('error', () => done(undefined));
    sock.on('close', () => done(undefined));
  });
}

export interface Sample {
  at: number;
  /** tag -> node -> state (undefined: the node did not answer). */
  states: Record<string, Record<string, string | undefined>>;
}

/**
 * Samples every node's states of `tags` every intervalMs (default 50 ms; 0: as fast as they
 * answer, which keeps the agents' event loops busy with admin requests), until stopped.
 */
export class Sampler {
  readonly samples: Sample[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(c: LocalCluster, nodes: string[], private readonly tags: string[], opts: { intervalMs?: number; timeoutMs?: number } = {}) {
    const { intervalMs = 50, timeoutMs = 10_000 } = opts;
    this.loop = (async () => {
      while (this.running) {
        const started = Date.now();
        const rows = await Promise.all(nodes.map((n) => adminJson<Array<{ tag: string; state: string }>>(c, n, 'ins_list', timeoutMs)));
        // Stamped when the answers are in: a state is seen at the latest then.
        const at = Date.now();
        this.samples.push({ at, states: Object.fromEntries(tags.map((t) => [t, Object.fromEntries(nodes.map((n, i) => [n, rows[i]?.find((x) => x.tag === t)?.state]))])) });
        const wait = started + intervalMs - at;
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Samples in which more than one node had one of the hierarchies ISP, with that hierarchy's tag. */
  doubles(): Array<Sample & { tag: string }> {
    return this.samples.flatMap((s) => this.tags.filter((t) => Object.values(s.states[t]!).filter((x) => x === 'ISP').length > 1).map((tag) => ({ ...s, tag })));
  }

  /** First time after `from` that `node` had `tag` in `state`. */
  firstAt(node: string, state: string, from: number, tag = this.tags[0]!): number | undefined {
    return this.samples.find((s) => s.at >= from && s.states[tag]![node] === state)?.at;
  }
}

export const FAST_HEARTBEATS = { heartbeatSec: 0.3, missedHeartbeats: 5 };

/** A cluster of vigild on nodes `nodes` of `net`, comm paths between all, every node seeing every other. */
export async function makeCluster(net: Net, nodes: number[], extra: Record<string, string>): Promise<LocalCluster> {
  const names = nodes.map((i) => `node${i}`);
  const c = new LocalCluster({
    nodes: nodes.map((i) => ({ name: `node${i}`, address: net.addr(i) })),
    ...FAST_HEARTBEATS,
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

/** Creates gen/app `tag` on `on`, extends it to `extendTo` (worse priorities, in order), waits for it ISP. */
export async function createApp(c: LocalCluster, dir: string, on: string, extendTo: string[], tag = 'app'): Promise<App> {
  const app = writeApp(dir);
  await c.must(on, ['create', '-a', 'gen/app', '-t', tag, '-i', `sleeper-${tag}`, '--restore', app.restore, '--remove', app.remove, '--quick-check', app.quickCheck, '--switchback', 'intelligent']);
  let prio = 10;
  for (const t of extendTo) await c.must(on, ['extend', '-t', tag, '-s', t, '--target-priority', String((prio += 10)), '--accept-defaults']);
  await c.waitFor(async () => (await c.states(on))[tag] === 'ISP', 20_000, `${tag} ISP on ${on}`);
  return app;
}
