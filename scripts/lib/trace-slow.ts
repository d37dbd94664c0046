// Where does a long test's time go? With VIGIL_TRACE_SLOW_MS=N in the environment, every wait
// (scripts/lib/wait.ts) and every guest command (scripts/vmcluster/agent-client.ts) that took N ms
// or more prints one line with its duration and what it was. Off by default.
const threshold = Number(process.env.VIGIL_TRACE_SLOW_MS ?? '');

export function traceSlow(kind: string, what: string, ms: number): void {
  if (!Number.isFinite(threshold) || threshold <= 0 || ms < threshold) return;
  console.log(`[slow ${kind} ${Math.round(ms)} ms] ${what.length > 200 ? `${what.slice(0, 200)}...` : what}`);
}
