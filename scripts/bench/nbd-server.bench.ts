// Benchmark: Vigil's NBD server against Debian's nbd-server, both on 127.0.0.1 exporting the
// same sparse 256 MiB file (one after the other, each in its own process, flush and FUA on).
// Measures sequential write and read throughput with nbdcopy (one connection, so both servers
// get the same client whatever multi-conn they advertise; the write includes nbdcopy's final
// flush), and 4 KiB random-write latency p50/p99 at queue depth 1 and 16 with Vigil's own
// transmission client. Prints each figure and the Vigil / nbd-server ratio (throughput: higher
// is better; latency and server CPU per GiB: lower is better). Needs nbd-server and nbdcopy (nbd-server, libnbd-bin).
// Run: `npm run bench nbd-server`.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../lib/free-port.js';
import { waitFor } from '../lib/wait.js';
import { negotiateClient } from '../../src/replication/nbd/client-handshake.js';
import { NbdTransmissionClient } from '../../src/replication/nbd/transmission-client.js';

const run = promisify(execFile);
const EXPORT_BYTES = 256 * 1024 * 1024;
const LAT_OPS_QD1 = 3000;
const LAT_OPS_QD16 = 12000;
const ROUNDS = 5;

interface Endpoint {
  port: number;
  exportName: string;
  /** The server's process: its CPU time (with reaped children: nbd-server forks one per client). */
  pid: number;
  stop(): Promise<void>;
}

/** CPU milliseconds of `pid` and its reaped children (utime, stime, cutime, cstime at 100 Hz). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime..cstime are fields 14..17.
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) * 10;
}

/** Runs `op` and returns the server's CPU milliseconds it cost (children reaped by then). */
async function serverCpuMs(ep: Endpoint, op: () => Promise<unknown>): Promise<number> {
  const before = cpuMs(ep.pid);
  await op();
  await new Promise((r) => setTimeout(r, 200)); // let nbd-server reap the connection's child
  return cpuMs(ep.pid) - before;
}

interface ServerFigures {
  /** Server CPU per GiB moved: steadier than throughput on a loaded host. */
  seqWriteCpuMsPerGiB: number;
  seqReadCpuMsPerGiB: number;
  /** Median of the rounds. */
  seqWriteMiBps: number;
  seqReadMiBps: number;
  /** Best round: on a shared, loaded host the least disturbed run says most about the server. */
  seqWriteBestMiBps: number;
  seqReadBestMiBps: number;
  randWrite4kQd1: LatencyFigures;
  randWrite4kQd16: LatencyFigures;
}

interface LatencyFigures {
  p50Ms: number;
  p99Ms: number;
  iops: number;
}

export async function bench(): Promise<Record<string, unknown>> {
  const missing = ['nbd-server', 'nbdcopy'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length > 0) throw new Error(`nbd-server benchmark cannot run here: missing ${missing.join(', ')} (Debian packages nbd-server, libnbd-bin)`);
  const dir = mkdtempSync(join(tmpdir(), 'vigil-nbd-bench-'));
  try {
    const file = join(dir, 'export.img');
    writeFileSync(file, '');
    truncateSync(file, EXPORT_BYTES);
    const source = join(dir, 'source.bin');
    writeFileSync(source, randomBytes(EXPORT_BYTES));

    // Both servers run at once (never used at the same time) and every measurement alternates
    // between them, so load from other processes on the host drifts over both alike.
    const debian = await startDebianServer(dir, file);
    let vigil: Endpoint | undefined;
    let figures: Record<'vigil' | 'debian', ServerFigures>;
    try {
      vigil = await startVigilServer(file);
      figures = await measureAlternating({ vigil, debian }, source);
    } finally {
      await vigil?.stop();
      await debian.stop();
    }
    const { vigil: v, debian: d } = figures;
    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    return {
      exportBytes: EXPORT_BYTES,
      host: '127.0.0.1',
      nbdcopy: 'one connection, default requests in flight; write ends with --flush',
      rounds: ROUNDS,
      vigil: v,
      debianNbdServer: d,
      ratioVigilOverDebian: {
        seqWrite: ratio(v.seqWriteMiBps, d.seqWriteMiBps),
        seqRead: ratio(v.seqReadMiBps, d.seqReadMiBps),
        seqWriteBest: ratio(v.seqWriteBestMiBps, d.seqWriteBestMiBps),
        seqReadBest: ratio(v.seqReadBestMiBps, d.seqReadBestMiBps),
        seqWriteCpuPerGiB: ratio(v.seqWriteCpuMsPerGiB, d.seqWriteCpuMsPerGiB),
        seqReadCpuPerGiB: ratio(v.seqReadCpuMsPerGiB, d.seqReadCpuMsPerGiB),
        qd1P50Latency: ratio(v.randWrite4kQd1.p50Ms, d.randWrite4kQd1.p50Ms),
        qd1P99Latency: ratio(v.randWrite4kQd1.p99Ms, d.randWrite4kQd1.p99Ms),
        qd16P50Latency: ratio(v.randWrite4kQd16.p50Ms, d.randWrite4kQd16.p50Ms),
        qd16P99Latency: ratio(v.randWrite4kQd16.p99Ms, d.randWrite4kQd16.p99Ms),
        qd16Iops: ratio(v.randWrite4kQd16.iops, d.randWrite4kQd16.iops),
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureAlternating(servers: Record<'vigil' | 'debian', Endpoint>, source: string): Promise<Record<'vigil' | 'debian', ServerFigures>> {
  const names = ['debian', 'vigil'] as const;
  const uri = (ep: Endpoint) => `nbd://127.0.0.1:${ep.port}/${encodeURIComponent(ep.exportName)}`;
  const acc = Object.fromEntries(names.map((n) => [n, { writes: [] as number[], reads: [] as number[], qd1: [] as number[], qd16: [] as number[], qd1S: 0, qd16S: 0, writeCpu: 0, readCpu: 0 }])) as Record<
    'vigil' | 'debian',
    { writes: number[]; reads: number[]; qd1: number[]; qd16: number[]; qd1S: number; qd16S: number; writeCpu: number; readCpu: number }
  >;
  for (let round = 0; round < ROUNDS; round++) {
    for (const n of names) {
      acc[n].writeCpu += await serverCpuMs(servers[n], async () => acc[n].writes.push(await timedMiBps(['--connections=1', '--flush', source, uri(servers[n])])));
    }
    for (const n of names) {
      acc[n].readCpu += await serverCpuMs(servers[n], async () => acc[n].reads.push(await timedMiBps(['--connections=1', uri(servers[n]), 'null:'])));
    }
    for (const n of names) acc[n].qd1S += await randomWriteLatency(servers[n], 1, LAT_OPS_QD1 / ROUNDS, acc[n].qd1);
    for (const n of names) acc[n].qd16S += await randomWriteLatency(servers[n], 16, LAT_OPS_QD16 / ROUNDS, acc[n].qd16);
  }
  const out = {} as Record<'vigil' | 'debian', ServerFigures>;
  for (const n of names) {
    const a = acc[n];
    const gib = (ROUNDS * EXPORT_BYTES) / 2 ** 30;
    out[n] = {
      seqWriteCpuMsPerGiB: Math.round(a.writeCpu / gib),
      seqReadCpuMsPerGiB: Math.round(a.readCpu / gib),
      seqWriteMiBps: median(a.writes),
      seqReadMiBps: median(a.reads),
      seqWriteBestMiBps: Math.max(...a.writes),
      seqReadBestMiBps: Math.max(...a.reads),
      randWrite4kQd1: latencyFigures(a.qd1, a.qd1S),
      randWrite4kQd16: latencyFigures(a.qd16, a.qd16S),
    };
  }
  return out;
}

function latencyFigures(latencies: number[], seconds: number): LatencyFigures {
  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 1000) / 1000;
  return { p50Ms: pct(50), p99Ms: pct(99), iops: Math.round(sorted.length / seconds) };
}

async function timedMiBps(args: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  await run('nbdcopy', args, { maxBuffer: 1 << 20 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return Math.round((EXPORT_BYTES / (1024 * 1024) / s) * 10) / 10;
}

/** `ops` 4 KiB writes at random 4 KiB-aligned offsets with `depth` in flight; appends per-op latencies (ms), returns seconds. */
async function randomWriteLatency(ep: Endpoint, depth: number, ops: number, latencies: number[]): Promise<number> {
  const socket = connect({ host: '127.0.0.1', port: ep.port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  await negotiateClient(socket, { exportName: ep.exportName });
  const client = new NbdTransmissionClient(socket);
  const block = randomBytes(4096);
  const blocks = EXPORT_BYTES / 4096;
  let issued = 0;
  const t0 = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (issued < ops) {
      issued++;
      const start = process.hrtime.bigint();
      await client.write(randomInt(blocks) * 4096, block);
      latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: depth }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await client.disconnect();
  return seconds;
}

async function startVigilServer(file: string): Promise<Endpoint> {
  const here = dirname(fileURLToPath(import.meta.url));
  const js = join(here, 'nbd-server-proc.js');
  const argv = existsSync(js) ? [js] : ['--import', 'tsx', join(here, 'nbd-server-proc.ts')];
  const secret = randomBytes(32).toString('hex');
  const child = spawn(process.execPath, [...argv, '127.0.0.1', file, secret, 'bench', '1', 'bench-client'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await firstLine(child).catch((err: Error) => {
    throw new Error(`${err.message}: ${stderr}`);
  });
  const { port, exportName } = JSON.parse(line) as { port: number; exportName: string };
  return {
    port,
    exportName,
    pid: child.pid!,
    stop: async () => {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await exited;
      // The server prints its counters on SIGTERM: proof the requests reached it.
      const counters = JSON.parse(stderr.trim().split('\n').pop() ?? '{}') as { transmission?: { writes: number } };
      if (!counters.transmission || counters.transmission.writes < LAT_OPS_QD1 + LAT_OPS_QD16) {
        throw new Error(`Vigil NBD server counted fewer writes than the benchmark sent: ${stderr}`);
      }
    },
  };
}

async function startDebianServer(dir: string, file: string): Promise<Endpoint> {
  const port = await freePort();
  const conf = join(dir, 'nbd-server.conf');
  const pidFile = join(dir, 'nbd-server.pid');
  writeFileSync(
    conf,
    ['[generic]', '  user = root', '  group = root', '  listenaddr = 127.0.0.1', `  port = ${port}`, '[bench]', `  exportname = ${file}`, '  flush = true', '  fua = true', '  trim = true', ''].join('\n'),
  );
  await run('nbd-server', ['-C', conf, '-p', pidFile]);
  await waitForPort(port);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return {
    port,
    exportName: 'bench',
    pid,
    stop: async () => {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`Vigil NBD server process exited with ${code} before listening`)));
  });
}

function waitForPort(port: number): Promise<void> {
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  return waitFor(accepts, { deadlineMs: 5_000, intervalMs: 50, what: `nbd-server listening on 127.0.0.1:${port}` });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
