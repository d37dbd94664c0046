// The watchdog on Linux over the addon's keeper (native/watchdog.cc). This file converts between
// the performance.now() time line of vigild and the CLOCK_MONOTONIC one of the keeper (libuv's
// hrtime is CLOCK_MONOTONIC, so one back-to-back reading of both gives the offset), and maps the
// addon's errno-carrying Errors to WatchdogOpenError messages. A driver loaded with nowayout=1
// (or a kernel built with WATCHDOG_NOWAYOUT) ignores the magic close although it advertises it:
// sysfs says so, and then the arming reports magicClose false.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { mapNativeError } from '../errors.js';
import { watchdogOpenError, type Watchdog, type WatchdogArming, type WatchdogState } from '../watchdog.js';
import { loadNativeAddon } from './addon-loader.js';
import type { RawWatchdog } from './native-addon.js';

/** CLOCK_MONOTONIC ms minus performance.now() ms, now. */
function monotonicOffsetMs(): number {
  const perf = performance.now();
  return Number(process.hrtime.bigint()) / 1e6 - perf;
}

/** Whether sysfs says the device never stops once started (/dev/watchdog is watchdog0's legacy node). */
function nowayout(device: string): boolean {
  const name = basename(device) === 'watchdog' ? 'watchdog0' : basename(device);
  try {
    return readFileSync(`/sys/class/watchdog/${name}/nowayout`, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

export class LinuxWatchdog implements Watchdog {
  private raw: RawWatchdog | undefined;
  private device: string | undefined;

  arm(device: string, timeoutSecs: number): WatchdogArming {
    if (this.raw) throw new Error(`the watchdog is armed already (${this.device})`);
    let raw: RawWatchdog;
    try {
      raw = loadNativeAddon().openWatchdog(device, timeoutSecs);
    } catch (err) {
      throw watchdogOpenError(device, mapNativeError(err));
    }
    this.raw = raw;
    this.device = device;
    return { device, timeoutSecs: raw.timeoutSecs, identity: raw.identity, magicClose: raw.magicClose && !nowayout(device) };
  }

  setLeaseDeadline(deadlineMs: number): boolean {
    if (!this.raw) throw new Error('the watchdog is not armed');
    if (Number.isNaN(deadlineMs)) throw new RangeError('setLeaseDeadline: the deadline is NaN');
    return this.raw.setLease(deadlineMs === Infinity ? Infinity : deadlineMs + monotonicOffsetMs());
  }

  disarm(): { magicClosed: boolean } {
    const raw = this.raw;
    if (!raw) return { magicClosed: false };
    this.raw = undefined;
    return raw.disarm();
  }

  state(): WatchdogState {
    const raw = this.raw;
    if (!raw) return { armed: false, device: undefined, timeoutSecs: 0, leaseDeadlineMs: undefined, expired: false, pets: 0, lastPetAgoMs: undefined, realtime: false, petError: undefined };
    const s = raw.state();
    const offset = monotonicOffsetMs();
    return {
      armed: true,
      device: this.device,
      timeoutSecs: raw.timeoutSecs,
      leaseDeadlineMs: s.leaseMs === Infinity ? Infinity : s.leaseMs - offset,
      expired: s.expired,
      pets: s.pets,
      lastPetAgoMs: s.lastPetMs === null ? undefined : Math.max(0, s.nowMs - s.lastPetMs),
      realtime: s.realtime,
      petError: s.petError ?? undefined,
    };
  }
}
