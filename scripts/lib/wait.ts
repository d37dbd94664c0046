// Poll a condition until it holds or a deadline passes: the one polling loop of the tests,
// benchmarks and the VM cluster harness (tests poll for a condition instead of sleeping).
import { traceSlow } from './trace-slow.js';

export interface WaitOptions {
  /** Give up after this many milliseconds. */
  deadlineMs: number;
  intervalMs?: number;
  what?: string;
}

export async function waitFor(predicate: () => boolean | Promise<boolean>, opts: WaitOptions): Promise<void> {
  const t0 = Date.now();
  const until = t0 + opts.deadlineMs;
  let lastErr: unknown;
  for (;;) {
    try {
      if (await predicate()) return traceSlow('wait', opts.what ?? 'condition', Date.now() - t0);
      lastErr = undefined;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= until) {
      throw new Error(`timed out after ${opts.deadlineMs} ms waiting for ${opts.what ?? 'condition'}${lastErr ? `: ${String(lastErr)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}
