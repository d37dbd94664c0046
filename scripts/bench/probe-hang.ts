// Benchmark: hung-probe behaviour on a real kernel hang (the fusehang FUSE file system).
// Prints one JSON object: timeout accuracy, event-loop delay p99, file I/O under 20 hung
// probes, capacity refusal time, reclaim time. Needs root and /dev/fuse.
//   npx tsx scripts/bench/probe-hang.ts
import { FuseHang, fuseUnavailableReason } from '../../test/fixtures/fusehang/harness.js';
import { runProbeHangScenario } from '../../test/fixtures/fusehang/probe-hang-scenario.js';
import { createLinuxPlatform } from '../../src/platform/linux/index.js';

const reason = fuseUnavailableReason();
if (reason !== undefined) {
  console.log(JSON.stringify({ bench: 'probe-hang', skipped: reason }));
  process.exit(2);
}
const fuse = await FuseHang.mount();
try {
  const result = await runProbeHangScenario(fuse, createLinuxPlatform().timedStat);
  console.log(JSON.stringify({ bench: 'probe-hang', node: process.version, ...result }, null, 2));
} finally {
  fuse.unmount();
}
