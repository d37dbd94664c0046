// The recovery-server standby on this host: alpha (the primary) is a real vigild in its own
// network namespace whose DISK comm path writes its heartbeat record on a loop device; bravo (the
// standby) runs only `vigil standby` in another namespace, listening to alpha's slot. A loop
// device takes no SG_IO, so the listener reads with O_DIRECT (it says so) and cannot fence
// (VIGIL_STANDBY_FENCE=off here; with on it refuses at once, also tested). Shown: the listener
// stays put while alpha's record advances and while the TCP link between them is cut; alpha
// SIGKILLed → the listener exits 0 within the time-out plus one heartbeat; the manual return is
// refused until alpha is back with an advancing record, then puts bravo back to listening.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClusterSecret, writeKeyFile } from '../../src/cluster/cluster-key.js';
import { haveIp, haveRoot } from './cluster/processes.js';
import { canConnect, ensureDaemonBuilt, runVigil, VIGIL, VIGILD, writeNodeConfig } from './helpers/vigild-proc.js';

const haveLosetup = spawnSync('losetup', ['--version']).status === 0;
const canRun = haveRoot && haveIp && haveLosetup;
const reason = `needs root, iproute2 and losetup (root=${haveRoot} ip=${haveIp} losetup=${haveLosetup})`;
const HB_S = 0.5;
const TIMEOUT_S = 3;

function run(cmd: string, ...args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

interface Proc { proc: ChildProcess; out: string; exit?: { code: number | null; at: number } }

function spawnIn(ns: string, args: string[]): Proc {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { proc, out: '' };
  proc.stdout!.on('data', (c: Buffer) => (p.out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (p.out += c.toString()));
  proc.on('exit', (code) => (p.exit = { code, at: Date.now() }));
  return p;
}

const pollUntil = async (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe.skipIf(!canRun)(canRun ? 'recovery-server standby on a loop device (vigild primary, vigil standby listener)' : `recovery-server standby on a loop device (skipped: ${reason})`, () => {
  let dir = '';
  const tag = `${(process.pid + 23) % 100000}`;
  const ns = { alpha: `vigil-sa-${tag}`, bravo: `vigil-sb-${tag}` };
  const link = { a: `vsa-${tag}`, b: `vsb-${tag}`, addrA: '10.233.2.1', addrB: '10.233.2.2' };
  let loop = '';
  let alpha: Proc | undefined;
  let listener: Proc | undefined;
  const cfg = { alpha: '', bravo: '', bravoFenced: '' };
  const socket = () => join(dir, 'alpha', 'run', 'admin.sock');
  const cli = (config: string, ...args: string[]) => runVigil(join(dir, 'bravo', 'run', 'admin.sock'), [...args, '--config', config]);
  type Status = { state: string; why: string; role: string; io: string; listenerRunning: boolean; primaryRecord?: { seq: string; bootId: string; ageMs: number } };
  const status = async (): Promise<Status> => {
    const r = await cli(cfg.bravo, 'standby', 'status', '--json');
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Status;
  };

  const startAlpha = async () => {
    alpha = spawnIn(ns.alpha, [VIGILD, '--config', cfg.alpha]);
    const a = alpha;
    await pollUntil('alpha admin socket', async () => {
      if (a.exit) throw new Error(`vigild alpha exited:\n${a.out}`);
      return canConnect(socket());
    });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-sby-'));
    const keyFile = join(dir, 'cluster.key');
    ensureDaemonBuilt();
    writeKeyFile(keyFile, generateClusterSecret());
    const img = join(dir, 'shared.img');
    writeFileSync(img, '');
    truncateSync(img, 8 << 20);
    loop = run('losetup', '-f', '--show', img).trim();
    for (const n of Object.values(ns)) {
      run('ip', 'netns', 'add', n);
      run('ip', '-n', n, 'link', 'set', 'lo', 'up');
    }
    run('ip', 'link', 'add', link.a, 'netns', ns.alpha, 'type', 'veth', 'peer', 'name', link.b, 'netns', ns.bravo);
    run('ip', '-n', ns.alpha, 'addr', 'add', `${link.addrA}/24`, 'dev', link.a);
    run('ip', '-n', ns.bravo, 'addr', 'add', `${link.addrB}/24`, 'dev', link.b);
    run('ip', '-n', ns.alpha, 'link', 'set', link.a, 'up');
    run('ip', '-n', ns.bravo, 'link', 'set', link.b, 'up');
    const roles = { VIGIL_KEY_FILE: keyFile, LCMHBEATTIME: String(HB_S), LCMNUMHBEATS: '4', VIGIL_STANDBY_PRIMARY: 'alpha', VIGIL_STANDBY_SECONDARY: 'bravo', VIGIL_STANDBY_DEVICE: loop, VIGIL_STANDBY_TIMEOUT: String(TIMEOUT_S), VIGIL_STANDBY_FENCE: 'off' };
    cfg.alpha = writeNodeConfig(join(dir, 'alpha'), 'alpha', { ...roles, VIGIL_METRICS_ADDRESS: '127.0.0.1:9787' });
    cfg.bravo = writeNodeConfig(join(dir, 'bravo'), 'bravo', roles);
    cfg.bravoFenced = writeNodeConfig(join(dir, 'bravo-fenced'), 'bravo', { ...roles, VIGIL_STANDBY_FENCE: 'on' });
    await startAlpha();
    // The primary's record goes on the LUN through its DISK comm path to the standby.
    for (const args of [['-T', 'TCP', '-l', link.addrA, '-r', link.addrB, '-p', '1'], ['-T', 'DISK', '-D', loop, '-p', '2']]) {
      const r = await runVigil(socket(), ['net_create', '-S', 'bravo', ...args]);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    for (const p of [alpha, listener]) if (p && !p.exit) p.proc.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    for (const n of Object.values(ns)) spawnSync('ip', ['netns', 'del', n]);
    if (loop) spawnSync('losetup', ['-d', loop]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is a no-op on the primary, and refuses to run unfenced on a device that cannot be fenced', async () => {
    const onPrimary = await cli(cfg.alpha, 'standby');
    expect(onPrimary.code).toBe(0);
    expect(onPrimary.stdout).toContain('this system (alpha) is the primary: nothing to wait for');
    const fenced = await cli(cfg.bravoFenced, 'standby');
    expect(fenced.code).toBe(2);
    expect(fenced.stderr).toMatch(new RegExp(`${loop} takes no SCSI commands \\(O_DIRECT: SG_IO does not apply .*\\), so the primary cannot be fenced on it; use a SCSI LUN or set VIGIL_STANDBY_FENCE=off`));
  });

  it('listens while the primary\'s record advances; status shows the record and its age', async () => {
    listener = spawnIn(ns.bravo, [VIGIL, 'standby', '--config', cfg.bravo]);
    await pollUntil('listener banner', () => /listening for alpha's disk heartbeat on \/dev\/loop\d+ \(O_DIRECT: SG_IO does not apply/.test(listener!.out));
    await pollUntil('alpha heard', async () => /alpha is alive/.test((await status()).why ?? ''), 10_000);
    const a = await status();
    await new Promise((r) => setTimeout(r, 3 * HB_S * 1000));
    const b = await status();
    expect(b).toMatchObject({ role: 'standby', state: 'listening', listenerRunning: true });
    expect(b.io).toMatch(/^O_DIRECT: /);
    expect(BigInt(b.primaryRecord!.seq)).toBeGreaterThan(BigInt(a.primaryRecord!.seq));
    expect(b.primaryRecord!.ageMs).toBeLessThan(3 * HB_S * 1000);
    const human = await cli(cfg.bravo, 'standby', 'status');
    expect(human.stdout).toMatch(/^state +listening since /m);
    expect(human.stdout).toMatch(/^primary record +sequence \d+, boot [0-9a-f]+, running, written .* \(age \d+\.\d s by this clock\), slot \d+$/m);
  });

  it("the primary's vigild exports vigil_standby_* metrics: roles, its record's sequence and heartbeat age", async () => {
    // The endpoint listens on alpha's own loopback: scrape from inside its namespace.
    const scrape = () => run('ip', 'netns', 'exec', ns.alpha, process.execPath, '-e', "fetch('http://127.0.0.1:9787/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))");
    const seq = (t: string) => Number(/^vigil_standby_primary_record_sequence (\d+)$/m.exec(t)?.[1]);
    await pollUntil('standby metrics', () => !Number.isNaN(seq(scrape())), 10_000);
    const a = scrape();
    expect(a).toMatch(/^vigil_standby_info\{role="primary",primary="alpha",standby="bravo"\} 1$/m);
    await new Promise((r) => setTimeout(r, 3 * HB_S * 1000));
    const b = scrape();
    expect(seq(b)).toBeGreaterThan(seq(a));
    const age = Number(/^vigil_standby_heartbeat_age_seconds ([\d.e-]+)$/m.exec(b)?.[1]);
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(3 * HB_S);
  });

  it('the TCP link cut (the standby\'s only network): no takeover', async () => {
    run('ip', '-n', ns.bravo, 'link', 'set', link.b, 'down');
    await new Promise((r) => setTimeout(r, 2 * TIMEOUT_S * 1000));
    expect(listener!.exit).toBeUndefined();
    expect((await status()).state).toBe('listening');
    run('ip', '-n', ns.bravo, 'link', 'set', link.b, 'up');
  });

  it('alpha SIGKILLed: the listener exits 0 within the time-out plus one heartbeat, saying why', async () => {
    const killedAt = Date.now();
    alpha!.proc.kill('SIGKILL');
    await pollUntil('listener exit', () => listener!.exit !== undefined, 30_000);
    const ms = listener!.exit!.at - killedAt;
    console.log(`integration standby-loop: LCMHBEATTIME ${HB_S} s, VIGIL_STANDBY_TIMEOUT ${TIMEOUT_S} s: the standby took over ${ms} ms after the primary's SIGKILL (bound ${TIMEOUT_S * 1000 + HB_S * 1000} ms + exit slack)`);
    expect(listener!.exit!.code, listener!.out).toBe(0);
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_S * 1000 - HB_S * 1000);
    // time-out + one heartbeat, plus the process's exit and the poll (generous on a shared 2-core host).
    expect(ms).toBeLessThan(TIMEOUT_S * 1000 + HB_S * 1000 + 700);
    expect(listener!.out).toMatch(/taking over: alpha's record stopped at sequence \d+; no heartbeat for \d+\.\d s \(time-out 3\.0 s\)/);
    expect(listener!.out).toContain('not fenced (VIGIL_STANDBY_FENCE=off)');
    expect(listener!.out).toContain('the boot continues');
    const s = await status();
    expect(s.state).toBe('active');
    expect(s.why).toMatch(/^took over from alpha: alpha's record stopped/);
    // A reboot of the standby stays active: the return is manual.
    const again = await cli(cfg.bravo, 'standby');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already active');
  });

  it('the manual return is refused until alpha is back, then puts bravo back to listening', async () => {
    const refused = await cli(cfg.bravo, 'standby', 'return');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/return refused: alpha's record is not advancing \(stuck at sequence \d+\)/);
    expect((await status()).state).toBe('active');
    await startAlpha();
    await pollUntil('alpha writing again', async () => (await status()).primaryRecord?.ageMs! < 1000, 15_000);
    const ok = await cli(cfg.bravo, 'standby', 'return');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/returned to listening by the administrator: alpha is back: record advancing \(sequence \d+\)/);
    expect((await status()).state).toBe('listening');
    listener = spawnIn(ns.bravo, [VIGIL, 'standby', '--config', cfg.bravo]);
    await pollUntil('listening again', async () => /alpha is alive/.test((await status()).why ?? ''), 10_000);
    expect(listener.exit).toBeUndefined();
  });
});
