// Setup file of the unit project: unit tests run on the memory platform and pass without the
// native addon (a checkout where build/ is missing). So that this stays true while build/ is
// present, loading the addon in a unit test fails at once, naming the rule: a unit test that
// reaches createLinuxPlatform() (directly or through code it calls) fails here rather than only
// on a machine without build/. Tests of the Linux platform belong to the contract/integration layers.
import { vi } from 'vitest';

export const UNIT_ADDON_REFUSAL =
  'unit tests run without the native addon: use the memory platform (test/helpers/memory-disk.ts, src/platform/memory) — the Linux platform is tested in test/contract and test/integration';

vi.mock('../../src/platform/linux/addon-loader.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/platform/linux/addon-loader.js')>();
  return {
    ...real,
    loadNativeAddon: () => {
      throw new Error(UNIT_ADDON_REFUSAL);
    },
  };
});
