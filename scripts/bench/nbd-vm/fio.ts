// fio for the VM NBD benchmark: the command line of a 4 KiB random-write latency job on a block
// device (libaio, O_DIRECT, a fixed queue depth, a fixed number of requests in a fixed region) and
// the reading of its JSON result. fio rather than a client of our own because the figure that
// matters is the one the kernel's NBD client sees, which is the path md's writes take; fio
// reports percentiles of every request's total latency (submission to completion) from its own
// histogram.

export interface RandWriteJob {
  device: string;
  /** Requests in flight (1 or 16 in the benchmark). */
  depth: number;
  /** Requests in all. */
  ops: number;
  /** The offsets are 4 KiB-aligned and drawn from [0, regionBytes). */
  regionBytes: number;
}

export interface LatencyFigures {
  p50Ms: number;
  p99Ms: number;
  iops: number;
  ops: number;
}

export function randWriteArgs(job: RandWriteJob): string[] {
  if (!Number.isInteger(job.depth) || job.depth < 1) throw new Error(`fio: queue depth must be a positive integer, got ${job.depth}`);
  if (!Number.isInteger(job.ops) || job.ops < 1) throw new Error(`fio: request count must be a positive integer, got ${job.ops}`);
  if (job.regionBytes < 4096 || job.regionBytes % 4096 !== 0) throw new Error(`fio: region must be a positive multiple of 4 KiB, got ${job.regionBytes}`);
  return [
    `--name=randwrite-qd${job.depth}`,
    `--filename=${job.device}`,
    '--ioengine=libaio',
    '--direct=1',
    '--rw=randwrite',
    '--bs=4k',
    `--iodepth=${job.depth}`,
    // Submit and reap one at a time, so the queue really stays at `depth` (fio's defaults batch).
    '--iodepth_batch_submit=1',
    '--iodepth_batch_complete_min=1',
    `--size=${job.regionBytes}`,
    `--io_size=${job.ops * 4096}`,
    '--randrepeat=0',
    '--norandommap',
    // Percentiles of the total latency (lat), not only of the completion part (clat).
    '--lat_percentiles=1',
    '--percentile_list=50:99',
    '--output-format=json',
  ];
}

interface FioJson {
  jobs?: {
    error?: number;
    write?: {
      total_ios?: number;
      iops?: number;
      lat_ns?: { percentile?: Record<string, number> };
    };
  }[];
}

/**
 * The figures of the single job in fio's JSON output. fio may print notes before the JSON on
 * the same stream, so the object is taken from the first `{` on. Throws on a job error, on no
 * completed writes or on missing percentiles: a figure that is not there must not read as 0.
 */
export function parseRandWrite(output: string): LatencyFigures {
  const start = output.indexOf('{');
  if (start < 0) throw new Error(`fio: no JSON in its output: ${output.slice(0, 200)}`);
  const parsed = JSON.parse(output.slice(start)) as FioJson;
  const job = parsed.jobs?.[0];
  if (!job || parsed.jobs!.length !== 1) throw new Error(`fio: expected one job, got ${parsed.jobs?.length ?? 0}`);
  if (job.error) throw new Error(`fio: the job failed with error ${job.error}`);
  const w = job.write;
  const ops = w?.total_ios ?? 0;
  if (!w || ops < 1) throw new Error('fio: the job completed no writes');
  const pct = w.lat_ns?.percentile ?? {};
  const p50 = pct['50.000000'];
  const p99 = pct['99.000000'];
  if (p50 === undefined || p99 === undefined) throw new Error(`fio: no 50th/99th latency percentile (lat_ns) (have ${Object.keys(pct).join(', ') || 'none'})`);
  return { p50Ms: round3(p50 / 1e6), p99Ms: round3(p99 / 1e6), iops: Math.round(w.iops ?? 0), ops };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
