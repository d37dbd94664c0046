// Vitest glue for the VM cluster: one cluster per describe block, booted in beforeAll and torn
// down in afterAll (and by the reaper on process exit, and by global-setup's teardown for strays
// left by a killed worker). Tests skip with the reason when qemu or the kernel image can't be had.
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { Cluster, vmclusterUnavailableReason } from '../../../scripts/vmcluster/cluster.js';
import { repoRoot } from '../../../scripts/vmcluster/paths.js';
import type { TopologySpec } from '../../../scripts/vmcluster/topology.js';
import type { VmNode } from '../../../scripts/vmcluster/node.js';

export { repoRoot };
export type { Cluster, VmNode, TopologySpec };

/** Why e2e tests cannot run here (undefined when they can). Computed once per worker. */
export const vmUnavailable: string | undefined = vmclusterUnavailableReason();
if (vmUnavailable) console.warn(`e2e: skipping VM tests: ${vmUnavailable}`);

/** Boot `spec` before the block's tests, tear it down after; returns a getter for the cluster. */
export function useCluster(spec: TopologySpec): () => Cluster {
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    const t0 = Date.now();
    cluster = await Cluster.start(spec, { log: (m) => console.log(m) });
    console.log(`e2e: cluster ${cluster.id} up in ${Date.now() - t0} ms; boot ms: ${cluster.nodes.map((n) => `${n.name}=${n.bootMs}`).join(' ')}`);
  });
  afterEach(async (ctx) => {
    if (!cluster || ctx.task.result?.state !== 'fail') return;
    // Leave the last console lines of every VM in the test output: most failures show up there.
    const fs = await import('node:fs');
    for (const n of cluster.nodes) {
      try {
        console.log(`--- ${n.name} console (tail) ---\n${fs.readFileSync(n.consoleLog, 'utf8').slice(-1500)}`);
      } catch {
        /* the VM never wrote to its console */
      }
    }
  });
  afterAll(async () => {
    if (!cluster) return;
    cluster.sampleMemory();
    console.log(`e2e: cluster ${cluster.id} peak qemu RSS ${Math.round(cluster.peakRssKb / 1024)} MiB`);
    await cluster.teardown();
  });
  return () => {
    expect(cluster, 'cluster failed to boot').toBeDefined();
    return cluster!;
  };
}

/** argv that runs a TypeScript file of this checkout inside a guest with the checkout's tsx. */
export function guestTsx(file: string, ...args: string[]): string[] {
  return [path.join(repoRoot, 'node_modules', '.bin', 'tsx'), path.resolve(repoRoot, file), ...args];
}
