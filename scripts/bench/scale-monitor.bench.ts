// Monitoring at scale (issue: 1,000 resources at LKCHECKINTERVAL=2 keep their schedule, each
// resource checked every 2 s +- 10%, with vigild's own CPU at most a quarter of one core, checks
// spread over the interval, routine results logged at debug). A real vigild with N gen/app
// resources in service whose quickCheck program only appends "tag time" to a file; over a window
// the achieved intervals per resource, the spread of checks over time (per 100 ms bin), vigild's
// own CPU (/proc/PID/stat utime+stime, the check programs not counted) and its log lines are
// measured. Run: `npm run bench -- scale-monitor`; VIGIL_BENCH_SCALE_RESOURCES (default 1000),
// VIGIL_BENCH_SCALE_WINDOW_S (default 20), VIGIL_BENCH_SCALE_INTERVAL_S (default 2).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { percentile } from './cluster-procs.js';
import { inBatches, ScaleVigild, script } from './scale-vigild.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r2 = (v: number) => Math.round(v * 1000) / 1000;

export async function bench(): Promise<Record<string, unknown>> {
  const n = Number(process.env.VIGIL_BENCH_SCALE_RESOURCES ?? 1000);
  const windowS = Number(process.env.VIGIL_BENCH_SCALE_WINDOW_S ?? 20);
  const intervalS = Number(process.env.VIGIL_BENCH_SCALE_INTERVAL_S ?? 2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-bench-scale-monitor-'));
  const checks = path.join(dir, 'checks.log');
  const restore = script(path.join(dir, 'restore'), 'exit 0');
  const remove = script(path.join(dir, 'remove'), 'exit 0');
  // bash for $EPOCHREALTIME (a builtin: no extra program per check).
  const check = script(path.join(dir, 'check'), `echo "$VIGIL_TAG $EPOCHREALTIME" >> ${checks}`, '/bin/bash');
  const v = new ScaleVigild({
    dir,
    resources: n,
    info: () => ({ restore, remove, quickCheck: check }),
    config: { LKCHECKINTERVAL: intervalS },
    nodeArgs: process.env.VIGIL_BENCH_SCALE_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.VIGIL_BENCH_SCALE_CPU_PROF] : [],
  });
  try {
    await v.ready();
    const t0 = Date.now();
    await inBatches(
      Array.from({ length: n }, (_, i) => `app-${i}`),
      16,
      async (tag) => {
        const r = await v.call('in-service', { t: tag });
        if (r.exitCode !== 0) throw new Error(`in-service ${tag}: ${r.stderr}`);
      },
    );
    const inServiceS = (Date.now() - t0) / 1000;
    // Two intervals to settle into the schedule.
    await sleep(2 * intervalS * 1000);
    const logBytes0 = fs.statSync(v.logFile).size;
    const from = fs.statSync(checks).size;
    const cpu0 = v.cpuSeconds();
    const threads0 = v.cpuSecondsByThread();
    const w0 = Date.now();
    await sleep(windowS * 1000);
    const cpu1 = v.cpuSeconds();
    const threads1 = v.cpuSecondsByThread();
    const w1 = Date.now();
    const to = fs.statSync(checks).size;
    const logText = fs.readFileSync(v.logFile, 'utf8').slice(logBytes0);
    const fd = fs.openSync(checks, 'r');
    const buf = Buffer.alloc(to - from);
    fs.readSync(fd, buf, 0, buf.length, from);
    fs.closeSync(fd);
    const byTag = new Map<string, number[]>();
    const times: number[] = [];
    for (const line of buf.toString('utf8').split('\n')) {
      const [tag, t] = line.split(' ');
      if (!tag || !t) continue;
      const ms = Number(t) * 1000;
      times.push(ms);
      const l = byTag.get(tag);
      if (l) l.push(ms);
      else byTag.set(tag, [ms]);
    }
    const intervals: number[] = [];
    for (const l of byTag.values()) for (let k = 1; k < l.length; k++) intervals.push(l[k]! - l[k - 1]!);
    intervals.sort((a, b) => a - b);
    const target = intervalS * 1000;
    const within = intervals.filter((x) => Math.abs(x - target) <= target * 0.1).length;
    // Spread: checks started per 100 ms bin over the window (even spread: n / interval / 10).
    const bins = new Array<number>(Math.floor(((w1 - w0) / 100))).fill(0);
    for (const t of times) {
      const b = Math.floor((t - w0) / 100);
      if (b >= 0 && b < bins.length) bins[b]!++;
    }
    const sortedBins = [...bins].sort((a, b) => a - b);
    const logLines = logText.split('\n').filter(Boolean);
    return {
      resources: n,
      intervalS,
      windowS,
      loadavg1mAtEnd: os.loadavg()[0],
      inServiceAllS: r2(inServiceS),
      checksPerS: r2(times.length / ((w1 - w0) / 1000)),
      expectedChecksPerS: n / intervalS,
      resourcesChecked: byTag.size,
      intervalMs: {
        n: intervals.length,
        p1: r2(percentile(intervals, 1)),
        p50: r2(percentile(intervals, 50)),
        p99: r2(percentile(intervals, 99)),
        max: r2(intervals.at(-1) ?? NaN),
      },
      // The goal: every interval within target +- 10%.
      fractionWithin10Percent: r2(within / Math.max(1, intervals.length)),
      checksPer100msBin: { expected: n / intervalS / 10, min: sortedBins[0], p50: percentile(sortedBins, 50), p99: percentile(sortedBins, 99), max: sortedBins.at(-1) },
      // The goal: at most 0.25 (a quarter of one core), the check programs not counted.
      vigildCpuCores: r2((cpu1 - cpu0) / ((w1 - w0) / 1000)),
      vigildCpuMsPerCheck: r2(((cpu1 - cpu0) * 1000) / Math.max(1, times.length)),
      // Where that CPU went, by thread name (the event loop is 'node'; the addon's spawner
      // threads are 'vigil-launcher' and 'vigil-reaper').
      vigildCpuCoresByThread: Object.fromEntries(
        Object.entries(threads1)
          .map(([k, s1]) => [k, r2((s1 - (threads0[k] ?? 0)) / ((w1 - w0) / 1000))] as const)
          .filter(([, c]) => c > 0),
      ),
      logLinesPerS: r2(logLines.length / ((w1 - w0) / 1000)),
    };
  } finally {
    await v.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  bench().then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`), (e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = 1;
  });
}
