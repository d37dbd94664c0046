// The Debian package on real kernels: `npm run package` builds vigil_<version>_amd64.deb once
// (timed); both VMs install it with dpkg -i into their fresh tmpfs overlay and run the installed
// /usr/sbin/vigild and /usr/sbin/vigil (the process is checked to run from /usr/lib/vigil, with
// nothing of this checkout mapped). Then: a gen/app hierarchy fails over when node1's VM is
// killed; node1 comes back as a reinstalled server (a fresh boot: new overlay, no package, no
// state), and the seed-002 procedure runs with the installed commands — on the survivor eqv_list,
// eqv_remove, sys_remove (the 424 form on the local system), net_list, net_remove, lcdsync;
// the package is installed again on node1, the comm paths are made again, the hierarchy is
// re-extended and switched back. Last, `dpkg -r` keeps the configuration and the state and
// `dpkg -P` removes them.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuestVigil, type CliResult } from './helpers-failover.js';
import { ensureBuilt } from '../integration/helpers/core-build.js';
import { repoRoot, useCluster, vmUnavailable, type VmNode } from './helpers/vmcluster.js';

const title = vmUnavailable ? `Debian package in the VM cluster (skipped: ${vmUnavailable})` : 'Debian package in the VM cluster';
const TAG = 'pkg-app';
const PORT = '7365';

/** vigild and vigil as the package installs them: /usr/sbin wrappers over /usr/lib/vigil. */
class InstalledVigil extends GuestVigil {
  constructor(node: VmNode) {
    super(node, '/usr/lib/vigil/app/dist/src');
  }

  override async start(deadlineMs = 180_000): Promise<void> {
    const p = await this.node.spawn(['/usr/sbin/vigild', '--config', GuestVigil.configFile], { log: GuestVigil.log });
    let exited = '';
    await this.node.waitFor(
      async () => {
        const me = (await this.node.procs()).find((x) => x.pid === p.pid);
        if (me?.exited) {
          exited = `vigild exited (${me.code ?? me.signal}):\n${await this.logTail()}`;
          return true;
        }
        return (await this.node.readFile(GuestVigil.log)).toString().includes('vigild ready');
      },
      { deadlineMs, intervalMs: 500, what: 'vigild ready' },
    );
    if (exited) throw new Error(`${this.node.name}: ${exited}`);
    // The wrapper exec'd the shipped node: the agent's pid is the wrapper's.
    this.pid = p.pid;
  }

  override async vigil(args: string[], timeoutMs = 120_000): Promise<CliResult> {
    const r = await this.node.exec(['/usr/sbin/vigil', ...args], { timeoutMs });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut };
  }
}

describe.skipIf(!!vmUnavailable)(title, () => {
  let deb = '';
  let outDir = '';
  // Registered before useCluster's hooks: the .deb exists before the guests look at the share.
  beforeAll(() => {
    ensureBuilt(['dist/src/daemon/main.js', 'dist/src/cli/main.js']);
    outDir = path.join(repoRoot, '.cache', 'package-e2e', String(process.pid));
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/package/build-deb.mjs'), '--out', outDir, '--no-compile'], { encoding: 'utf8', cwd: repoRoot });
    if (r.status !== 0) throw new Error(`npm run package failed:\n${r.stdout}${r.stderr}`);
    deb = path.join(outDir, fs.readdirSync(outDir).find((f) => /^vigil_.*_amd64\.deb$/.test(f))!);
    console.log(`e2e package: built ${path.basename(deb)} (${(fs.statSync(deb).size / 1048576).toFixed(1)} MiB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 600_000);
  afterAll(() => {
    if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
  });
  const cluster = useCluster({ nodes: 2, p2p: [['node1', 'node2']], memMb: 768 }, { bootDeadlineMs: 300_000 });

  const config = (name: string) => ({
    VIGIL_NODE_NAME: name,
    VIGIL_METRICS_ADDRESS: 'off',
    VIGIL_LOG_LEVEL: 'debug',
    LCMHBEATTIME: '1',
    LCMNUMHBEATS: '3',
    LKCHECKINTERVAL: '10',
  });

  /** dpkg -i the package, write the node's configuration and the app's scripts. */
  async function install(v: InstalledVigil, key?: Buffer): Promise<void> {
    const n = v.node;
    const out = await n.run(`dpkg -i ${deb} 2>&1`, { timeoutMs: 600_000 });
    expect(out).toMatch(/Setting up vigil /);
    expect((await n.run('stat -c %a /var/lib/vigil /run/vigil')).trim().split('\n')).toEqual(['700', '700']);
    expect((await n.run('dpkg-query -W -f=\'${Conffiles}\' vigil')).trim()).toMatch(/^\/etc\/default\/vigil [0-9a-f]{32}$/);
    await v.configure(config(n.name));
    if (key) await n.writeFile('/etc/vigil/cluster.key', key, 0o600);
    // The protected application: a marker file under /run, started and stopped by the kit.
    await n.writeFile('/usr/local/sbin/pkg-app-start', '#!/bin/sh\ntouch /run/pkg-app.up\n', 0o755);
    await n.writeFile('/usr/local/sbin/pkg-app-stop', '#!/bin/sh\nrm -f /run/pkg-app.up\n', 0o755);
    await n.writeFile('/usr/local/sbin/pkg-app-check', '#!/bin/sh\ntest -f /run/pkg-app.up\n', 0o755);
  }

  /** The agent runs the shipped node from /usr/lib/vigil and maps nothing of this checkout. */
  async function expectFromPackage(v: InstalledVigil): Promise<void> {
    // One admin request first: the peer check on the admin socket loads the addon for sure.
    expect(await v.must(['sys_list'])).toContain(v.node.name);
    const exe = (await v.node.run(`readlink /proc/${v.pid}/exe`)).trim();
    expect(exe).toBe('/usr/lib/vigil/node/bin/node');
    expect((await v.node.run(`tr '\\0' ' ' < /proc/${v.pid}/cmdline`)).trim()).toBe('/usr/lib/vigil/node/bin/node /usr/lib/vigil/app/dist/src/daemon/main.js --config /etc/default/vigil');
    const maps = (await v.node.readFile(`/proc/${v.pid}/maps`)).toString();
    expect(maps).toContain('/usr/lib/vigil/app/build/Release/vigil_native.node');
    expect(maps.includes(repoRoot), `vigild maps files of the checkout ${repoRoot}`).toBe(false);
  }

  const sees = async (v: InstalledVigil, peer: string, state: string) => (await v.systems()).find((s) => s.name === peer)?.state === state;
  async function connect(a: InstalledVigil, b: InstalledVigil): Promise<void> {
    for (const [x, y] of [[a, b], [b, a]] as const) {
      for (const seg of ['lan', 'p2p1']) await x.must(['net_create', '-S', y.node.name, '-T', 'TCP', '-l', x.node.ip(seg), '-r', y.node.ip(seg), '-P', PORT]);
    }
    await a.node.waitFor(async () => (await sees(a, b.node.name, 'ALIVE')) && (await sees(b, a.node.name, 'ALIVE')), {
      deadlineMs: 120_000,
      intervalMs: 1000,
      what: `${a.node.name} and ${b.node.name} to see each other ALIVE`,
    });
  }

  it('installs with dpkg -i, fails over between the VMs, and runs the seed-002 procedure with the installed commands', async () => {
    const t0 = Date.now();
    const c = cluster();
    const [n1, n2] = [c.node('node1'), c.node('node2')];
    let v1 = new InstalledVigil(n1);
    const v2 = new InstalledVigil(n2);

    await Promise.all([install(v1), install(v2)]);
    console.log(`e2e package: installed on both guests at +${Math.round((Date.now() - t0) / 1000)} s`);
    expect((await v1.vigil(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(await v1.must(['keygen'])).toMatch(/wrote cluster key \/etc\/vigil\/cluster.key/);
    const key = await n1.readFile('/etc/vigil/cluster.key');
    await n2.writeFile('/etc/vigil/cluster.key', key, 0o600);
    await Promise.all([v1.start(), v2.start()]);
    for (const v of [v1, v2]) await expectFromPackage(v);
    await connect(v1, v2);

    await v1.must(['create', '-a', 'gen/app', '-t', TAG, '-i', 'pkg-app', '--restore', '/usr/local/sbin/pkg-app-start', '--remove', '/usr/local/sbin/pkg-app-stop', '--quick-check', '/usr/local/sbin/pkg-app-check']);
    await v1.must(['extend', '-t', TAG, '-s', 'node2', '--accept-defaults']);
    await n1.waitFor(async () => (await v1.states())[TAG] === 'ISP' && (await v2.states())[TAG] === 'OSU', { deadlineMs: 60_000, intervalMs: 1000, what: `${TAG} ISP on node1, OSU on node2` });

    // Failover: node1's VM is killed; node2 declares it dead and brings the hierarchy in service.
    const crashAt = Date.now();
    await n1.crash();
    await n2.waitFor(async () => (await sees(v2, 'node1', 'DEAD')) && (await v2.states())[TAG] === 'ISP', { deadlineMs: 180_000, intervalMs: 500, what: `${TAG} ISP on node2` });
    console.log(`e2e package: failover to node2 seen ${Date.now() - crashAt} ms after the crash (host polling the installed CLI)`);

    // node1 is "reinstalled": a fresh boot has a new overlay (no package, no state).
    await n1.boot(300_000);
    expect((await n1.exec(['test', '-e', '/usr/sbin/vigild'])).code).toBe(1);

    // Seed 002 on the survivor, with the installed commands.
    expect(await v2.must(['eqv_list'])).toBe(`node2 ${TAG} node1 ${TAG} SHARED 10 1\n`);
    await v2.must(['eqv_remove', '-s', 'node2', '-t', TAG, '-S', 'node1', '-e', 'SHARED']);
    expect(await v2.must(['eqv_list'])).toBe('');
    expect(await v2.must(['sys_list'])).toBe('node2\nnode1\n');
    const local = await v2.vigil(['sys_remove', '-s', 'node2']);
    expect([local.code, local.stderr.split('\n')]).toEqual([1, expect.arrayContaining(['*ERROR* (No. 424) can\'t remove entry for local system "node2"'])]);
    await v2.must(['sys_remove', '-s', 'node1']);
    expect(await v2.must(['net_list'])).toBe('');
    await v2.must(['net_remove']);
    await v2.must(['lcdsync']);
    expect(await v2.must(['sys_list'])).toBe('node2\n');
    // Still in service on the survivor, now unprotected (no equivalent left).
    await n2.waitFor(async () => (await v2.states())[TAG] === 'ISU', { deadlineMs: 30_000, intervalMs: 1000, what: `${TAG} ISU on node2` });

    // The reinstalled server: the package again, the cluster key, new comm paths, re-extend, switch back.
    v1 = new InstalledVigil(n1);
    await install(v1, key);
    await v1.start();
    await expectFromPackage(v1);
    await connect(v2, v1);
    await v2.must(['extend', '-t', TAG, '-s', 'node1', '--accept-defaults']);
    await n2.waitFor(async () => (await v1.states())[TAG] === 'OSU', { deadlineMs: 60_000, intervalMs: 1000, what: `${TAG} OSU on node1` });
    await v1.must(['in-service', '-t', TAG]);
    await n1.waitFor(async () => (await v1.states())[TAG] === 'ISP' && (await v2.states())[TAG] === 'OSU', { deadlineMs: 120_000, intervalMs: 1000, what: `${TAG} back in service on node1` });
    expect((await n1.exec(['test', '-f', '/run/pkg-app.up'])).code).toBe(0);
    console.log(`e2e package: seed-002 procedure done at +${Math.round((Date.now() - t0) / 1000)} s`);
  });

  it('dpkg -r keeps the configuration and the state; dpkg -P removes them', async () => {
    const n2 = cluster().node('node2');
    // Anchored, so the pattern does not match the shell running pkill itself.
    await n2.run("pkill -TERM -f '^/usr/lib/vigil/node/bin/node /usr/lib/vigil/app/dist/src/daemon/main.js'; sleep 3; true", { timeoutMs: 60_000 });
    await n2.run('dpkg -r vigil', { timeoutMs: 300_000 });
    const left = async (p: string) => (await n2.exec(['test', '-e', p])).code === 0;
    expect(await left('/usr/sbin/vigild')).toBe(false);
    expect(await left('/usr/lib/vigil')).toBe(false);
    expect(await left('/etc/default/vigil')).toBe(true);
    expect(await left('/etc/vigil/cluster.key')).toBe(true);
    expect(await left('/var/lib/vigil/lcd.json')).toBe(true);
    await n2.run('dpkg -P vigil', { timeoutMs: 300_000 });
    for (const p of ['/etc/default/vigil', '/etc/vigil', '/var/lib/vigil']) expect(await left(p), p).toBe(false);
  });
});
