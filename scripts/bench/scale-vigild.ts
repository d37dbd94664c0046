// Helpers for the scale benches: a real vigild process whose LCD starts with many gen/app
// resources (trivial programs), driven over its admin socket, with its own CPU time read from
// /proc/PID/stat (utime + stime of vigild itself, not of the programs it runs).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendAdminRequest } from '../../src/cli/admin-client.js';
import type { AdminReply } from '../../src/admin/protocol.js';
import { LCD_SCHEMA_VERSION, ResourceInstance, System, type LcdDocument } from '../../src/lcd/schema.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fromSource = import.meta.url.endsWith('.ts');
// VIGIL_BENCH_VIGILD: another build's daemon (dist/src/daemon/main.js), to compare two builds with the same bench.
const VIGILD = process.env.VIGIL_BENCH_VIGILD ?? path.join(ROOT, fromSource ? 'dist/src/daemon/main.js' : 'src/daemon/main.js');

/** Writes an executable shell script. */
export function script(file: string, body: string, shell = '/bin/sh'): string {
  fs.writeFileSync(file, `#!${shell}\n${body}\n`, { mode: 0o755 });
  return file;
}

export interface ScaleVigildOptions {
  dir: string;
  /** The system's name (default 'bench'). */
  name?: string;
  resources: number;
  /** info of resource i (gen/app settings) */
  info: (i: number) => Record<string, string>;
  /** The whole starting LCD, in place of one of `resources` gen/app instances on this system alone. */
  document?: LcdDocument;
  /** Extra configuration lines (KEY=value). */
  config?: Record<string, string | number>;
  /** node options for vigild (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

export class ScaleVigild {
  readonly sock: string;
  readonly child: ChildProcess;
  private readonly exited: Promise<unknown>;
  private id = 1;

  constructor(readonly opts: ScaleVigildOptions) {
    const { dir } = opts;
    const state = path.join(dir, 'state');
    fs.mkdirSync(state, { recursive: true, mode: 0o700 });
    const name = opts.name ?? 'bench';
    const doc: LcdDocument = opts.document ?? {
      version: LCD_SCHEMA_VERSION,
      generation: 1,
      localSystem: 'bench',
      systems: [System.parse({ name: 'bench', state: 'ALIVE' })],
      commPaths: [],
      instances: Array.from({ length: opts.resources }, (_, i) =>
        ResourceInstance.parse({ system: 'bench', tag: `app-${i}`, id: `/srv/app/${i}`, app: 'gen', type: 'app', info: JSON.stringify(opts.info(i)) }),
      ),
      dependencies: [],
      equivalencies: [],
    };
    fs.writeFileSync(path.join(state, 'lcd.json'), JSON.stringify(doc) + '\n', { mode: 0o600 });
    this.sock = path.join(dir, 'admin.sock');
    const conf = path.join(dir, 'vigil.conf');
    const lines = {
      VIGIL_NODE_NAME: name,
      VIGIL_STATE_DIR: state,
      VIGIL_ADMIN_SOCKET: this.sock,
      VIGIL_METRICS_ADDRESS: 'off',
      VIGIL_LOG_LEVEL: 'info',
      VIGIL_KEY_FILE: path.join(dir, 'cluster.key'),
      ...opts.config,
    };
    fs.writeFileSync(conf, Object.entries(lines).map(([k, v]) => `${k}=${v}\n`).join(''));
    const log = fs.openSync(path.join(dir, 'vigild.log'), 'w');
    this.child = spawn(process.execPath, [...(opts.nodeArgs ?? []), VIGILD, '--config', conf], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.exited = new Promise((r) => this.child.once('exit', r));
  }

  get logFile(): string {
    return path.join(this.opts.dir, 'vigild.log');
  }

  async ready(timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`vigild exited (${this.child.exitCode}); see ${this.logFile}`);
      if (fs.existsSync(this.sock)) {
        try {
          if ((await this.call('sys_list')).exitCode === 0) return;
        } catch {
          // not listening yet
        }
      }
      if (Date.now() > until) throw new Error('vigild did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  call(command: string, options: Record<string, string | boolean> = {}, args: string[] = []): Promise<AdminReply> {
    return sendAdminRequest(this.sock, { id: this.id++, command, options, args, json: true });
  }

  /** vigild's own CPU seconds so far (utime + stime from /proc/PID/stat; children not counted). */
  cpuSeconds(): number {
    const stat = fs.readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }

  /** How often vigild's threads have been put to sleep and woken so far (voluntary context switches, summed). */
  wakeups(): number {
    let n = 0;
    const base = `/proc/${this.child.pid}/task`;
    for (const tid of fs.readdirSync(base)) {
      try {
        n += Number(/\nvoluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`${base}/${tid}/status`, 'utf8'))?.[1] ?? 0);
      } catch {
        // the thread ended meanwhile
      }
    }
    return n;
  }

  /** CPU seconds per thread name of vigild (/proc/PID/task/TID/stat), summed over same-named threads. */
  cpuSecondsByThread(): Record<string, number> {
    const out: Record<string, number> = {};
    const base = `/proc/${this.child.pid}/task`;
    for (const tid of fs.readdirSync(base)) {
      try {
        const stat = fs.readFileSync(`${base}/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100;
      } catch {
        // the thread ended meanwhile
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(t);
  }
}

/** Runs fn over items with at most `width` at a time. */
export async function inBatches<T>(items: T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
