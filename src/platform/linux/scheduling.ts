// Scheduling over the addon's `scheduling` object (native/realtime.cc: mlock2,
// sched_setscheduler); this file only maps the addon's errno-carrying Errors to SysError.
import { mapNativeError } from '../errors.js';
import type { Scheduling, SchedulingState } from '../platform.js';
import { loadNativeAddon } from './addon-loader.js';

export class LinuxScheduling implements Scheduling {
  private readonly addon = loadNativeAddon();

  lockMemory(): number {
    try {
      return this.addon.scheduling.lockMemory();
    } catch (err) {
      throw mapNativeError(err);
    }
  }

  setRealtime(priority: number): void {
    try {
      this.addon.scheduling.setRealtime(priority);
    } catch (err) {
      throw mapNativeError(err);
    }
  }

  state(): SchedulingState {
    try {
      return { ...this.addon.scheduling.state() };
    } catch (err) {
      throw mapNativeError(err);
    }
  }
}
