// Runs inside a VM: one statWithTimeout probe (through the Linux platform and the native addon) on
// a path, while measuring how late the event loop runs. Prints one JSON line and exits (a probe
// thread stuck in the kernel must not keep the process alive). The platform code is loaded from
// SNAPSHOT_DIR (a copy of src/ and the addon made before the VMs booted; see useGuestSnapshot).
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const [snapshotDir, target, timeoutArg] = process.argv.slice(2);
if (!snapshotDir || !target || !timeoutArg) {
  console.error('usage: nfs-stat-probe.ts SNAPSHOT_DIR PATH TIMEOUT_MS');
  process.exit(2);
}
const { LinuxMountTable, LinuxTimedStat } = (await import(
  path.join(snapshotDir, 'src', 'platform', 'linux', 'index.ts')
)) as typeof import('../../../src/platform/linux/index.js');
const timeoutMs = Number(timeoutArg);
const timedStat = new LinuxTimedStat(new LinuxMountTable());
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let ticks = 0;
const ticker = setInterval(() => ticks++, 50);
const t0 = performance.now();
let outcome: Record<string, unknown>;
try {
  const st = await timedStat.stat(target, timeoutMs);
  outcome = { ok: true, size: st.size };
} catch (e) {
  const err = e as Error & { code?: string };
  outcome = { ok: false, name: err.name, code: err.code, message: err.message };
}
const elapsedMs = performance.now() - t0;
clearInterval(ticker);
delay.disable();
console.log(JSON.stringify({ ...outcome, elapsedMs, maxLoopDelayMs: delay.max / 1e6, ticks }));
process.exit(0);
