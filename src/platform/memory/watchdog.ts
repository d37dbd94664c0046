// The watchdog in memory for unit tests: a model of native/watchdog.cc's keeper on a clock the
// test drives. It records every lease set, and says when the kernel would have reset the machine:
// the keeper pets at arming and every timeout/4 after it while the clock is before the lease
// deadline; once a pet finds the lease lapsed it never pets again (latched), and the reset comes
// one timeout after the last pet. Fault hooks: devices that exist (others fail with ENOENT), an
// errno the next arm fails with (EBUSY, EACCES...), and a driver that clamps the timeout.
import { performance } from 'node:perf_hooks';
import { SysError } from '../errors.js';
import { watchdogOpenError, type Watchdog, type WatchdogArming, type WatchdogState } from '../watchdog.js';

export class MemoryWatchdog implements Watchdog {
  /** Device paths that exist; an arm of any other fails with ENOENT. */
  readonly devices = new Set<string>(['/dev/watchdog']);
  /** Paths that open but are no watchdog (their first watchdog ioctl fails with ENOTTY). */
  readonly notWatchdogs = new Set<string>(['/dev/null']);
  /** errno name the next arm fails with, at open (undefined: it succeeds). */
  failArmWith: string | undefined;
  /** The largest timeout the "driver" accepts; larger ones are clamped to it (as hardware does). */
  maxTimeoutSecs = 600;
  /** Every lease set since arming: [when (clock ms), deadline]. */
  readonly leases: Array<{ atMs: number; deadlineMs: number }> = [];
  /** Each disarm, and whether it stopped the watchdog. */
  readonly disarms: Array<{ atMs: number; magicClosed: boolean }> = [];
  private armed: { device: string; timeoutSecs: number; atMs: number } | undefined;
  private deadlineMs = 0;
  /** Time of the pet that found the lease lapsed (the keeper's latch), once one did. */
  private lapsedAtMs: number | undefined;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  arm(device: string, timeoutSecs: number): WatchdogArming {
    if (this.armed) throw new Error(`the watchdog is armed already (${this.armed.device})`);
    if (!Number.isInteger(timeoutSecs) || timeoutSecs < 1 || timeoutSecs > 3600) throw new RangeError('openWatchdog: timeoutSecs must be a whole number from 1 to 3600');
    const code = this.failArmWith ?? (this.devices.has(device) || this.notWatchdogs.has(device) ? undefined : 'ENOENT');
    if (code) throw watchdogOpenError(device, SysError.fromCode(code, 'open', device));
    if (this.notWatchdogs.has(device)) throw watchdogOpenError(device, SysError.fromCode('ENOTTY', 'ioctl(WDIOC_GETSUPPORT)', device));
    const real = Math.min(timeoutSecs, this.maxTimeoutSecs);
    const now = this.clock();
    this.armed = { device, timeoutSecs: real, atMs: now };
    this.deadlineMs = now + real * 1000;
    this.lapsedAtMs = undefined;
    this.leases.length = 0;
    return { device, timeoutSecs: real, identity: 'Memory Watchdog', magicClose: true };
  }

  setLeaseDeadline(deadlineMs: number): boolean {
    if (!this.armed) throw new Error('the watchdog is not armed');
    if (Number.isNaN(deadlineMs)) throw new RangeError('setLeaseDeadline: the deadline is NaN');
    if (this.lapsedAt(this.clock()) !== undefined) return false;
    this.deadlineMs = deadlineMs;
    this.leases.push({ atMs: this.clock(), deadlineMs });
    return true;
  }

  disarm(): { magicClosed: boolean } {
    if (!this.armed) return { magicClosed: false };
    const now = this.clock();
    // As the native keeper: a lease lapsed by now (seen by a pet or at the disarm) is not stopped.
    const magicClosed = this.lapsedAt(now) === undefined && now < this.deadlineMs;
    if (magicClosed) this.armed = undefined;
    else this.lapsedAtMs ??= now;
    this.disarms.push({ atMs: now, magicClosed });
    return { magicClosed };
  }

  /**
   * When the kernel resets (or would reset) the machine, given the leases set so far and no
   * further one: one timeout after the last pet before the lease lapsed. undefined: never (not
   * armed, or an unbounded lease).
   */
  fireAtMs(): number | undefined {
    const a = this.armed;
    if (!a) return undefined;
    const last = this.lastPetBefore(this.lapsedAtMs ?? this.deadlineMs);
    if (last === undefined) return undefined;
    return last + a.timeoutSecs * 1000;
  }

  /** Whether the machine would have been reset by `nowMs` (default: the clock). */
  wouldHaveFired(nowMs = this.clock()): boolean {
    const at = this.fireAtMs();
    return at !== undefined && at <= nowMs;
  }

  state(): WatchdogState {
    const a = this.armed;
    if (!a) return { armed: false, device: undefined, timeoutSecs: 0, leaseDeadlineMs: undefined, expired: false, pets: 0, lastPetAgoMs: undefined, realtime: false, petError: undefined };
    const now = this.clock();
    const lapsed = this.lapsedAt(now);
    const lastIndex = this.lastPetIndexBefore(Math.min(lapsed ?? Infinity, this.deadlineMs, now + 1e-9));
    const last = lastIndex === undefined ? undefined : a.atMs + lastIndex * this.periodMs();
    return {
      armed: true,
      device: a.device,
      timeoutSecs: a.timeoutSecs,
      leaseDeadlineMs: this.deadlineMs,
      expired: lapsed !== undefined,
      // Counted from the pet's index: recovering it as (last - atMs) / period in floating point
      // gave 1.999... for the third pet at some arming times (a CI failure: 2 pets, not 3).
      pets: lastIndex === undefined ? 0 : lastIndex + 1,
      lastPetAgoMs: last === undefined ? undefined : now - last,
      realtime: true,
      petError: undefined,
    };
  }

  private periodMs(): number {
    return (this.armed!.timeoutSecs * 1000) / 4;
  }

  /** The last pet time strictly before `t` (the keeper pets at atMs + k x period). */
  private lastPetBefore(t: number): number | undefined {
    const k = this.lastPetIndexBefore(t);
    return k === undefined ? undefined : this.armed!.atMs + k * this.periodMs();
  }

  /** The index k of the last pet strictly before `t` (0: the pet at arming). */
  private lastPetIndexBefore(t: number): number | undefined {
    const a = this.armed!;
    if (t === Infinity) return undefined;
    if (t <= a.atMs) return 0;
    return Math.max(0, Math.ceil((t - a.atMs) / this.periodMs()) - 1);
  }

  /** When a pet found the lease lapsed, as of `nowMs` (undefined: none yet). */
  private lapsedAt(nowMs: number): number | undefined {
    if (this.lapsedAtMs !== undefined) return this.lapsedAtMs;
    if (this.deadlineMs === Infinity || nowMs < this.deadlineMs) return undefined;
    // The first pet at or after the deadline latches, if it has happened by now.
    const a = this.armed!;
    const k = Math.max(0, Math.ceil((this.deadlineMs - a.atMs) / this.periodMs()));
    const pet = a.atMs + k * this.periodMs();
    if (pet > nowMs) return undefined;
    this.lapsedAtMs = pet;
    return pet;
  }
}
