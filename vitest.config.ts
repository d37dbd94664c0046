// Test layers (see README "Testing"): unit and contract run anywhere; integration needs root,
// loop devices, FUSE and socat on this host; e2e boots the qemu VM cluster.
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

const FAULT_RUN = 'test/integration/fault-run.test.ts';

export default defineConfig({
  test: {
    pool: 'forks',
    // Two test files at once even on 2 cores (vitest's default there is one): the host layers'
    // long files mostly wait on timers, heartbeats and child processes (the unit, contract and
    // integration layers took 671 s so on a 2-core machine, their files 1034 s summed). The e2e
    // project runs its files one by one anyway (fileParallelism: false).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // In CI a skipped test fails the run, naming it (test/helpers/no-skips-in-ci.ts).
    reporters: ['default', './test/helpers/no-skips-in-ci.ts'],
    projects: [
      // The unit layer passes without build/ (no addon): the setup file refuses to load it.
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], pool: 'forks', setupFiles: ['test/helpers/unit-without-addon.ts'] } },
      { test: { name: 'contract', include: ['test/contract/**/*.test.ts'], pool: 'forks' } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: [FAULT_RUN],
          pool: 'forks',
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The randomized fault run alone, after the layers above: its verdicts (never in service
        // on both, no overlapping app journals) are about vigild's timing, so it gets the machine
        // to itself rather than sharing two cores with another test file's processes.
        test: {
          name: 'integration-alone',
          include: [FAULT_RUN],
          pool: 'forks',
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
