// Host side of the guest agent channel. The harness listens on a unix socket; qemu's virtio-serial
// chardev connects to it (reconnect=1), so the channel never depends on the VM's network and a new
// host process can take over a running VM by listening on the same path.
import fs from 'node:fs';
import net from 'node:net';
import { traceSlow } from '../lib/trace-slow.js';

export interface ExecOptions {
  /** Kill the command (its whole process group) after this long; result.timedOut tells. */
  timeoutMs?: number;
  input?: string | Buffer;
  env?: Record<string, string>;
  cwd?: string;
}

export interface ExecResult {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Guest path the process's stdout+stderr are appended to (default /var/log/vmc/spawn-<time>.log). */
  log?: string;
}

export interface SpawnedProcess {
  pid: number;
  argv: string[];
  log: string;
  exited: boolean;
  code: number | null;
  signal: string | null;
}

/** A shell command line (run with /bin/sh -c) or an argv vector. */
export type Command = string | string[];

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class AgentClient {
  private server: net.Server;
  private sock: net.Socket | undefined;
  private buf = '';
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private connectWaiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly path: string, readonly name: string) {
    this.server = net.createServer((sock) => this.attach(sock));
  }

  static async listen(path: string, name: string): Promise<AgentClient> {
    fs.rmSync(path, { force: true });
    const c = new AgentClient(path, name);
    await new Promise<void>((resolve, reject) => {
      c.server.once('error', reject);
      c.server.listen(path, () => resolve());
    });
    return c;
  }

  private attach(sock: net.Socket): void {
    this.sock?.destroy();
    this.sock = sock;
    this.buf = '';
    sock.on('error', () => {});
    sock.on('data', (d) => {
      this.buf += d.toString('utf8');
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.onLine(line);
      }
    });
    sock.on('close', () => {
      if (this.sock !== sock) return;
      this.sock = undefined;
      this.failAll(new Error(`${this.name}: agent channel closed`));
    });
    for (const w of this.connectWaiters.splice(0)) w();
  }

  private onLine(line: string): void {
    if (!line.trim()) return;
    let msg: { id?: number; ok?: boolean; result?: unknown; error?: string; event?: string };
    try {
      msg = JSON.parse(line);
    } catch {
      return; // noise from before the agent started (e.g. a half line after a reconnect)
    }
    if (msg.id === undefined || msg.id === null) return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new Error(`${this.name}: ${msg.error}`));
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  /** Send one request; rejects if the channel closes (e.g. the VM was killed) before the reply. */
  async request<T>(op: string, args: Record<string, unknown> = {}, replyTimeoutMs = 0): Promise<T> {
    if (this.closed) throw new Error(`${this.name}: agent client closed`);
    if (!this.sock) await new Promise<void>((r) => this.connectWaiters.push(r));
    const id = this.nextId++;
    // ASCII-only JSON so the guest can split lines on bytes safely.
    const line = JSON.stringify({ id, op, ...args }).replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      if (replyTimeoutMs > 0) {
        timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new Error(`${this.name}: no reply to ${op} within ${replyTimeoutMs} ms`));
        }, replyTimeoutMs);
      }
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.sock!.write(line + '\n');
    });
  }

  /**
   * Ping until the agent answers and the guest's init is done, or the deadline passes. Pings
   * overlap (a new one every 150 ms, each allowed 5 s, at most 20 unanswered): a ping sent
   * before the agent opened its port may be answered late or never, and waiting out its time
   * limit before the next would add up to that limit to every boot.
   */
  async waitReady(deadlineMs: number): Promise<void> {
    const until = Date.now() + deadlineMs;
    let last: unknown = 'no answer yet';
    let done = false;
    let unanswered = 0;
    const answered = new Promise<void>((resolve) => {
      const once = (): void => {
        if (done || Date.now() >= until || unanswered >= 20) return;
        unanswered++;
        this.request<{ ready: boolean }>('ping', {}, 5000).finally(() => unanswered--).then(
          (r) => {
            if (r.ready) {
              done = true;
              resolve();
            } else last = 'guest init not finished';
          },
          (e: unknown) => (last = e),
        );
      };
      once();
      const timer = setInterval(() => (done || Date.now() >= until ? clearInterval(timer) : once()), 150);
    });
    await Promise.race([answered, new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())).unref())]);
    if (done) return;
    throw new Error(`${this.name}: guest agent not ready within ${deadlineMs} ms (${String(last)})`);
  }

  async exec(cmd: Command, opts: ExecOptions = {}): Promise<ExecResult> {
    const args: Record<string, unknown> = typeof cmd === 'string' ? { sh: cmd } : { argv: cmd };
    if (opts.timeoutMs) args.timeoutMs = opts.timeoutMs;
    if (opts.env) args.env = opts.env;
    if (opts.cwd) args.cwd = opts.cwd;
    if (opts.input !== undefined) args.inputB64 = Buffer.from(opts.input).toString('base64');
    const r = await this.request<{ code: number | null; signal: string | null; timedOut: boolean; durationMs: number; stdoutB64: string; stderrB64: string }>('exec', args);
    traceSlow(`exec ${this.name}`, typeof cmd === 'string' ? cmd : cmd.join(' '), r.durationMs);
    const stdoutBytes = Buffer.from(r.stdoutB64, 'base64');
    return {
      code: r.code,
      signal: r.signal,
      timedOut: r.timedOut,
      durationMs: r.durationMs,
      stdoutBytes,
      stdout: stdoutBytes.toString('utf8'),
      stderr: Buffer.from(r.stderrB64, 'base64').toString('utf8'),
    };
  }

  spawn(cmd: Command, opts: SpawnOptions = {}): Promise<{ pid: number; log: string }> {
    const args: Record<string, unknown> = typeof cmd === 'string' ? { sh: cmd } : { argv: cmd };
    return this.request('spawn', { ...args, ...opts });
  }

  /** Signal a spawned process; by default its whole process group. */
  kill(pid: number, signal: NodeJS.Signals = 'SIGTERM', group = true): Promise<void> {
    return this.request('kill', { pid, signal, group });
  }

  procs(): Promise<SpawnedProcess[]> {
    return this.request('procs');
  }

  async readFile(path: string): Promise<Buffer> {
    const r = await this.request<{ dataB64: string }>('read', { path });
    return Buffer.from(r.dataB64, 'base64');
  }

  async writeFile(path: string, data: string | Buffer, mode?: number): Promise<void> {
    await this.request('write', { path, dataB64: Buffer.from(data).toString('base64'), mode });
  }

  close(): void {
    this.closed = true;
    this.failAll(new Error(`${this.name}: agent client closed`));
    this.sock?.destroy();
    this.server.close();
    fs.rmSync(this.path, { force: true });
  }
}
