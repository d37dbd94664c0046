// Vitest glue for the VM cluster: one cluster per describe block, booted in beforeAll and torn
// down in afterAll (and by the reaper on process exit, and by global-setup's teardown for strays
// left by a killed worker). Tests skip with the reason when qemu or the kernel image can't be had.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { Cluster, vmclusterUnavailableReason } from '../../../scripts/vmcluster/cluster.js';
import { repoRoot } from '../../../scripts/vmcluster/paths.js';
import type { TopologySpec } from '../../../scripts/vmcluster/topology.js';
import type { VmNode } from '../../../scripts/vmcluster/node.js';
import { waitFor } from '../../../scripts/lib/wait.js';

export { repoRoot };
export type { Cluster, VmNode, TopologySpec };

/** Why e2e tests cannot run here (undefined when they can). Computed once per worker. */
export const vmUnavailable: string | undefined = vmclusterUnavailableReason();
if (vmUnavailable) console.warn(`e2e: skipping VM tests: ${vmUnavailable}`);

/** Boot `spec` before the block's tests, tear it down after; returns a getter for the cluster. */
export function useCluster(spec: TopologySpec, opts: { bootDeadlineMs?: number } = {}): () => Cluster {
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    const t0 = Date.now();
    cluster = await Cluster.start(spec, { log: (m) => console.log(m), bootDeadlineMs: opts.bootDeadlineMs });
    console.log(`e2e: cluster ${cluster.id} up in ${Date.now() - t0} ms; boot ms: ${cluster.nodes.map((n) => `${n.name}=${n.bootMs}`).join(' ')}`);
    // The guests boot with clocksource=hpet (see scripts/vmcluster/node.ts): guest-side time limits
    // and heartbeat timeouts are only right if the guest clock runs at the host's rate.
    for (const n of cluster.nodes) {
      expect((await n.run('cat /sys/devices/system/clocksource/clocksource0/current_clocksource')).trim(), `${n.name} clocksource`).toBe('hpet');
    }
  });
  afterEach(async (ctx) => {
    if (!cluster || ctx.task.result?.state !== 'fail') return;
    // Leave the last console lines of every VM in the test output: most failures show up there.
    for (const n of cluster.nodes) {
      try {
        console.log(`--- ${n.name} console (tail) ---\n${fs.readFileSync(n.consoleLog, 'utf8').slice(-1500)}`);
      } catch {
        /* the VM never wrote to its console */
      }
      // And vigild's own log (GuestVigil.log in helpers-failover.ts), where the engine says why:
      // a standby freeze case once failed with node2 OSF and nothing else to go on. Bounded: a
      // frozen or killed guest does not answer.
      try {
        const tail = await n.run('tail -c 6000 /var/log/vigild.log 2>/dev/null || true', { timeoutMs: 10_000 });
        if (tail.trim()) console.log(`--- ${n.name} vigild log (tail) ---\n${tail}`);
      } catch {
        /* the guest is down or frozen */
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

/**
 * Copy parts of this checkout (repo-relative files/dirs) plus build/Release/vigil_native.node and a
 * package.json named vigil into .cache/vmcluster/snap/<pid>-<n>/, before the cluster boots. Guests
 * then run a stable copy: a rebuild on the host during the test (or 9p's cached lookups of files
 * that were missing for a moment) cannot change or hide the code under them. The copy stays inside
 * the checkout, so node_modules is still found by walking up. Removed in afterAll.
 */
export function useGuestSnapshot(parts: string[]): () => string {
  let dir: string | undefined;
  beforeAll(async () => {
    const addon = path.join(repoRoot, 'build', 'Release', 'vigil_native.node');
    // Someone may be rebuilding the addon right now: give node-gyp time to put it back.
    await waitFor(() => fs.existsSync(addon), { deadlineMs: 180_000, intervalMs: 500, what: `${addon} (build it with node scripts/build-addon.mjs)` });
    dir = path.join(repoRoot, '.cache', 'vmcluster', 'snap', `${process.pid}-${++snapshotCounter}`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
    fs.copyFileSync(addon, path.join(dir, 'build', 'Release', 'vigil_native.node'));
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'vigil', type: 'module', private: true }));
    for (const p of parts) fs.cpSync(path.join(repoRoot, p), path.join(dir, p), { recursive: true });
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    expect(dir, 'guest snapshot not made').toBeDefined();
    return dir!;
  };
}
let snapshotCounter = 0;
