// A full partition of two nodes on real kernels, with tcp_remote quorum: node1 and node2 (two
// TCP comm paths each way: the LAN and a point-to-point link) and the NFS VM as the witness
// host, where a plain TCP listener runs. A partition sets every NIC link of the active node down
// (QMP set_link): it loses both comm paths and the witness; the other node keeps the witness.
// Throughout, both nodes' ins_list are sampled (no sample may show the gen/app hierarchy ISP on
// both), and the app's own start/stop journal on each node, put on the host's time line with
// each guest's clock offset, must show it never ran on both at once.
//   1. QUORUM_LOSS_ACTION=osu: node1 (active) isolated: node1 takes app out of service, node2
//      takes it over. Healed: node1 stays out of service.
//   2. QUORUM_LOSS_ACTION=fastkill on node1: app switched back to node1, node1 isolated again:
//      node1 powers itself off (the VM's qemu exits), node2 takes app over.
// The times from the cut to each side's decision are printed.
//   3. Self-fencing (WATCHDOG_DEVICE, softdog) on node2, vigild restarted with it: its event loop
//      starved by a SCHED_FIFO busy loop (the issue #15 scenario; the keeper thread is real-time
//      above it) while nothing is in service: not reset (the lease is unbounded); a gen/app
//      hierarchy in service and vigild running normally for longer than lease + timeout: not
//      reset; starved again with it in service (ISU: node1 is down): the watchdog resets the VM (qemu runs with
//      -no-reboot, so it exits) after the lease and within lease + timeout.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { GuestVigil, guestClockOffset, snapshotBuild, useFailoverCluster } from './helpers-failover.js';
import { vmUnavailable, type VmNode } from './helpers/vmcluster.js';

const title = vmUnavailable ? `quorum: full partition of two nodes (skipped: ${vmUnavailable})` : 'quorum: full partition of two nodes with a tcp_remote witness';
const PORT = '7365';
const WITNESS_PORT = 7370;
const APP_DIR = '/var/lib/vigil-app';

/** The app: a sleeping process; restore/remove append "<guest ms> start|stop" to a journal. */
async function installApp(n: VmNode, APP_DIR = '/var/lib/vigil-app'): Promise<{ restore: string; remove: string; quickCheck: string }> {
  // Killed and not yet reaped (a zombie) counts as stopped.
  const head = `#!/bin/bash\nset -u\nPIDFILE=${APP_DIR}/app.pid\nJOURNAL=${APP_DIR}/journal\nrunning() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && ! grep -q "^State:.*Z" "/proc/$(cat "$PIDFILE")/status" 2>/dev/null; }\n`;
  await n.run(`mkdir -p ${APP_DIR} && : > ${APP_DIR}/journal`);
  const files = {
    restore: 'running && exit 0\nsetsid sleep 100000 >/dev/null 2>&1 &\necho $! > "$PIDFILE"\necho "$(date +%s%3N) start" >> "$JOURNAL"; sync "$JOURNAL"',
    remove: 'if running; then P=$(cat "$PIDFILE"); kill -9 "$P"; while running; do sleep 0.01; done; echo "$(date +%s%3N) stop" >> "$JOURNAL"; sync "$JOURNAL"; fi\nrm -f "$PIDFILE"\nexit 0',
    quickCheck: 'running || exit 1',
  };
  const out: Record<string, string> = {};
  for (const [k, body] of Object.entries(files)) {
    const p = `${APP_DIR}/${k}.sh`;
    await n.writeFile(p, head + body + '\n', 0o755);
    out[k] = p;
  }
  return out as { restore: string; remove: string; quickCheck: string };
}

interface JournalEntry {
  hostAt: number;
  what: 'start' | 'stop';
  node: string;
}

async function journal(n: VmNode, offsetMs: number): Promise<JournalEntry[]> {
  const text = (await n.readFile(`${APP_DIR}/journal`)).toString();
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [t, what] = l.split(' ');
      return { hostAt: Number(t) - offsetMs, what: what as 'start' | 'stop', node: n.name };
    });
}

/** Samples both nodes' state of `app` (a failed or timed-out ins_list counts as unknown). */
/** At most one sample of both nodes per this many ms. */
const SAMPLE_EVERY_MS = 500;

class Sampler {
  readonly samples: Array<{ at: number; n1?: string; n2?: string }> = [];
  private on = true;
  private readonly loop: Promise<void>;
  constructor(v1: GuestVigil, v2: GuestVigil) {
    const state = async (v: GuestVigil) => {
      if (v.node.state !== 'running') return 'powered-off';
      // A request sent as the VM powers itself off can wait for an agent that never comes back:
      // the host gives up on it after 45 s (the answer counts as unknown).
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 45_000)));
      const rows = await Promise.race([v.query<Array<{ tag: string; state: string }>>('ins_list', {}, 30_000).catch(() => undefined), gaveUp]);
      clearTimeout(timer);
      return rows?.find((x) => x.tag === 'app')?.state;
    };
    this.loop = (async () => {
      while (this.on) {
        const startedAt = Date.now();
        const [n1, n2] = await Promise.all([state(v1), state(v2)]);
        this.samples.push({ at: Date.now(), n1, n2 });
        // Paced, so that sampling does not take the guests' CPU from the agents it watches.
        await new Promise((r) => setTimeout(r, Math.max(0, SAMPLE_EVERY_MS - (Date.now() - startedAt))));
      }
    })();
  }
  async stop(): Promise<void> {
    this.on = false;
    await this.loop;
  }
  doubles() {
    return this.samples.filter((s) => s.n1 === 'ISP' && s.n2 === 'ISP');
  }
}

/** Intervals in which app ran on each node (from the journals), checked for overlap. */
function overlaps(entries: JournalEntry[], slackMs: number): string[] {
  const sorted = [...entries].sort((a, b) => a.hostAt - b.hostAt);
  const running = new Map<string, number>();
  const bad: string[] = [];
  for (const e of sorted) {
    if (e.what === 'start') {
      for (const [other, since] of running) if (other !== e.node) bad.push(`${e.node} started at ${e.hostAt} while ${other} ran since ${since}`);
      running.set(e.node, e.hostAt);
    } else running.delete(e.node);
  }
  // Starts closer than the clock uncertainty to the other's stop cannot be ordered: report them.
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (a.what === 'stop' && b.what === 'start' && a.node !== b.node && b.hostAt - a.hostAt < slackMs) bad.push(`${b.node} start ${b.hostAt - a.hostAt} ms after ${a.node} stop (clock uncertainty ${slackMs} ms)`);
  }
  return bad;
}

/** The configuration both cases give vigild (tcp_remote with one witness host). */
function baseConfig(name: string, lossAction: string, witness: string): Record<string, string> {
  return {
    VIGIL_NODE_NAME: name,
    VIGIL_STATE_DIR: '/var/lib/vigil',
    VIGIL_ADMIN_SOCKET: '/run/vigil/admin.sock',
    VIGIL_KEY_FILE: '/etc/vigil/cluster.key',
    VIGIL_METRICS_ADDRESS: 'off',
    LCMHBEATTIME: '1',
    LCMNUMHBEATS: '3',
    LKCHECKINTERVAL: '5',
    QUORUM_MODE: 'tcp_remote',
    QUORUM_HOSTS: witness,
    QUORUM_TIMEOUT_SECS: '5',
    QUORUM_LOSS_ACTION: lossAction,
  };
}

/**
 * Starves everything below real-time priority 50 on the (single-CPU) guest for `secs`: a
 * SCHED_FIFO 50 busy loop, ended by `timeout` at priority 60. vigild's event loop runs SCHED_RR 10
 * (VIGIL_REALTIME_PRIORITY), its watchdog keeper SCHED_RR 99. RT throttling must be off
 * (sched_rt_runtime_us -1), or the loop would get the 5 % the kernel leaves to others.
 */
async function starve(n: VmNode, secs: number): Promise<number> {
  await n.spawn(['chrt', '-f', '60', 'timeout', String(secs), 'chrt', '-f', '50', '/run/vmc/busybox', 'sh', '-c', 'while :; do :; done'], { log: '/tmp/starve.log' });
  return Date.now();
}

describe.skipIf(!!vmUnavailable)(title, () => {
  let build: ReturnType<typeof snapshotBuild> | undefined;
  beforeAll(() => {
    build = snapshotBuild();
  });
  afterAll(() => build?.remove());
  const cluster = useFailoverCluster({ nodes: 2, nfs: true, p2p: [['node1', 'node2']] });

  it('exactly one side in service through two partitions (osu, then fastkill); never both ISP', async () => {
    const c = cluster();
    const [n1, n2, nfs] = [c.node('node1'), c.node('node2'), c.nfs];
    const v1 = new GuestVigil(n1, build!.srcDir);
    const v2 = new GuestVigil(n2, build!.srcDir);
    const witness = `${nfs.ip('lan')}:${WITNESS_PORT}`;
    // The witness: a plain listener on the NFS VM (no Vigil there).
    await nfs.spawn(['node', '-e', `require('net').createServer((s) => s.destroy()).listen(${WITNESS_PORT}, '${nfs.ip('lan')}')`], { log: '/tmp/witness.log' });
    const base = (name: string, lossAction: string) => baseConfig(name, lossAction, witness);
    await v1.configure(base('node1', 'osu'));
    await v2.configure(base('node2', 'osu'));
    await v1.must(['keygen']);
    await n2.writeFile('/etc/vigil/cluster.key', await n1.readFile('/etc/vigil/cluster.key'), 0o600);
    const apps = await Promise.all([installApp(n1), installApp(n2)]);
    await Promise.all([v1.start(), v2.start()]);
    for (const [a, b] of [[v1, v2], [v2, v1]] as const) {
      for (const seg of ['lan', 'p2p1']) await a.must(['net_create', '-S', b.node.name, '-T', 'TCP', '-l', a.node.ip(seg), '-r', b.node.ip(seg), '-P', PORT]);
    }
    const sees = async (v: GuestVigil, peer: string) => (await v.systems()).find((s) => s.name === peer)?.state === 'ALIVE';
    await n1.waitFor(async () => (await sees(v1, 'node2')) && (await sees(v2, 'node1')), { deadlineMs: 120_000, intervalMs: 1000, what: 'node1 and node2 ALIVE' });
    const app = apps[0]!;
    await v1.must(['create', '-a', 'gen/app', '-t', 'app', '-i', 'sleeper', '--restore', app.restore, '--remove', app.remove, '--quick-check', app.quickCheck, '--switchback', 'intelligent']);
    await v1.must(['extend', '-t', 'app', '-s', 'node2', '--accept-defaults']);
    await n1.waitFor(async () => (await v1.states())['app'] === 'ISP' && (await v2.states())['app'] === 'OSU', { deadlineMs: 60_000, intervalMs: 1000, what: 'app ISP on node1' });
    await n2.waitFor(async () => (await v2.logTail(200_000)).includes('quorum: gate open'), { deadlineMs: 60_000, intervalMs: 1000, what: 'the quorum gate open on node2' });

    const clocks = { node1: await guestClockOffset(n1), node2: await guestClockOffset(n2) };
    const slack = Math.ceil(clocks.node1.uncertaintyMs + clocks.node2.uncertaintyMs);
    const sampler = new Sampler(v1, v2);
    const isolate = async (n: VmNode, up: boolean) => {
      for (const seg of ['lan', 'p2p1']) await n.setLink(seg, up);
    };

    // 1. osu.
    const cut1 = Date.now();
    await isolate(n1, false);
    await n2.waitFor(async () => (await v2.states())['app'] === 'ISP', { deadlineMs: 120_000, intervalMs: 1000, what: 'node2 takes app over' });
    await n1.waitFor(async () => (await v1.states())['app'] === 'OSU', { deadlineMs: 60_000, intervalMs: 1000, what: 'node1 takes app out of service' });
    const lost1 = await v1.logTime(/quorum lost/, cut1 - 1000, clocks.node1.offsetMs);
    const take1 = await v2.logTime(/restoring hierarchy app \(failover\)/, cut1 - 1000, clocks.node2.offsetMs);
    expect(lost1, 'node1 logs its loss of quorum').toBeDefined();
    expect(take1, 'node2 logs the takeover').toBeDefined();
    expect(await v1.logTail(10_000_000)).toMatch(/QUORUM_LOSS_ACTION=osu, taking every hierarchy out of service/);
    await isolate(n1, true);
    await n1.waitFor(async () => (await sees(v1, 'node2')) && (await sees(v2, 'node1')), { deadlineMs: 120_000, intervalMs: 1000, what: 'healed' });
    expect((await v1.states())['app']).toBe('OSU');
    expect((await v2.states())['app']).toBe('ISP');

    // 2. fastkill on node1: restart its vigild with it (nothing in service there), switch app back.
    await n1.run(`sed -i 's/^QUORUM_LOSS_ACTION=.*/QUORUM_LOSS_ACTION=fastkill/' ${GuestVigil.configFile}`);
    await n1.kill(v1.pid!, 'SIGTERM');
    await n1.waitFor(async () => !(await n1.procs()).some((p) => p.pid === v1.pid && !p.exited), { deadlineMs: 60_000, intervalMs: 500, what: 'vigild on node1 stopped' });
    await n1.run(`: > ${GuestVigil.log}`);
    await v1.start();
    await n1.waitFor(async () => (await sees(v1, 'node2')) && (await sees(v2, 'node1')), { deadlineMs: 120_000, intervalMs: 1000, what: 'node1 back' });
    await n1.waitFor(async () => (await v1.logTail(200_000)).includes('quorum: gate open'), { deadlineMs: 60_000, intervalMs: 1000, what: 'the quorum gate open on node1' });
    await v1.must(['in-service', '-t', 'app']);
    await n1.waitFor(async () => (await v1.states())['app'] === 'ISP' && (await v2.states())['app'] === 'OSU', { deadlineMs: 60_000, intervalMs: 1000, what: 'app back on node1' });
    const journal1Before = await journal(n1, clocks.node1.offsetMs);
    const cut2 = Date.now();
    await isolate(n1, false);
    await n1.waitFor(() => n1.state === 'crashed', { deadlineMs: 120_000, intervalMs: 200, what: 'node1 to power itself off (qemu exits)' });
    const offAt = Date.now();
    await n2.waitFor(async () => (await v2.states())['app'] === 'ISP', { deadlineMs: 120_000, intervalMs: 1000, what: 'node2 takes app over again' });
    const take2 = await v2.logTime(/restoring hierarchy app \(failover\)/, cut2 - 1000, clocks.node2.offsetMs);
    await sampler.stop();

    // Never both: the samples, and the journals on the host's time line.
    expect(sampler.doubles()).toEqual([]);
    const entries = [...journal1Before, ...(await journal(n2, clocks.node2.offsetMs))];
    // node1's app died with the power-off: its run ends at the latest when qemu exited.
    entries.push({ hostAt: offAt, what: 'stop', node: 'node1' });
    expect(overlaps(entries, slack)).toEqual([]);
    expect(lost1!).toBeLessThan(take1!);
    expect(take2!).toBeGreaterThan(offAt - slack - 1000);
    console.log(
      [
        `e2e quorum-partition: tcp_remote, witness ${witness} (plain listener on the NFS VM), heartbeat 1 s x 3, QUORUM_TIMEOUT_SECS 5, clocks +-${slack} ms`,
        `  osu:      cut -> node1 decides it lost quorum ${lost1! - cut1} ms; cut -> node2 starts the takeover ${take1! - cut1} ms`,
        `  fastkill: cut -> node1 powered off (qemu exited, seen by the host) ${offAt - cut2} ms; cut -> node2 starts the takeover ${take2! - cut2} ms`,
        `  ${sampler.samples.length} ins_list samples of both nodes, none with app ISP on both`,
      ].join('\n'),
    );
  });
  it('self-fencing: a starved vigild with a hierarchy in service is reset by its watchdog within lease + timeout; kept leases are not', async () => {
    const c = cluster();
    const [n2, nfs] = [c.node('node2'), c.nfs];
    const v2 = new GuestVigil(n2, build!.srcDir);
    onTestFailed(async () => console.log(`--- node2 vigild log (tail) ---\n${await v2.logTail(8000)}`));
    const TIMEOUT_SECS = 4;
    // Independent of the first case's end: its own witness listener, node2's vigild restarted.
    const witness = `${nfs.ip('lan')}:${WITNESS_PORT + 1}`;
    await nfs.spawn(['node', '-e', `require('net').createServer((s) => s.destroy()).listen(${WITNESS_PORT + 1}, '${nfs.ip('lan')}')`], { log: '/tmp/witness2.log' });
    for (const p of await n2.procs()) {
      if (!p.exited && p.argv.some((a) => a.endsWith('daemon/main.js'))) await n2.kill(p.pid, 'SIGTERM');
    }
    await n2.waitFor(async () => !(await n2.procs()).some((p) => !p.exited && p.argv.some((a) => a.endsWith('daemon/main.js'))), { deadlineMs: 60_000, intervalMs: 500, what: 'vigild on node2 stopped' });
    await n2.run(`modprobe softdog && test -c /dev/watchdog && echo -1 > /proc/sys/kernel/sched_rt_runtime_us && : > ${GuestVigil.log}`);
    await v2.configure({ ...baseConfig('node2', 'osu', witness), VIGIL_METRICS_ADDRESS: '127.0.0.1:9787', WATCHDOG_DEVICE: '/dev/watchdog', WATCHDOG_TIMEOUT_SECS: String(TIMEOUT_SECS) });
    if ((await n2.exec(['test', '-s', '/etc/vigil/cluster.key'])).code !== 0) await v2.must(['keygen']);
    await v2.start();
    const armedLine = (await v2.logTail(1_000_000)).split('\n').find((l) => l.includes('watchdog: /dev/watchdog'));
    expect(armedLine, 'vigild logs the watchdog armed').toBeDefined();
    const armed = JSON.parse(armedLine!) as { timeoutSecs: number; leaseMs: number; holdMs: number };
    expect(armed.timeoutSecs).toBe(TIMEOUT_SECS);
    const leaseMs = armed.leaseMs;
    const boundMs = leaseMs + TIMEOUT_SECS * 1000;
    await n2.waitFor(async () => (await v2.logTail(200_000)).includes('quorum: gate open'), { deadlineMs: 60_000, intervalMs: 1000, what: 'the quorum gate open on node2' });
    // Nothing in service here to start with (the first case may have left app on node2).
    for (const [tag, state] of Object.entries(await v2.states())) {
      if (state === 'ISP' || state === 'ISU') await v2.must(['out-of-service', '-t', tag]);
    }
    const bootId = (await n2.readFile('/proc/sys/kernel/random/boot_id')).toString().trim();
    const metric = async (name: string) => {
      const text = await n2.run(['/run/vmc/busybox', 'wget', '-qO-', 'http://127.0.0.1:9787/metrics']);
      return text.split('\n').find((l) => l.startsWith(name + '{') || l.startsWith(name + ' '))?.split(' ').pop();
    };
    expect(await metric('vigil_watchdog_armed')).toBe('1');
    expect(await metric('vigil_watchdog_lease_remaining_seconds'), 'nothing in service: unbounded').toBe('+Inf');

    // 1. Nothing in service, the event loop starved for longer than lease + timeout: not reset.
    const quietSecs = Math.ceil(boundMs / 1000) + 3;
    const quietAt = await starve(n2, quietSecs);
    await new Promise((r) => setTimeout(r, 1000));
    await n2.run('true', { timeoutMs: (quietSecs + 60) * 1000 });
    const agentWaitedMs = Date.now() - quietAt;
    expect(agentWaitedMs, 'the guest was starved (its agent could not answer meanwhile)').toBeGreaterThan((quietSecs - 2) * 1000);
    expect(n2.state).toBe('running');
    expect((await n2.readFile('/proc/sys/kernel/random/boot_id')).toString().trim()).toBe(bootId);

    // 2. In service, vigild running normally, for longer than lease + timeout: not reset. (Probes
    // that timed out while starved may have cost quorum for a moment: wait for the gate.)
    await n2.waitFor(async () => (await v2.query<{ quorum?: { open: boolean } }>('lcdstatus')).quorum?.open === true, { deadlineMs: 90_000, intervalMs: 1000, what: 'the quorum gate open again on node2' });
    const guard = await installApp(n2, '/var/lib/vigil-guard');
    await v2.must(['create', '-a', 'gen/app', '-t', 'guard', '-i', 'guard', '--restore', guard.restore, '--remove', guard.remove, '--quick-check', guard.quickCheck, '--switchback', 'intelligent']);
    // ISU rather than ISP: in service, unprotected (node1, its backup, is down).
    const inService = (s: string | undefined) => s === 'ISP' || s === 'ISU';
    await n2.waitFor(async () => inService((await v2.states())['guard']), { deadlineMs: 60_000, intervalMs: 1000, what: 'guard in service on node2' });
    const remaining = Number(await metric('vigil_watchdog_lease_remaining_seconds'));
    expect(remaining, 'in service: a bounded lease').toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(leaseMs / 1000);
    await new Promise((r) => setTimeout(r, boundMs + 1000));
    expect(n2.state).toBe('running');
    expect((await n2.readFile('/proc/sys/kernel/random/boot_id')).toString().trim()).toBe(bootId);
    expect(inService((await v2.states())['guard'])).toBe(true);
    // The native keeper (its thread real-time) has been petting all along: once per timeout/4.
    const status = await v2.query<{ watchdog?: { armed: boolean; pets: number; realtime: boolean; serving: boolean } }>('lcdstatus');
    expect(status.watchdog).toMatchObject({ armed: true, realtime: true, serving: true });
    expect(status.watchdog!.pets).toBeGreaterThan(2 * Math.floor(boundMs / 1000));

    // 3. In service, the event loop starved: the keeper stops petting once the lease lapses.
    const starvedAt = await starve(n2, 600);
    await n2.waitFor(() => n2.state === 'crashed', { deadlineMs: boundMs + 30_000, intervalMs: 100, what: 'the watchdog to reset node2 (qemu exits: -no-reboot)' });
    const resetMs = Date.now() - starvedAt;
    const consoleTail = fs.readFileSync(n2.consoleLog, 'utf8').slice(-4000);
    console.log(
      [
        `e2e self-fencing: softdog, WATCHDOG_TIMEOUT_SECS ${TIMEOUT_SECS}, lease ${leaseMs} ms, survivor hold ${armed.holdMs} ms`,
        `  nothing in service, loop starved ${quietSecs} s: not reset; in service and running ${boundMs + 1000} ms: not reset`,
        `  in service, loop starved: reset ${resetMs} ms after the starvation began (bound: lease + timeout = ${boundMs} ms)`,
      ].join('\n'),
    );
    expect(consoleTail).toMatch(/softdog: Initiating system reboot/);
    // Later than one timeout: the keeper went on petting while the lease held (a keeper starved
    // with the loop would have let the watchdog fire one timeout after the starvation began).
    expect(resetMs).toBeGreaterThan(TIMEOUT_SECS * 1000 + 1000);
    // The lease was renewed at most ~one probe period before the starvation began; 2 s of slack
    // for the host to see qemu exit.
    expect(resetMs).toBeLessThan(boundMs + 2000);
  });
});
