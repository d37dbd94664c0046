// The VM NBD benchmarks' pure parts: fio's command line and JSON result (a misread percentile
// would publish a wrong latency ratio), the guest-timed throughput and the round summaries and
// ratios that become the published figures.
import { describe, expect, it } from 'vitest';
import { parseRandWrite, randWriteArgs } from '../../../scripts/bench/nbd-vm/fio.js';
import { lastLineNs, median, mibPerS, ratio, timedShell } from '../../../scripts/bench/nbd-vm/stats.js';
import { treeCpuMs } from '../../../scripts/bench/nbd-vm/proc-cpu.js';

const fioJson = (write: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ 'fio version': 'fio-3.33', jobs: [{ jobname: 'randwrite-qd16', error: 0, write, ...extra }] }, null, 2);

describe('nbd-server-vm benchmark: fio', () => {
  it('builds a 4 KiB random-write job at the given depth, count and region', () => {
    const args = randWriteArgs({ device: '/dev/nbd0', depth: 16, ops: 4000, regionBytes: 256 * 2 ** 20 });
    expect(args).toContain('--filename=/dev/nbd0');
    expect(args).toContain('--iodepth=16');
    expect(args).toContain('--bs=4k');
    expect(args).toContain('--direct=1');
    expect(args).toContain(`--size=${256 * 2 ** 20}`);
    expect(args).toContain(`--io_size=${4000 * 4096}`);
    expect(args).toContain('--lat_percentiles=1');
    expect(args).toContain('--output-format=json');
  });

  it('refuses a depth, count or region that would not be the job asked for', () => {
    expect(() => randWriteArgs({ device: '/dev/nbd0', depth: 0, ops: 1, regionBytes: 4096 })).toThrow(/depth/);
    expect(() => randWriteArgs({ device: '/dev/nbd0', depth: 1, ops: 1.5, regionBytes: 4096 })).toThrow(/count/);
    expect(() => randWriteArgs({ device: '/dev/nbd0', depth: 1, ops: 1, regionBytes: 6000 })).toThrow(/4 KiB/);
  });

  it('reads p50/p99 of the total latency in ms, IOPS and the request count, after notes fio printed first', () => {
    const out =
      'note: both iodepth >= 1 and synchronous I/O engine are selected\n' +
      fioJson({
        total_ios: 4000,
        iops: 812.6,
        clat_ns: { percentile: { '50.000000': 1_000_000, '99.000000': 2_000_000 } },
        lat_ns: { percentile: { '50.000000': 1_234_567, '99.000000': 9_876_543 } },
      });
    expect(parseRandWrite(out)).toEqual({ p50Ms: 1.235, p99Ms: 9.877, iops: 813, ops: 4000 });
  });

  it('fails rather than reading a missing figure as zero', () => {
    expect(() => parseRandWrite('fio: unable to open /dev/nbd0')).toThrow(/no JSON/);
    expect(() => parseRandWrite(fioJson({ total_ios: 10, iops: 1, lat_ns: { percentile: { '50.000000': 1 } } }))).toThrow(/percentile/);
    expect(() => parseRandWrite(fioJson({ total_ios: 0, iops: 0, lat_ns: { percentile: { '50.000000': 1, '99.000000': 2 } } }))).toThrow(/no writes/);
    expect(() => parseRandWrite(fioJson({ total_ios: 5, lat_ns: { percentile: { '50.000000': 1, '99.000000': 2 } } }, { error: 5 }))).toThrow(/error 5/);
    expect(() => parseRandWrite(JSON.stringify({ jobs: [] }))).toThrow(/one job/);
  });
});

describe('nbd-server-vm benchmark: throughput, summaries, ratios', () => {
  it('turns bytes and guest nanoseconds into MiB/s', () => {
    expect(mibPerS(256 * 2 ** 20, 8e9)).toBe(32);
    expect(mibPerS(2 ** 20, 3e9)).toBe(0.3);
    expect(() => mibPerS(1, 0)).toThrow(/positive/);
  });

  it('takes the elapsed time from the last line the timed shell printed', () => {
    expect(timedShell('dd if=/dev/zero of=/dev/null count=1')).toMatch(/^t0=\$\(date \+%s%N\) && dd .* && echo \$\(\(t1 - t0\)\)$/);
    expect(lastLineNs('some dd note\n8123456789\n')).toBe(8123456789);
    expect(() => lastLineNs('dd: error writing\n')).toThrow(/nanoseconds/);
  });

  it('medians odd and even counts, and refuses none', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([10, 30])).toBe(20);
    expect(median([5])).toBe(5);
    expect(() => median([])).toThrow();
  });

  it('rounds ratios to 2 decimals, small ones to 4', () => {
    expect(ratio(30, 40)).toBe(0.75);
    expect(ratio(50, 30)).toBe(1.67);
    expect(ratio(1.23, 60)).toBe(0.0205);
    expect(() => ratio(1, 0)).toThrow(/positive/);
  });
});

describe('nbd-server-vm benchmark: server CPU from /proc', () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime ...
  const stat = (pid: number, comm: string, ppid: number, utime: number, stime: number, cutime: number, cstime: number) =>
    `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 100 0 0 0 ${utime} ${stime} ${cutime} ${cstime} 20 0 1 0 500 1000 100`;

  it('adds the server, its reaped children and its live connection children, not other processes', () => {
    const lines = [
      stat(1, 'init', 0, 500, 500, 9000, 9000),
      stat(200, 'nbd-server', 1, 1, 2, 30, 40),
      stat(201, 'nbd-server', 200, 100, 250, 0, 0),
      stat(202, 'fio', 150, 700, 700, 0, 0),
      stat(203, 'odd name) x', 201, 5, 5, 0, 0),
    ].join('\n');
    expect(treeCpuMs(lines, 200)).toBe((1 + 2 + 30 + 40 + 100 + 250) * 10);
    expect(treeCpuMs(lines, 203)).toBe(100);
  });

  it('fails when the server is not there', () => {
    expect(() => treeCpuMs(stat(5, 'x', 1, 1, 1, 1, 1), 6)).toThrow(/no \/proc stat line/);
  });
});
