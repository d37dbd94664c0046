// Awaits a promise without throwing and says how long it took: timing assertions on rejections
// (probe time limits, LCD write limits) need both the outcome and the elapsed time.
import { performance } from 'node:perf_hooks';

/**
 * Pass a function to measure from before the call: a promise is created before settle() runs,
 * and a thread preempted in between (a loaded machine) would make the time look short.
 */
export async function settle<T>(p: Promise<T> | (() => Promise<T>)): Promise<{ value?: T; error?: unknown; ms: number }> {
  const start = performance.now();
  try {
    const value = await (typeof p === 'function' ? p() : p);
    return { value, ms: performance.now() - start };
  } catch (error) {
    return { error, ms: performance.now() - start };
  }
}
