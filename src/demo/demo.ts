// `vigil demo`: a two-node cluster on this machine that shows failover and switchback for real.
// Two vigild on 127.0.0.1 and 127.0.0.2 in a temporary directory with a generated key protect a
// small HTTP service (gen/app) and, when run as root, an ext4 file system on a loop device
// below it (gen/filesys, each node in its own mount namespace). The demo shows the status,
// kills node 1 with SIGKILL (agent and services), shows the hierarchy in service on node 2
// with the measured detection and failover times, restarts node 1 (automatic switchback brings
// the hierarchy home), and cleans up. Each step is verified (HTTP answers from the right node,
// states in both LCDs); the exit code is 0 only when every step happened. Interrupted (Ctrl-C,
// SIGTERM, SIGHUP) or cut off (stdout closed, as by `vigil demo | head -3`), it cleans up the
// same way (nodes, loop device, directory) and ends quietly: 130, 143, 129, or 141 for the pipe.
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { LocalCluster } from './local-cluster.js';
import { writeDemoService } from './demo-service.js';

interface DemoOptions {
  keep?: boolean;
  out?: (s: string) => void;
}

const N1 = { name: 'node1', address: '127.0.0.1' };
const N2 = { name: 'node2', address: '127.0.0.2' };
const APP = 'demo-web';
const FS = 'demo-fs';
const HB_SEC = 0.2;
const HB_MISSES = 5;

async function portFree(port: number): Promise<boolean> {
  for (const host of [N1.address, N2.address]) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, host, () => s.close(() => resolve(true)));
    });
    if (!ok) return false;
  }
  return true;
}

// Not scripts/lib/free-port.ts: the demo ships in the package and needs a port free on both
// node addresses (127.0.0.1 and 127.0.0.2), where the kernel's pick covers only one.
async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20_000 + Math.floor(Math.random() * 20_000);
    if (await portFree(p)) return p;
  }
  throw new Error('no free TCP port found on 127.0.0.1 and 127.0.0.2');
}

function tool(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function httpFrom(address: string, port: number): Promise<{ system: string; greeting: string; pid: number } | undefined> {
  try {
    const r = await fetch(`http://${address}:${port}/`, { signal: AbortSignal.timeout(2_000) });
    return (await r.json()) as { system: string; greeting: string; pid: number };
  } catch {
    return undefined;
  }
}

class Steps {
  private n = 0;
  readonly t0 = Date.now();
  constructor(private readonly out: (s: string) => void) {}
  step(text: string): void {
    this.out(`\n[${String(++this.n).padStart(2)}] ${text}\n`);
  }
  info(text: string): void {
    this.out(`     ${text.split('\n').join('\n     ')}\n`);
  }
  ok(text: string): void {
    this.out(`     ok: ${text}\n`);
  }
}

/** Thrown by the demo's output once it is stopping, so the steps go no further. */
class DemoStopped extends Error {}

/** Exit codes as a shell reports death by the signal (EPIPE stands for SIGPIPE). */
const STOP_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129, EPIPE: 141 };

export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  // Once stdout is gone (the reader of the pipe exited), nothing more is written to it.
  let stdoutGone = false;
  let stopping = false;
  const write = opts.out ?? ((s: string) => void (stdoutGone || process.stdout.write(s)));
  const out = (text: string): void => {
    if (stopping) throw new DemoStopped('stopping');
    write(text);
  };
  const s = new Steps(out);
  const asRoot = process.getuid?.() === 0;
  const fsWhy = !asRoot
    ? 'not root: the file-system part (ext4 on a loop device) is skipped'
    : !tool('losetup', ['--version']) || !tool('mkfs.ext4', ['-V']) || !tool('unshare', ['--version'])
      ? 'losetup, mkfs.ext4 or unshare missing: the file-system part is skipped'
      : '';
  const withFs = fsWhy === '';
  const commPort = await freePort();
  const httpPort = await freePort();
  const cluster = new LocalCluster({
    nodes: [N1, N2],
    heartbeatSec: HB_SEC,
    missedHeartbeats: HB_MISSES,
    checkIntervalSec: 2,
    port: commPort,
    privateMounts: withFs,
  });
  let loopDevice: string | undefined;
  // One clean-up, however many ways ask for it: each caller waits for the same one to finish.
  let cleaning: Promise<void> | undefined;
  function cleanup(): Promise<void> {
    cleaning ??= (async () => {
      await cluster.destroy(opts.keep);
      if (loopDevice) tool('losetup', ['-d', loopDevice]);
    })();
    return cleaning;
  }
  const stop = (why: string): void => {
    stopping = true;
    void cleanup().then(() => process.exit(STOP_CODES[why] ?? 1));
  };
  const onSignal = (signal: NodeJS.Signals): void => stop(signal);
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    stdoutGone = true;
    // EPIPE: the reader went away; any other stdout error leaves no way to report either.
    stop(err.code === 'EPIPE' ? 'EPIPE' : 'stdout');
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, onSignal);
  process.stdout.on('error', onStdoutError);

  out(`Vigil two-node demo in ${cluster.dir}\n`);
  if (!withFs) out(`(${fsWhy})\n`);
  try {
    s.step(`Start vigild ${N1.name} (${N1.address}) and ${N2.name} (${N2.address}) with a generated cluster key`);
    await Promise.all([cluster.startNode(N1.name), cluster.startNode(N2.name)]);
    await cluster.connectAll();
    const bothAlive = async () => {
      const a = await cluster.json<Array<{ name: string; state: string }>>(N1.name, ['sys_list']);
      const b = await cluster.json<Array<{ name: string; state: string }>>(N2.name, ['sys_list']);
      return a.find((x) => x.name === N2.name)?.state === 'ALIVE' && b.find((x) => x.name === N1.name)?.state === 'ALIVE';
    };
    await cluster.waitFor(bothAlive, 20_000, 'both nodes to see each other alive');
    s.ok(`TCP comm path on port ${commPort}, heartbeat every ${HB_SEC} s, dead after ${HB_MISSES} missed; each node sees the other ALIVE`);

    const dataDir = withFs ? join(cluster.dir, 'mnt') : join(cluster.dir, 'shared-data');
    mkdirSync(dataDir, { recursive: true });
    if (withFs) {
      s.step('Protect an ext4 file system on a loop device (gen/filesys) on node1');
      const image = join(cluster.dir, 'disk.img');
      execFileSync('truncate', ['-s', '32M', image]);
      execFileSync('mkfs.ext4', ['-q', '-F', image]);
      loopDevice = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
      s.info(await cluster.must(N1.name, ['create', '-a', 'gen/filesys', '-t', FS, '-i', dataDir, '--device', loopDevice, '--fstype', 'ext4', '--options', 'noatime', '--switchback', 'automatic']));
      s.ok(`${loopDevice} mounted on ${dataDir} in node1's mount namespace`);
    }

    s.step(`Protect an HTTP service on port ${httpPort} (gen/app)${withFs ? ' that depends on the file system' : ''}, extend to node2`);
    const svc = writeDemoService(join(cluster.dir, 'service'), { [N1.name]: N1.address, [N2.name]: N2.address }, httpPort, dataDir);
    s.info(
      await cluster.must(N1.name, ['create', '-a', 'gen/app', '-t', APP, '-i', `http-${httpPort}`, '--restore', svc.restore, '--remove', svc.remove, '--quick-check', svc.quickCheck, '--recover', svc.recover, '--switchback', 'automatic']),
    );
    if (withFs) s.info(await cluster.must(N1.name, ['dep', 'create', '-p', APP, '-c', FS]));
    s.info(await cluster.must(N1.name, ['extend', '-t', APP, '-s', N2.name, '--accept-defaults']));
    const tags = withFs ? [APP, FS] : [APP];
    const statesAre = async (node: string, want: string) => {
      const st = await cluster.states(node);
      return tags.every((t) => st[t] === want);
    };
    await cluster.waitFor(() => statesAre(N1.name, 'ISP'), 10_000, 'ISP on node1');
    await cluster.waitFor(() => statesAre(N2.name, 'OSU'), 10_000, 'OSU on node2');
    const first = await httpFrom(N1.address, httpPort);
    if (first?.system !== N1.name) throw new Error(`HTTP on ${N1.address}:${httpPort} answered ${JSON.stringify(first)}, expected node1`);
    s.ok(`http://${N1.address}:${httpPort}/ answers ${JSON.stringify(first)}`);

    s.step('Status (lcdstatus on node1)');
    s.info((await cluster.must(N1.name, ['lcdstatus'])).trimEnd());

    s.step('Crash node1: SIGKILL to vigild and everything it started');
    const killedAt = Date.now();
    cluster.killNode(N1.name);
    await cluster.waitExit(N1.name);
    // Progress while the survivor takes over: each change of what node2 reports, with the time since the crash.
    let seen = '';
    await cluster.waitFor(
      async () => {
        // One snapshot both printed and judged: asking twice could see ISP only in the second
        // answer and end the wait without ever printing the state it ended on.
        const st: Record<string, string> = await cluster.states(N2.name).catch(() => ({}));
        const now = JSON.stringify(st);
        if (now !== seen) s.info(`${((Date.now() - killedAt) / 1000).toFixed(1)} s after the crash node2 reports ${now.replace(/[{}"]/g, '').replace(/:/g, ' ')}`);
        seen = now;
        return tags.every((t) => st[t] === 'ISP');
      },
      30_000,
      'the hierarchy to be ISP on node2',
    );
    const served = await (async () => {
      let r: Awaited<ReturnType<typeof httpFrom>>;
      await cluster.waitFor(async () => (r = await httpFrom(N2.address, httpPort))?.system === N2.name, 10_000, 'HTTP answers from node2');
      return r!;
    })();
    const sys2 = await cluster.json<Array<{ name: string; state: string; stateChangedAt: number }>>(N2.name, ['sys_list']);
    const dead = sys2.find((x) => x.name === N1.name)!;
    if (dead.state !== 'DEAD') throw new Error(`node2 records node1 as ${dead.state}, expected DEAD`);
    const events = await cluster.json<Array<{ at: number; msg: string }>>(N2.name, ['hier_events', '-n', '200']);
    const inServiceAt = events.find((e) => e.at >= killedAt && e.msg === `hierarchy ${APP} in service on ${N2.name} (failover)`)?.at;
    if (!inServiceAt) throw new Error('node2 recorded no failover of the hierarchy');
    const restoredAt = (tag: string) => events.find((e) => e.at >= killedAt && e.msg.startsWith(`restore ${tag} succeeded`))?.at;
    const detectMs = dead.stateChangedAt - killedAt;
    const failoverMs = inServiceAt - killedAt;
    s.ok(`node2 declared node1 DEAD after ${detectMs} ms (heartbeat ${HB_SEC} s x ${HB_MISSES})`);
    if (withFs) {
      const fsAt = restoredAt(FS);
      const appAt = restoredAt(APP);
      if (!fsAt || !appAt || fsAt > appAt) throw new Error('file system was not restored before the application');
      s.ok(`restored children first: ${FS} at +${fsAt - killedAt} ms, ${APP} at +${appAt - killedAt} ms`);
    }
    s.ok(`hierarchy ISP on node2 ${failoverMs} ms after the crash (${failoverMs - detectMs} ms after detection)`);
    s.ok(`http://${N2.address}:${httpPort}/ answers ${JSON.stringify(served)}`);
    if (!served.greeting.includes('node1')) throw new Error(`node2 serves greeting "${served.greeting}", expected the one node1 wrote`);
    s.ok('the greeting node1 wrote before the crash is served by node2');
    s.info((await cluster.must(N2.name, ['lcdstatus'])).trimEnd());

    s.step('Bring node1 back: automatic switchback returns the hierarchy to its preferred node');
    const backAt = Date.now();
    await cluster.startNode(N1.name);
    await cluster.waitFor(() => statesAre(N1.name, 'ISP'), 30_000, 'the hierarchy to be ISP on node1 again');
    await cluster.waitFor(() => statesAre(N2.name, 'OSU'), 10_000, 'the hierarchy to be OSU on node2');
    let home: Awaited<ReturnType<typeof httpFrom>>;
    await cluster.waitFor(async () => (home = await httpFrom(N1.address, httpPort))?.system === N1.name, 10_000, 'HTTP answers from node1 again');
    if (await httpFrom(N2.address, httpPort)) throw new Error('node2 still serves after the switchback');
    s.ok(`switched back ${Date.now() - backAt} ms after node1 was restarted; http://${N1.address}:${httpPort}/ answers ${JSON.stringify(home!)}`);

    s.step('Clean up: delete the hierarchy everywhere, stop both nodes, remove the temporary files');
    s.info(await cluster.must(N1.name, ['delete', '-t', APP]));
    const left1 = await cluster.states(N1.name);
    const left2 = await cluster.states(N2.name);
    if (Object.keys(left1).length || Object.keys(left2).length) throw new Error(`resources left after delete: ${JSON.stringify({ left1, left2 })}`);
    if (withFs && readFileSync('/proc/self/mountinfo', 'utf8').includes(dataDir)) throw new Error(`${dataDir} is still mounted`);
    await cleanup();
    s.ok('no resources left in either LCD, nothing mounted, nodes stopped');
    out(`\nDemo finished: every step verified in ${((Date.now() - s.t0) / 1000).toFixed(1)} s. Failure detection ${detectMs} ms, failover ${failoverMs} ms.\n`);
    if (!opts.keep) rmSync(cluster.dir, { recursive: true, force: true });
    else out(`(kept ${cluster.dir})\n`);
    return 0;
  } catch (err) {
    if (stopping) return 1;
    out(`\nDEMO FAILED: ${(err as Error).message}\n`);
    for (const n of [N1.name, N2.name]) out(`--- last lines of ${n}'s log ---\n${cluster.tail(n, 15)}\n`);
    return 1;
  } finally {
    await cleanup();
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, onSignal);
    process.stdout.off('error', onStdoutError);
  }
}
