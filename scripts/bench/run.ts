// Benchmark runner: `npm run bench` (after tsc) runs every scripts/bench/*.bench.ts (compiled
// to dist/scripts/bench/*.bench.js) and prints ONE JSON object: the environment and each
// benchmark's result keyed by its file name. Optional arguments filter by file name
// substring: `node dist/scripts/bench/run.js metrics`.
//
// Contract for a bench file: `export async function bench(): Promise<Record<string, unknown>>`
// returning JSON-able figures (use seconds or milliseconds in the key names, e.g. p50Ms).

import { readdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type BenchModule = { bench?: () => Promise<Record<string, unknown>> };

async function main(): Promise<number> {
  const here = dirname(fileURLToPath(import.meta.url));
  const filters = process.argv.slice(2);
  const files = readdirSync(here)
    .filter((f) => /\.bench\.(js|ts)$/.test(f) && !f.endsWith('.d.ts'))
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
    .sort();
  const results: Record<string, unknown> = {};
  let failed = 0;
  for (const file of files) {
    const name = file.replace(/\.bench\.(js|ts)$/, '');
    try {
      const mod = (await import(pathToFileURL(join(here, file)).href)) as BenchModule;
      if (typeof mod.bench !== 'function') throw new Error(`${file} does not export bench()`);
      results[name] = await mod.bench();
    } catch (err) {
      failed++;
      results[name] = { error: (err as Error).stack ?? String(err) };
    }
  }
  const report = {
    startedAt: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    loadavg1m: loadavg()[0],
    benchmarks: results,
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  },
);
