// The VM cluster's guest agent (scripts/vmcluster/guest/agent.c), compiled exactly as the image
// build does, driven on this host by the harness's own AgentClient. socat stands in for qemu's
// virtio-serial chardev: it connects the client's listening socket to a raw pty that the agent
// opens, so every protocol case runs in milliseconds here and the e2e layer only has to prove
// the agent boots.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../scripts/vmcluster/agent-client.js';
import { waitFor } from '../../scripts/lib/wait.js';
import { buildGuestAgent, hasInterpreter } from '../../scripts/vmcluster/image.js';
import { processAlive } from '../../src/common/process-alive.js';

function missingTool(): string | undefined {
  if (spawnSync('socat', ['-V']).status !== 0) return 'socat is not installed';
  if (spawnSync('cc', ['--version']).status !== 0) return 'no C compiler (cc) for the guest agent';
  return undefined;
}
const missing = missingTool();
if (missing) console.warn(`vm-guest-agent: skipped, ${missing}`);


describe.skipIf(!!missing)(`guest agent over a pty (needs socat and cc: ${missing ?? 'ok'})`, () => {
  let dir: string;
  let client: AgentClient;
  let socat: ChildProcess;
  let agent: ChildProcess;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmc-agent-'));
    const binary = buildGuestAgent();
    // Static: the guest's initramfs has no libc for it.
    expect(hasInterpreter(fs.readFileSync(binary))).toBe(false);
    client = await AgentClient.listen(path.join(dir, 'agent.sock'), 'host');
    const pty = path.join(dir, 'port');
    socat = spawn('socat', [`PTY,link=${pty},raw,echo=0`, `UNIX-CONNECT:${client.path}`], { stdio: 'ignore' });
    await waitFor(() => fs.existsSync(pty), { deadlineMs: 5000, intervalMs: 20, what: 'the socat pty' });
    agent = spawn(binary, [pty], { stdio: ['ignore', 'ignore', 'inherit'] });
    // Answering is enough here (ready also needs /run/vmc-ready, which only the guest's init makes).
    const end = Date.now() + 5000;
    for (;;) {
      const answered = await client.request('ping', {}, 500).then(() => true, () => false);
      if (answered) break;
      if (Date.now() > end) throw new Error('the agent did not answer within 5 s');
    }
  });

  afterAll(() => {
    agent?.kill('SIGKILL');
    socat?.kill('SIGKILL');
    client?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers ping with the uptime and whether init is done', async () => {
    const r = await client.request<{ uptimeMs: number; ready: boolean }>('ping');
    const hostUptimeMs = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
    expect(Math.abs(r.uptimeMs - hostUptimeMs)).toBeLessThan(5000);
    expect(r.ready).toBe(fs.existsSync('/run/vmc-ready'));
  });

  it('runs a command: exit code, stdout and stderr apart, env and cwd', async () => {
    const r = await client.exec('echo out; echo err >&2; echo "$VMC_T $(pwd)"; exit 3', { env: { VMC_T: 'grüße' }, cwd: dir });
    expect(r).toMatchObject({ code: 3, signal: null, timedOut: false, stdout: `out\ngrüße ${dir}\n`, stderr: 'err\n' });
    const argv = await client.exec(['printf', '%s|', 'a b', '', 'c']);
    expect(argv.stdout).toBe('a b||c|');
  });

  it('passes binary input and output through unchanged', async () => {
    const input = Buffer.alloc(1 << 20);
    for (let i = 0; i < input.length; i++) input[i] = (i * 7 + (i >> 8)) & 0xff;
    const r = await client.exec(['cat'], { input });
    expect(r.code).toBe(0);
    expect(r.stdoutBytes.equals(input)).toBe(true);
  });

  it('kills the whole process group at the time limit and says so', async () => {
    const pidFile = path.join(dir, 'bg.pid');
    const r = await client.exec(`sleep 30 & echo $! > ${pidFile}; sleep 30`, { timeoutMs: 400 });
    expect(r).toMatchObject({ code: null, signal: 'SIGKILL', timedOut: true });
    expect(r.durationMs).toBeGreaterThanOrEqual(400);
    expect(r.durationMs).toBeLessThan(3000);
    const bg = Number(fs.readFileSync(pidFile, 'utf8'));
    await waitFor(() => !processAlive(bg), { deadlineMs: 2000, intervalMs: 20, what: `background sleep ${bg} to be killed` });
  });

  it('keeps answering while a long command runs', async () => {
    const slow = client.exec('sleep 1.5');
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await client.request('ping');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await slow).code).toBe(0);
  });

  it('@unix-line sends its input to a Unix socket and prints the first reply line, also with queries at once', async () => {
    const { createServer } = await import('node:net');
    const sock = path.join(dir, 'line.sock');
    // Answers each request line with its upper-case copy and a second line that must not be printed.
    const server = createServer((c) => {
      let got = '';
      c.on('data', (d) => {
        got += d.toString();
        if (got.includes('\n')) c.write(`${got.trim().toUpperCase()}\nnot this\n`);
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const t0 = Date.now();
      const rs = await Promise.all(['one', 'two', 'three', 'four'].map((w) => client.exec(['@unix-line', sock], { input: `${w}\n`, timeoutMs: 5000 })));
      expect(rs.map((r) => [r.code, r.timedOut, r.stdout])).toEqual([
        [0, false, 'ONE\n'],
        [0, false, 'TWO\n'],
        [0, false, 'THREE\n'],
        [0, false, 'FOUR\n'],
      ]);
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      server.close();
    }
    const none = await client.exec(['@unix-line', path.join(dir, 'absent.sock')], { input: 'x\n', timeoutMs: 5000 });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/cannot reach .*absent\.sock: No such file/);
  });

  it('reports set-up failures as errors, not exit codes', async () => {
    await expect(client.exec(['/nonexistent/program'])).rejects.toThrow(/spawn \/nonexistent\/program failed: No such file/);
    await expect(client.exec('true', { cwd: '/nonexistent-dir' })).rejects.toThrow(/chdir \/nonexistent-dir: No such file/);
    await expect(client.request('exec', {})).rejects.toThrow(/needs argv or sh/);
    await expect(client.request('frobnicate')).rejects.toThrow(/unknown op frobnicate/);
    await expect(client.kill(1, 'SIGNOPE' as NodeJS.Signals)).rejects.toThrow(/unknown signal SIGNOPE/);
  });

  it('spawns, lists and signals long-running processes', async () => {
    const log = path.join(dir, 'spawn.log');
    const sp = await client.spawn(['sh', '-c', 'echo started; exec sleep 60'], { log });
    expect(sp.log).toBe(log);
    await waitFor(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8') === 'started\n', { deadlineMs: 5000, intervalMs: 20, what: 'the spawned process to log' });
    let entry = (await client.procs()).find((p) => p.pid === sp.pid);
    expect(entry).toMatchObject({ argv: ['sh', '-c', 'echo started; exec sleep 60'], log, exited: false, code: null, signal: null });
    await client.kill(sp.pid, 'SIGTERM');
    const end = Date.now() + 5000;
    while (Date.now() < end && !entry?.exited) {
      await new Promise((r) => setTimeout(r, 50));
      entry = (await client.procs()).find((p) => p.pid === sp.pid);
    }
    expect(entry).toMatchObject({ exited: true, code: null, signal: 'SIGTERM' });
    const quick = await client.spawn('exit 4', { log });
    await waitFor(async () => !!(await client.procs()).find((p) => p.pid === quick.pid)?.exited, { deadlineMs: 5000, intervalMs: 20, what: 'exit 4 to be reaped' });
    expect((await client.procs()).find((p) => p.pid === quick.pid)).toMatchObject({ exited: true, code: 4, signal: null });
  });

  it('writes and reads files byte for byte, with the mode asked for', async () => {
    const file = path.join(dir, 'data.bin');
    const data = Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 10, 13]);
    await client.writeFile(file, data, 0o600);
    expect(fs.readFileSync(file).equals(data)).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect((await client.readFile(file)).equals(data)).toBe(true);
    await expect(client.readFile(path.join(dir, 'missing'))).rejects.toThrow(/open .*missing: No such file/);
    await expect(client.writeFile(path.join(dir, 'no', 'such', 'dir'), 'x')).rejects.toThrow(/No such file/);
  });
});
