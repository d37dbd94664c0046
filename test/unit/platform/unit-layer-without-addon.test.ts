// The unit layer never loads the native addon (test/helpers/unit-without-addon.ts): a unit test
// that reaches the Linux platform fails with the rule, whether or not build/ holds the addon.
import { describe, expect, it } from 'vitest';

import { createLinuxPlatform, loadNativeAddon } from '../../../src/platform/linux/index.js';
import { UNIT_ADDON_REFUSAL } from '../../helpers/unit-without-addon.js';

describe('unit layer without the addon', () => {
  it('loading the addon fails with the rule, also through createLinuxPlatform()', () => {
    expect(() => loadNativeAddon()).toThrow(UNIT_ADDON_REFUSAL);
    expect(() => createLinuxPlatform()).toThrow(UNIT_ADDON_REFUSAL);
  });
});
