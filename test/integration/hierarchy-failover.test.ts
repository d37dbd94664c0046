// The hierarchy engine end to end: three real vigild processes on 127.0.0.1-3, each in its own
// mount namespace, protecting an HTTP service (gen/app) over an ext4 file system on a real loop
// device (gen/filesys). Failover to the best backup with children restored before parents,
// automatic and intelligent switchback, local recovery without failover, failover after the
// recovery budget is spent, and unextend/delete leaving nothing behind.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LocalCluster } from '../../src/demo/local-cluster.js';
import { writeDemoService, type DemoServiceFiles } from '../../src/demo/demo-service.js';
import { loopSkipReason } from './hierarchy/loop-device.js';

const haveUnshare = (() => {
  try {
    execFileSync('unshare', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const skip = loopSkipReason || (haveUnshare ? '' : 'needs unshare(1) for per-node mount namespaces');
if (skip) console.warn(`[hierarchy-failover] skipped: ${skip}`);

const NODES = [
  { name: 'node1', address: '127.0.0.1' },
  { name: 'node2', address: '127.0.0.2' },
  { name: 'node3', address: '127.0.0.3' },
];
const WEB = 'web';
const FS = 'data';
type Event = { at: number; msg: string };
type Answer = { system: string; greeting: string; pid: number };

async function http(address: string, port: number): Promise<Answer | undefined> {
  try {
    const r = await fetch(`http://${address}:${port}/`, { signal: AbortSignal.timeout(2_000) });
    return (await r.json()) as Answer;
  } catch {
    return undefined;
  }
}

describe.skipIf(skip !== '')(`hierarchy failover with 3 vigild${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let c: LocalCluster;
  let device = '';
  let mnt = '';
  let fstab = '';
  let svc: DemoServiceFiles;
  let svcDir = '';
  const port = 20_000 + (process.pid % 10_000);
  const commPort = 30_000 + (process.pid % 10_000);

  const states = (n: string) => c.states(n);
  const both = async (n: string, want: string) => {
    const s = await states(n);
    return s[WEB] === want && s[FS] === want;
  };
  const events = (n: string) => c.json<Event[]>(n, ['hier_events', '-n', '1000']);
  const addr = (n: string) => NODES.find((x) => x.name === n)!.address;
  const servedBy = async (n: string) => {
    let a: Answer | undefined;
    await c.waitFor(async () => (a = await http(addr(n), port))?.system === n, 20_000, `HTTP answers from ${n}`);
    return a!;
  };

  beforeAll(async () => {
    c = new LocalCluster({
      nodes: NODES,
      heartbeatSec: 0.3,
      missedHeartbeats: 6,
      checkIntervalSec: 1,
      port: commPort,
      privateMounts: true,
      extraConfig: { VIGIL_LOCAL_RECOVERY_ATTEMPTS: '2', VIGIL_LOCAL_RECOVERY_WINDOW: '600' },
    });
    const image = join(c.dir, 'disk.img');
    execFileSync('truncate', ['-s', '32M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', image]);
    device = execFileSync('losetup', ['-f', '--show', image], { encoding: 'utf8' }).trim();
    mnt = join(c.dir, 'mnt');
    fstab = join(c.dir, 'fstab');
    writeFileSync(fstab, `proc /proc proc defaults 0 0\n${device} ${mnt} ext4 defaults 0 2\n`);
    // Every node edits the same fstab copy (VIGIL_FSTAB), never the host's /etc/fstab.
    for (const n of NODES) writeFileSync(join(c.nodeDir(n.name), 'vigil.conf'), readFileSync(join(c.nodeDir(n.name), 'vigil.conf'), 'utf8') + `VIGIL_FSTAB=${fstab}\n`);
    svcDir = join(c.dir, 'service');
    svc = writeDemoService(svcDir, Object.fromEntries(NODES.map((n) => [n.name, n.address])), port, mnt);
    await Promise.all(NODES.map((n) => c.startNode(n.name)));
    await c.connectAll();
    await c.waitFor(async () => {
      for (const n of NODES) {
        const sys = await c.json<Array<{ name: string; state: string }>>(n.name, ['sys_list']);
        if (sys.filter((s) => s.state === 'ALIVE').length !== 3) return false;
      }
      return true;
    }, 30_000, 'all three nodes to see each other');
  });

  afterAll(async () => {
    await c?.destroy();
    if (device) {
      try {
        execFileSync('losetup', ['-d', device], { stdio: 'ignore' });
      } catch {
        // Already detached.
      }
    }
  });

  it('creates app-over-filesys on node1 (ISU until extended), extends to node2 and node3', async () => {
    const fsOut = await c.must('node1', ['create', '-a', 'gen/filesys', '-t', FS, '-i', mnt, '--device', device, '--fstype', 'ext4', '--options', 'noatime', '--switchback', 'automatic']);
    expect(fsOut).toContain(`removed fstab entry: ${device} ${mnt} ext4 defaults 0 2`);
    expect(readFileSync(fstab, 'utf8')).toBe('proc /proc proc defaults 0 0\n');
    expect(readFileSync(`${fstab}.vigil-backup`, 'utf8')).toContain(mnt);
    await c.must('node1', ['create', '-a', 'gen/app', '-t', WEB, '-i', 'http', '--restore', svc.restore, '--remove', svc.remove, '--quick-check', svc.quickCheck, '--recover', svc.recover, '--switchback', 'automatic']);
    expect(await states('node1')).toEqual({ [FS]: 'ISU', [WEB]: 'ISU' });
    await c.must('node1', ['dep', 'create', '-p', WEB, '-c', FS]);
    // Bad input changes nothing: an unknown target, a taken priority.
    const taken = await c.vigil('node1', ['extend', '-t', WEB, '-s', 'node2', '--target-priority', '1', '--accept-defaults']);
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/priority 1 is already used by node1/);
    expect(await states('node2')).toEqual({});
    const extended = await c.vigil('node1', ['extend', '-t', WEB, '-s', 'node2', '--target-priority', '20', '--accept-defaults']);
    expect(extended.code).toBe(0);
    // Progress on stderr (stdout keeps the result): what runs, then how long it took.
    expect(extended.stderr).toMatch(/^extend: extending web to node2 \(runs each resource's extend on the target, children first\)$/m);
    expect(extended.stderr).toMatch(/^extend: done in \d+\.\d s$/m);
    expect(extended.stdout).not.toMatch(/^extend: /m);
    const again = await c.vigil('node1', ['extend', '-t', WEB, '-s', 'node2', '--accept-defaults']);
    expect(again.stderr).toMatch(/Error 000004: Template resource web cannot be extended to server node2 because it already exists there/);
    // Under --json: no progress lines, the error as one JSON object on stdout.
    const quiet = await c.vigil('node1', ['extend', '-t', WEB, '-s', 'node2', '--accept-defaults', '--json']);
    expect(quiet.stderr).not.toMatch(/^extend: /m);
    expect(JSON.parse(quiet.stdout).error).toMatchObject({ number: 4, message: expect.stringMatching(/^Template resource web cannot be extended to server node2/) });
    // The interactive mode, answered through stdin: Enter accepts the offered defaults (the
    // switchback type of the hierarchy, the lowest free priority of 10, 20, ...).
    const interactive = await c.must('node1', ['extend', '-t', WEB, '-s', 'node3'], '\n\n');
    expect(interactive).toContain('Switchback type (intelligent/automatic) [automatic]: \n');
    expect(interactive).toContain('Target priority (1-999) [10]: \n');
    expect(interactive).toContain('Hierarchy web extended to node3 (priority 10; node1 has 1)');
    await c.waitFor(() => both('node1', 'ISP'), 10_000, 'ISP on node1');
    expect(await states('node2')).toEqual({ [FS]: 'OSU', [WEB]: 'OSU' });
    expect(await states('node3')).toEqual({ [FS]: 'OSU', [WEB]: 'OSU' });
    const eqv = await c.must('node1', ['eqv_list']);
    expect(eqv).toContain('node1 web node2 web SHARED 1 20');
    expect(eqv).toContain('node1 web node3 web SHARED 1 10');
    expect((await servedBy('node1')).greeting).toMatch(/written by node1/);
  });

  it('kill -9 of node1: the best backup (node3) brings it in service, file system before application', async () => {
    const killedAt = Date.now();
    c.killNode('node1');
    await c.waitExit('node1');
    await c.waitFor(() => both('node3', 'ISP'), 30_000, 'ISP on node3');
    expect(await states('node2')).toEqual({ [FS]: 'OSU', [WEB]: 'OSU' });
    const a = await servedBy('node3');
    expect(a.greeting).toMatch(/written by node1/);
    const ev = (await events('node3')).filter((e) => e.at >= killedAt);
    const at = (m: string) => ev.find((e) => e.msg.startsWith(m))?.at;
    const fsDone = at(`restore ${FS} succeeded`);
    const webBegins = at(`restore ${WEB} begins`);
    expect(fsDone).toBeDefined();
    expect(webBegins).toBeDefined();
    expect(fsDone!).toBeLessThanOrEqual(webBegins!);
    const isp = at(`hierarchy ${WEB} in service on node3 (failover)`)!;
    console.log(`[hierarchy-failover] node3 in service ${isp - killedAt} ms after kill -9 of node1`);
    expect((await events('node2')).some((e) => e.at >= killedAt && e.msg.startsWith(`restore `))).toBe(false);
  });

  it('automatic switchback: node1 gets it back when it returns', async () => {
    await c.startNode('node1');
    await c.waitFor(() => both('node1', 'ISP'), 30_000, 'ISP on node1 again');
    await c.waitFor(() => both('node3', 'OSU'), 10_000, 'OSU on node3');
    await servedBy('node1');
    expect(await http(addr('node3'), port)).toBeUndefined();
  });

  it('killing the application triggers local recovery on node1, not a failover', async () => {
    const before = await servedBy('node1');
    const t = Date.now();
    process.kill(before.pid, 'SIGKILL');
    await c.waitFor(async () => (await events('node1')).some((e) => e.at >= t && e.msg === `local recovery of ${WEB} succeeded`), 30_000, 'local recovery on node1');
    const after = await servedBy('node1');
    expect(after.pid).not.toBe(before.pid);
    expect(await states('node1')).toEqual({ [FS]: 'ISP', [WEB]: 'ISP' });
    for (const n of ['node2', 'node3']) expect((await events(n)).some((e) => e.at >= t && e.msg.startsWith('restore '))).toBe(false);
  });

  it('intelligent switchback waits for the administrator', async () => {
    const p = await c.must('node1', ['properties', '-t', WEB, '--switchback', 'intelligent']);
    expect(p).toContain('Switchback:   intelligent');
    c.killNode('node1');
    await c.waitExit('node1');
    await c.waitFor(() => both('node3', 'ISP'), 30_000, 'ISP on node3');
    await c.startNode('node1');
    await c.waitFor(async () => (await c.json<Array<{ name: string; state: string }>>('node3', ['sys_list'])).find((s) => s.name === 'node1')?.state === 'ALIVE', 20_000, 'node3 to see node1 alive');
    // Several check intervals and heartbeats later it still runs on node3.
    await new Promise((r) => setTimeout(r, 4_000));
    expect(await states('node3')).toEqual({ [FS]: 'ISP', [WEB]: 'ISP' });
    expect(await states('node1')).toEqual({ [FS]: 'OSU', [WEB]: 'OSU' });
    const sw = await c.must('node1', ['in-service', '-t', WEB]);
    expect(sw).toMatch(/hierarchy web is in service on node1/);
    expect(await states('node1')).toEqual({ [FS]: 'ISP', [WEB]: 'ISP' });
    await c.waitFor(() => both('node3', 'OSU'), 10_000, 'OSU on node3 after the switchover');
    await servedBy('node1');
  });

  it('an application that keeps failing spends its recovery budget and fails over', async () => {
    const t = Date.now();
    writeFileSync(join(svcDir, 'run-node1', 'broken'), '');
    try {
      await c.waitFor(() => both('node3', 'ISP'), 60_000, 'failover to node3');
    } finally {
      rmSync(join(svcDir, 'run-node1', 'broken'), { force: true });
    }
    const ev = (await events('node1')).filter((e) => e.at >= t);
    expect(ev.filter((e) => e.msg === `recover ${WEB} begins`)).toHaveLength(2);
    expect(ev.some((e) => e.msg.startsWith(`local recovery budget for ${WEB} spent`))).toBe(true);
    const s1 = await states('node1');
    expect(s1[WEB]).toBe('OSF');
    expect(s1[FS]).toBe('OSU');
    await servedBy('node3');
    // The administrator repaired it: bring it home.
    await c.must('node1', ['in-service', '-t', WEB]);
    expect(await states('node1')).toEqual({ [FS]: 'ISP', [WEB]: 'ISP' });
  });

  it('in-service of an unknown tag and out-of-service work with clear results', async () => {
    const bad = await c.vigil('node1', ['in-service', '-t', 'nope']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/resource nope not found on node1/);
    await c.must('node1', ['out-of-service', '-t', WEB]);
    expect(await states('node1')).toEqual({ [FS]: 'OSU', [WEB]: 'OSU' });
    expect(readFileSync(`/proc/${c.pid('node1')}/mountinfo`, 'utf8')).not.toContain(mnt);
    await c.must('node1', ['in-service', '-t', WEB]);
    expect(readFileSync(`/proc/${c.pid('node1')}/mountinfo`, 'utf8')).toContain(mnt);
  });

  it('unextend and delete leave nothing behind: no LCD rows, no mounts, no fstab line', async () => {
    const refused = await c.vigil('node2', ['unextend', '-t', WEB, '-s', 'node1']);
    expect(refused.stderr).toMatch(/in service on node1/);
    await c.must('node1', ['unextend', '-t', WEB, '-s', 'node2']);
    expect(await states('node2')).toEqual({});
    expect(await c.must('node2', ['eqv_list'])).toBe('');
    expect(await c.must('node2', ['dep_list'])).toBe('');
    expect(await c.must('node1', ['eqv_list'])).not.toContain('node2');
    expect(await c.must('node3', ['eqv_list'])).not.toContain('node2');
    await c.must('node1', ['delete', '-t', FS]);
    for (const n of ['node1', 'node2', 'node3']) {
      expect(await states(n)).toEqual({});
      expect(await c.must(n, ['eqv_list'])).toBe('');
      expect(await c.must(n, ['dep_list'])).toBe('');
      expect(readFileSync(`/proc/${c.pid(n)}/mountinfo`, 'utf8')).not.toContain(mnt);
    }
    expect(readFileSync(fstab, 'utf8')).not.toContain(mnt);
    expect(await http(addr('node1'), port)).toBeUndefined();
    expect(existsSync(join(svcDir, 'run-node1', 'http.pid'))).toBe(false);
  });
});
