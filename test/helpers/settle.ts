// Awaits a promise without throwing and says how long it took: timing assertions on rejections
// (probe time limits, LCD write limits) need both the outcome and the elapsed time.
import { performance } from 'node:perf_hooks';

export async function settle<T>(p: Promise<T>): Promise<{ value?: T; error?: unknown; ms: number }> {
  const start = performance.now();
  try {
    const value = await p;
    return { value, ms: performance.now() - start };
  } catch (error) {
    return { error, ms: performance.now() - start };
  }
}
