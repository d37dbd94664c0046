// Arithmetic of the VM NBD benchmarks: a throughput from bytes and nanoseconds, the summary of a
// figure over rounds, and the Vigil / Debian nbd-server ratio. Kept apart from the VM code so the
// unit tests check what turns raw timings into the published figures.

/** MiB/s (one decimal) of `bytes` moved in `ns` nanoseconds. */
export function mibPerS(bytes: number, ns: number): number {
  if (!(ns > 0)) throw new Error(`throughput: elapsed time must be positive, got ${ns} ns`);
  return Math.round((bytes / 2 ** 20 / (ns / 1e9)) * 10) / 10;
}

/** Median; the mean of the two middle values for an even count (two rounds give their mean). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const m = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return Math.round(m * 1000) / 1000;
}

/** a / b to two decimals (three when below 0.1, so a small resync ratio keeps its digits). */
export function ratio(a: number, b: number): number {
  if (!(b > 0)) throw new Error(`ratio: denominator must be positive, got ${b}`);
  const r = a / b;
  const scale = r < 0.1 ? 10_000 : 100;
  return Math.round(r * scale) / scale;
}

/** The elapsed nanoseconds a guest shell printed as the last line of its output (see timedShell). */
export function lastLineNs(output: string): number {
  const last = output.trim().split('\n').pop() ?? '';
  if (!/^\d+$/.test(last.trim())) throw new Error(`expected elapsed nanoseconds as the last output line, got ${JSON.stringify(last)}`);
  return Number(last.trim());
}

/**
 * A shell command that runs `cmd` and prints, as its last line, how long it took in nanoseconds,
 * timed inside the guest (the harness's own round trip to the guest agent is not in it).
 */
export function timedShell(cmd: string): string {
  return `t0=$(date +%s%N) && ${cmd} && t1=$(date +%s%N) && echo $((t1 - t0))`;
}
