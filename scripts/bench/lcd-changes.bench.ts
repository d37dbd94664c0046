// LCD change latency at 10 and at 1,000 resources, in one run (issue: a configuration change
// must cost about the same however large the database is; p99 at 1,000 at most 1.5x p99 at 10).
// For each size: a database of that many gen/app resources is written as lcd.json, opened with
// the real durable writer (a native thread per write, fsync on this host's disk), warmed up, then
// timed: `create` (a new resource; each one followed by an untimed removal of the one created
// before, so the size stays put) and `change` (the info of an existing one), each from the call
// to the acknowledgement (validated and durable). The sizes are measured in alternating rounds so
// that both see the same load. The same two kinds are then timed end to end through real vigild
// processes' admin sockets (ins_create, ins_setas), where every part of the daemon that follows
// LCD changes adds its own cost. Run: `npm run bench -- lcd`.
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
const SAMPLES = Number(process.env.VIGIL_BENCH_LCD_SAMPLES ?? 1000);
const VIGILD_SAMPLES = Math.ceil(SAMPLES / 4 / 10) * 10;
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

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** One database size under test: how to make a create and a change, and the times taken. */
interface Subject {
  n: number;
  create(k: number): Promise<number>;
  change(k: number): Promise<number>;
  creates: number[];
  changes: number[];
}

/**
 * Warm-up, then rounds that alternate between the sizes, so that both see the same load on a
 * shared machine (a p99 is the few slowest samples: noise must not fall on one size only).
 */
async function runInterleaved(subjects: Subject[], samples: number): Promise<void> {
  for (const s of subjects) {
    for (let k = 0; k < WARMUP; k++) {
      await s.create(k);
      await s.change(k);
    }
  }
  const rounds = 10;
  const perRound = Math.ceil(samples / rounds);
  for (let r = 0; r < rounds; r++) {
    for (const s of subjects) {
      for (let k = r * perRound; k < (r + 1) * perRound; k++) {
        s.creates.push(await s.create(WARMUP + k));
        s.changes.push(await s.change(WARMUP + k));
      }
    }
  }
}

function report(subjects: Subject[]): Record<string, unknown> {
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  const [small, large] = subjects.map((s) => ({ resources: s.n, create: summary(s.creates), change: summary(s.changes) }));
  return {
    at10: small,
    at1000: large,
    // The goal: at most 1.5.
    p99RatioCreate1000To10: ratio(large!.create.p99Ms, small!.create.p99Ms),
    p99RatioChange1000To10: ratio(large!.change.p99Ms, small!.change.p99Ms),
  };
}

/** The LCD alone, with the real durable writer, in `dir`. */
function lcdSubject(dir: string, n: number): Subject & { lcd: Lcd } {
  fs.writeFileSync(path.join(dir, 'lcd.json'), JSON.stringify(documentWith(n), null, 1) + '\n', { mode: 0o600 });
  const lcd = Lcd.open({ dir, localSystem: 'bench', files: createLinuxPlatform().durableFiles });
  let previous: string | undefined;
  return {
    n,
    lcd,
    creates: [],
    changes: [],
    async create(k) {
      const tag = `new-${k}`;
      const ms = await timed(() => lcd.createInstance({ tag, id: `/srv/new/${tag}`, app: 'gen', type: 'app', info: 'x'.repeat(180) }));
      // Untimed: remove the one created before, so that the size stays put.
      if (previous) await lcd.removeInstances([{ system: 'bench', tag: previous }]);
      previous = tag;
      return ms;
    },
    change: (k) => timed(() => lcd.setInstanceInfo(`app-${k % n}`, `changed ${k}`.padEnd(180, '.'))),
  };
}

/** A vigild whose LCD starts with `n` resources, driven over its admin socket. */
async function vigildSubject(dir: string, n: number): Promise<Subject & { stop(): Promise<void> }> {
  const state = path.join(dir, 'state');
  fs.mkdirSync(state, { mode: 0o700 });
  fs.writeFileSync(path.join(state, 'lcd.json'), JSON.stringify(documentWith(n)) + '\n', { mode: 0o600 });
  const sock = path.join(dir, 'run', 'admin.sock');
  fs.mkdirSync(path.dirname(sock), { mode: 0o700 });
  const conf = path.join(dir, 'vigil.conf');
  fs.writeFileSync(conf, `VIGIL_NODE_NAME=bench\nVIGIL_STATE_DIR=${state}\nVIGIL_ADMIN_SOCKET=${sock}\nVIGIL_METRICS_ADDRESS=off\nVIGIL_LOG_LEVEL=warn\nVIGIL_KEY_FILE=${dir}/cluster.key\n`);
  const daemon = spawn(process.execPath, [VIGILD, '--config', conf], { stdio: 'ignore' });
  const exited = new Promise((r) => daemon.once('exit', r));
  let id = 1;
  const call = async (command: string, options: Record<string, string>) => {
    const t0 = performance.now();
    const r = await sendAdminRequest(sock, { id: id++, command, options, args: [] });
    if (r.exitCode !== 0) throw new Error(`${command}: ${r.stderr}`);
    return performance.now() - t0;
  };
  const stop = async () => {
    daemon.kill('SIGTERM');
    await exited;
  };
  try {
    for (let i = 0; ; i++) {
      if (i > 400) throw new Error(`vigild with ${n} resources did not start`);
      if (fs.existsSync(sock) && (await sendAdminRequest(sock, { id: id++, command: 'sys_list', options: {}, args: [] })).exitCode === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    n,
    creates: [],
    changes: [],
    async create(k) {
      const ms = await call('ins_create', { a: 'gen', r: 'app', t: `new-${k}`, i: `/srv/new/${k}` });
      await call('ins_remove', { t: `new-${k}` }); // untimed: the size stays put
      return ms;
    },
    change: (k) => call('ins_setas', { t: `app-${k % n}`, s: k % 2 ? 'automatic' : 'intelligent' }),
    stop,
  };
}

export async function bench(): Promise<Record<string, unknown>> {
  const root = fs.mkdtempSync(path.join(process.env.VIGIL_BENCH_LCD_DIR ?? os.tmpdir(), 'vigil-bench-lcd-'));
  try {
    const lcds = SIZES.map((n) => lcdSubject(fs.mkdtempSync(path.join(root, `lcd-${n}-`)), n));
    await runInterleaved(lcds, SAMPLES);
    for (const s of lcds) {
      await s.lcd.idle();
      s.lcd.close();
    }
    const vigilds: Awaited<ReturnType<typeof vigildSubject>>[] = [];
    let throughVigild: Record<string, unknown>;
    try {
      for (const n of SIZES) vigilds.push(await vigildSubject(fs.mkdtempSync(path.join(root, `vigild-${n}-`)), n));
      await runInterleaved(vigilds, VIGILD_SAMPLES);
      throughVigild = report(vigilds);
    } finally {
      for (const v of vigilds) await v.stop();
    }
    return {
      dir: root,
      fsTypeMagic: `0x${fs.statfsSync(root).type.toString(16)}`,
      samplesPerKind: SAMPLES,
      ...report(lcds),
      throughVigild: { samplesPerKind: VIGILD_SAMPLES, ...throughVigild },
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
