// The probe-hang benchmark on its own, printing one JSON object:
//   npx tsx scripts/bench/probe-hang.ts
// (exit status 2 with {"skipped": reason} when root or /dev/fuse is missing).
import { fuseUnavailableReason } from '../../test/fixtures/fusehang/harness.js';
import { bench } from './probe-hang.bench.js';

const reason = fuseUnavailableReason();
if (reason !== undefined) {
  console.log(JSON.stringify({ bench: 'probe-hang', skipped: reason }));
  process.exit(2);
}
console.log(JSON.stringify({ bench: 'probe-hang', node: process.version, ...(await bench()) }, null, 2));
