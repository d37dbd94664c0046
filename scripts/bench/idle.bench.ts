// What an idle agent costs (`npm run bench -- idle`): a real vigild with one gen/app resource in
// service (its check every LKCHECKINTERVAL = 5 s, heartbeat settings 1 s x 3), left alone for a
// window; its own CPU (utime + stime of vigild, the check programs not counted) as % of one core,
// and its wake-ups per second (voluntary context switches of all its threads: each is a sleep
// the kernel ended, a timer or I/O). Once without the metrics endpoint (VIGIL_METRICS_ADDRESS=off)
// and once with it on loopback, whose event-loop delay histogram samples every 10 ms. On an
// emulated or small machine every wake-up is dear, which is where the agent's idle CPU went.
// VIGIL_BENCH_IDLE_WINDOW_S (default 20); VIGIL_BENCH_VIGILD compares another build.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ScaleVigild, script } from './scale-vigild.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function measure(metricsAddress: string, windowS: number): Promise<{ cpuPct: number; wakeupsPerS: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-bench-idle-'));
  const ok = script(path.join(dir, 'ok'), 'exit 0');
  const v = new ScaleVigild({
    dir,
    resources: 1,
    info: () => ({ restore: ok, remove: ok, quickCheck: ok }),
    config: { LCMHBEATTIME: 1, LCMNUMHBEATS: 3, LKCHECKINTERVAL: 5, VIGIL_METRICS_ADDRESS: metricsAddress },
  });
  try {
    await v.ready();
    const r = await v.call('in-service', { t: 'app-0' });
    if (r.exitCode !== 0) throw new Error(`in-service app-0: ${r.stderr}`);
    await sleep(3_000);
    const cpu0 = v.cpuSeconds();
    const wake0 = v.wakeups();
    const t0 = Date.now();
    await sleep(windowS * 1000);
    const s = (Date.now() - t0) / 1000;
    return { cpuPct: Math.round((10_000 * (v.cpuSeconds() - cpu0)) / s) / 100, wakeupsPerS: Math.round((10 * (v.wakeups() - wake0)) / s) / 10 };
  } finally {
    await v.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function bench(): Promise<Record<string, unknown>> {
  const windowS = Number(process.env.VIGIL_BENCH_IDLE_WINDOW_S ?? 20);
  return {
    windowS,
    daemon: process.env.VIGIL_BENCH_VIGILD ?? 'this build',
    metricsOff: await measure('off', windowS),
    metricsOn: await measure(`127.0.0.1:${await freePort()}`, windowS),
  };
}
