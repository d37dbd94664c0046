// Core benchmarks: `vigil` CLI start-up (--help, no daemon), a full CLI round trip (sys_list
// against a running vigild), and the latency of one durable LCD change (validate + journal
// append + fdatasync; lcd-changes.bench.ts compares 10 and 1,000 resources). Run with
// `npm run bench -- core`; figures in milliseconds.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lcd } from '../../src/lcd/lcd.js';
import { createLinuxPlatform } from '../../src/platform/linux/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const distRoot = path.resolve(here, '../..'); // dist/
const CLI = path.join(distRoot, 'src/cli/main.js');
const VIGILD = path.join(distRoot, 'src/daemon/main.js');

function stats(ms: number[]): { n: number; p50Ms: number; p95Ms: number; maxMs: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 100) / 100;
  return { n: s.length, p50Ms: at(0.5), p95Ms: at(0.95), maxMs: at(1) };
}

function timeRun(args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { env, stdio: 'ignore' });
  const dt = performance.now() - t0;
  if (r.status !== 0) throw new Error(`vigil ${args.join(' ')} exited ${r.status}`);
  return dt;
}

async function waitSocket(sock: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(sock, () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('vigild did not open its admin socket');
}

export async function bench(): Promise<Record<string, unknown>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-bench-core-'));
  const runs = 20;
  try {
    const help: number[] = [];
    for (let i = 0; i < runs; i++) help.push(timeRun(['--help'], process.env));

    const sock = path.join(dir, 'run', 'admin.sock');
    const conf = path.join(dir, 'vigil.conf');
    fs.writeFileSync(conf, `VIGIL_NODE_NAME=bench\nVIGIL_STATE_DIR=${dir}/state\nVIGIL_ADMIN_SOCKET=${sock}\nVIGIL_METRICS_ADDRESS=off\nVIGIL_LOG_LEVEL=warn\n`, { mode: 0o600 });
    const daemon = spawn(process.execPath, [VIGILD, '--config', conf], { stdio: 'ignore' });
    const roundTrip: number[] = [];
    try {
      await waitSocket(sock);
      const env = { ...process.env, VIGIL_ADMIN_SOCKET: sock };
      for (let i = 0; i < runs; i++) roundTrip.push(timeRun(['sys_list'], env));
    } finally {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
    }

    const lcd = Lcd.open({ dir: path.join(dir, 'lcd'), localSystem: 'bench', files: createLinuxPlatform().durableFiles });
    const writes: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await lcd.createInstance({ tag: `r${i}`, id: `/r/${i}`, app: 'gen', type: 'app' });
      writes.push(performance.now() - t0);
    }
    return {
      cliHelpStartup: stats(help),
      cliSysListRoundTrip: stats(roundTrip),
      lcdDurableCreateInstance: { ...stats(writes), recordsAtEnd: 201, fileBytes: fs.statSync(lcd.file).size },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
