// e2e global setup/teardown: prepare the guest image once before any worker starts (so the first
// test file does not pay for it inside its hook timeout), and after the run kill any qemu left by a
// worker that died without running its own teardown (found by the marker in the qemu cmdline).
import { vmclusterUnavailableReason } from '../../scripts/vmcluster/cluster.js';
import { cleanupStrays } from '../../scripts/vmcluster/reaper.js';

export default function setup(): () => void {
  cleanupStrays();
  const reason = vmclusterUnavailableReason();
  if (reason) console.warn(`e2e: VM cluster unavailable: ${reason}`);
  return () => {
    const killed = cleanupStrays();
    if (killed.length) console.warn(`e2e: killed ${killed.length} stray qemu process(es): ${killed.map((q) => `${q.cluster}:${q.node}`).join(', ')}`);
  };
}
