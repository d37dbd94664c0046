// LCD change latency at 10 and at 1,000 resources, in one run (issue: a configuration change
// must cost about the same however large the database is; p99 at 1,000 at most 1.5x p99 at 10).
// For each size: a database of that many gen/app resources is written as lcd.json, opened with
// the real durable writer (a native thread per write, fsync on this host's disk), warmed up, then
// timed: `create` (ins_create of a new resource; each one followed by an untimed removal of the
// oldest extra one, so the size stays put) and `change` (ins_setinfo of an existing one), each
// from the call to the acknowledgement (validated and durable). The same two kinds are then
// timed end to end through a real vigild's admin socket (ins_create, ins_setas), where every
// part of the daemon that follows LCD changes adds its own cost. Run: `npm run bench -- lcd`.
// VIGIL_BENCH_LCD_DIR picks the directory (default: the OS temp dir); its file system type is
// reported because the cost of fsync depends on it.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendAdminRequest } from '../../src/cli/admin-client.js';
import { Lcd } from '../../src/lcd/lcd.js';
import { LCD_SCHEMA_VERSION, ResourceInstance, System, type LcdDocument } from '../../src/lcd/schema.js';
import { createLinuxPlatform } from '../../src/platform/linux/index.js';
import { percentile } from './cluster-procs.js';

const SIZES = [10, 1000] as const;
const VIGILD = path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), 'src/daemon/main.js');
const SAMPLES = Number(process.env.VIGIL_BENCH_LCD_SAMPLES ?? 300);
const WARMUP = 20;

/** A database of `n` resources shaped like real ones (ids, info text), about 400 bytes each on disk. */
function documentWith(n: number): LcdDocument {
  const instances = Array.from({ length: n }, (_, i) =>
    ResourceInstance.parse({
      system: 'bench',
      tag: `app-${i}`,
      id: `/srv/app/${i}/service-${i}`,
      app: 'gen',
      type: 'app',
      info: `restart=/opt/app/${i}/bin/restart remove=/opt/app/${i}/bin/remove quickCheck=/opt/app/${i}/bin/check`.padEnd(180, '.'),
    }),
  );
  return {
    version: LCD_SCHEMA_VERSION,
    generation: 1,
    localSystem: 'bench',
    systems: [System.parse({ name: 'bench', state: 'ALIVE' })],
    commPaths: [],
    instances,
    dependencies: [],
    equivalencies: [],
  };
}

function summary(ms: number[]): { p50Ms: number; p99Ms: number; maxMs: number } {
  const s = [...ms].sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 100) / 100;
  return { p50Ms: r(percentile(s, 50)), p99Ms: r(percentile(s, 99)), maxMs: r(s.at(-1)!) };
}

async function throughVigild(root: string, ratio: (a: number, b: number) => number): Promise<Record<string, unknown>> {
  const small = (await measureThroughVigild(root, 10)) as { create: { p99Ms: number }; change: { p99Ms: number } };
  const large = (await measureThroughVigild(root, 1000)) as { create: { p99Ms: number }; change: { p99Ms: number } };
  return {
    at10: small,
    at1000: large,
    p99RatioCreate1000To10: ratio(large.create.p99Ms, small.create.p99Ms),
    p99RatioChange1000To10: ratio(large.change.p99Ms, small.change.p99Ms),
  };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function measure(root: string, n: number): Promise<Record<string, unknown>> {
  const dir = fs.mkdtempSync(path.join(root, `at-${n}-`));
  fs.writeFileSync(path.join(dir, 'lcd.json'), JSON.stringify(documentWith(n), null, 1) + '\n', { mode: 0o600 });
  const lcd = Lcd.open({ dir, localSystem: 'bench', files: createLinuxPlatform().durableFiles });
  let next = 0;
  const extra: string[] = [];
  const create = async () => {
    const tag = `new-${next++}`;
    const ms = await timed(() => lcd.createInstance({ tag, id: `/srv/new/${tag}`, app: 'gen', type: 'app', info: 'x'.repeat(180) }));
    extra.push(tag);
    if (extra.length > 1) await lcd.removeInstances([{ system: 'bench', tag: extra.shift()! }]);
    return ms;
  };
  const change = (k: number) => timed(() => lcd.setInstanceInfo(`app-${k % n}`, `changed ${k}`.padEnd(180, '.')));
  for (let k = 0; k < WARMUP; k++) {
    await create();
    await change(k);
  }
  const creates: number[] = [];
  const changes: number[] = [];
  for (let k = 0; k < SAMPLES; k++) {
    creates.push(await create());
    changes.push(await change(k));
  }
  await lcd.idle();
  const bytes = fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
  const result = { resources: lcd.instances().length, create: summary(creates), change: summary(changes), stateDirBytes: bytes };
  (lcd as { close?: () => void }).close?.();
  fs.rmSync(dir, { recursive: true, force: true });
  return result;
}

/** ins_create / ins_setas through a vigild whose LCD starts with `n` resources. */
async function measureThroughVigild(root: string, n: number): Promise<Record<string, unknown>> {
  const dir = fs.mkdtempSync(path.join(root, `vigild-${n}-`));
  const state = path.join(dir, 'state');
  fs.mkdirSync(state, { mode: 0o700 });
  fs.writeFileSync(path.join(state, 'lcd.json'), JSON.stringify(documentWith(n)) + '\n', { mode: 0o600 });
  const sock = path.join(dir, 'run', 'admin.sock');
  fs.mkdirSync(path.dirname(sock), { mode: 0o700 });
  const conf = path.join(dir, 'vigil.conf');
  fs.writeFileSync(conf, `VIGIL_NODE_NAME=bench\nVIGIL_STATE_DIR=${state}\nVIGIL_ADMIN_SOCKET=${sock}\nVIGIL_METRICS_ADDRESS=off\nVIGIL_LOG_LEVEL=warn\nVIGIL_KEY_FILE=${dir}/cluster.key\n`);
  const daemon = spawn(process.execPath, [VIGILD, '--config', conf], { stdio: 'ignore' });
  let id = 1;
  const call = async (command: string, options: Record<string, string>) => {
    const t0 = performance.now();
    const r = await sendAdminRequest(sock, { id: id++, command, options, args: [] });
    if (r.exitCode !== 0) throw new Error(`${command}: ${r.stderr}`);
    return performance.now() - t0;
  };
  try {
    for (let i = 0; ; i++) {
      if (i > 400) throw new Error('vigild did not start');
      if (fs.existsSync(sock) && (await sendAdminRequest(sock, { id: id++, command: 'sys_list', options: {}, args: [] })).exitCode === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const creates: number[] = [];
    const changes: number[] = [];
    const samples = Math.ceil(SAMPLES / 2);
    for (let k = 0; k < WARMUP + samples; k++) {
      const created = await call('ins_create', { a: 'gen', r: 'app', t: `new-${k}`, i: `/srv/new/${k}` });
      await call('ins_remove', { t: `new-${k}` });
      const changed = await call('ins_setas', { t: `app-${k % n}`, s: k % 2 ? 'automatic' : 'intelligent' });
      if (k >= WARMUP) {
        creates.push(created);
        changes.push(changed);
      }
    }
    return { resources: n, create: summary(creates), change: summary(changes) };
  } finally {
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
  }
}

export async function bench(): Promise<Record<string, unknown>> {
  const root = fs.mkdtempSync(path.join(process.env.VIGIL_BENCH_LCD_DIR ?? os.tmpdir(), 'vigil-bench-lcd-'));
  try {
    const at: Record<number, Awaited<ReturnType<typeof measure>>> = {};
    for (const n of SIZES) at[n] = await measure(root, n);
    const small = at[10] as { create: { p99Ms: number }; change: { p99Ms: number } };
    const large = at[1000] as { create: { p99Ms: number }; change: { p99Ms: number } };
    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    return {
      dir: root,
      fsTypeMagic: `0x${fs.statfsSync(root).type.toString(16)}`,
      samplesPerKind: SAMPLES,
      at10: at[10],
      at1000: at[1000],
      // The goal: at most 1.5.
      p99RatioCreate1000To10: ratio(large.create.p99Ms, small.create.p99Ms),
      p99RatioChange1000To10: ratio(large.change.p99Ms, small.change.p99Ms),
      throughVigild: await throughVigild(root, ratio),
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
