// Benchmark: hung-probe behaviour on a real kernel hang (the fusehang FUSE file system):
// timeout accuracy, event-loop delay p99 and file I/O under 20 hung probes, capacity refusal
// time, reclaim time after release. Needs root and /dev/fuse. Run by scripts/bench/run.ts
// (`npm run bench probe-hang`) or alone: `npx tsx scripts/bench/probe-hang.ts`.
import { FuseHang, fuseUnavailableReason } from '../../test/fixtures/fusehang/harness.js';
import { runProbeHangScenario } from '../../test/fixtures/fusehang/probe-hang-scenario.js';
import { createLinuxPlatform } from '../../src/platform/linux/index.js';

export async function bench(): Promise<Record<string, unknown>> {
  const reason = fuseUnavailableReason();
  if (reason !== undefined) throw new Error(`probe-hang benchmark cannot run here: ${reason}`);
  const fuse = await FuseHang.mount();
  try {
    return { ...(await runProbeHangScenario(fuse, createLinuxPlatform().timedStat)) };
  } finally {
    fuse.unmount();
  }
}
