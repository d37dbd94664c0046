// Block devices of this node: names from /sys/block, facts from the device itself through the
// addon's ioctls (native/block_device.cc), on a probe thread so a dead disk cannot block us.
import { readdir } from 'node:fs/promises';

import { mapNativeError } from '../errors.js';
import type { BlockDeviceInfo, BlockDevices } from '../platform.js';
import { loadNativeAddon } from './addon-loader.js';

export class LinuxBlockDevices implements BlockDevices {
  private readonly addon = loadNativeAddon();

  constructor(private readonly sysBlock = '/sys/block') {}

  async list(): Promise<string[]> {
    return (await readdir(this.sysBlock)).sort();
  }

  async info(devicePath: string, timeoutMs: number): Promise<BlockDeviceInfo> {
    try {
      // Each device is its own key: one dead disk must not hold up probes of the others.
      const raw = await this.addon.blockDeviceInfo(devicePath, timeoutMs, devicePath);
      return { path: devicePath, ...raw };
    } catch (err) {
      throw mapNativeError(err);
    }
  }
}
