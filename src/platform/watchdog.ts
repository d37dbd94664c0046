// The kernel watchdog that fences this node when its event loop stops keeping a lease (sbd's
// watchdog model; cluster/quorum/self-fence-lease.ts decides the lease, daemon/wire-watchdog.ts
// joins the two). Arming opens the device (e.g. /dev/watchdog, which starts it), sets its timeout
// and starts a keeper that pets it every timeout/4 on its own thread, but only while the lease
// deadline lies ahead; once the lease has lapsed it never pets again, so the kernel resets the
// machine at most one timeout later. Times are on the performance.now() time line (monotonic, the
// clock vigild's state machines run on). The Linux implementation is native/watchdog.cc; the
// memory one (memory/watchdog.ts) models the keeper for unit tests.
import { SysError } from './errors.js';

export interface WatchdogArming {
  device: string;
  /** The timeout the driver uses (it may round or clamp what was asked). */
  timeoutSecs: number;
  /** The driver's name (e.g. "Software Watchdog"). */
  identity: string;
  /** Whether the driver stops on a close after the magic 'V' (without it a clean stop still resets). */
  magicClose: boolean;
}

export interface WatchdogState {
  armed: boolean;
  device: string | undefined;
  timeoutSecs: number;
  /** The lease deadline (performance.now() ms; Infinity: unbounded; undefined: not armed). */
  leaseDeadlineMs: number | undefined;
  /** The lease lapsed: the keeper stopped petting for good and the reset is coming. */
  expired: boolean;
  /** Pets since arming, and how long ago the last one was (undefined: none yet). */
  pets: number;
  lastPetAgoMs: number | undefined;
  /** Whether the keeper thread runs with real-time priority. */
  realtime: boolean;
  /** The errno name of the last failed pet, if any. */
  petError: string | undefined;
}

export interface Watchdog {
  /**
   * Opens `device`, sets its timeout to `timeoutSecs`, pets it once and starts the keeper with a
   * lease of one timeout (set the real one right after). Throws WatchdogOpenError (with a message
   * that says what to do) when the device cannot be used; nothing is left open then.
   */
  arm(device: string, timeoutSecs: number): WatchdogArming;
  /**
   * The keeper pets only while performance.now() < `deadlineMs` (Infinity: always). Returns false
   * (and changes nothing) once the lease has lapsed: a lapse is final. Throws when not armed.
   */
  setLeaseDeadline(deadlineMs: number): boolean;
  /**
   * Stops the keeper and closes the device. The watchdog is stopped (magic close) unless the lease
   * has lapsed, then the reset still comes. Returns whether it was stopped. A no-op when not armed.
   */
  disarm(): { magicClosed: boolean };
  state(): WatchdogState;
}

/** A watchdog device that cannot be armed, with the reason in words and the errno code. */
export class WatchdogOpenError extends Error {
  constructor(
    readonly device: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'WatchdogOpenError';
  }
}

/** The operator's message for a failed arm: what the errno means for a watchdog device. */
export function watchdogOpenError(device: string, err: unknown): WatchdogOpenError | unknown {
  if (!(err instanceof SysError)) return err;
  const what = err.syscall === 'open' ? 'cannot open' : `${err.syscall} failed on`;
  const hint: Record<string, string> = {
    ENOENT: 'no such device: load a watchdog driver (a hardware one, or `modprobe softdog`) or fix WATCHDOG_DEVICE',
    ENXIO: 'no watchdog driver behind this device node: load one (a hardware one, or `modprobe softdog`)',
    ENODEV: 'no watchdog driver behind this device node: load one (a hardware one, or `modprobe softdog`)',
    EBUSY: 'another process has it open (a watchdog daemon, sbd, or systemd with RuntimeWatchdogSec=): a watchdog has one keeper; stop that one or give vigild another device',
    EACCES: 'permission denied: vigild must run as root to use a watchdog',
    EPERM: 'permission denied: vigild must run as root to use a watchdog',
    EINVAL: 'the driver refused the timeout: choose a WATCHDOG_TIMEOUT_SECS the hardware supports',
    EOPNOTSUPP: 'the driver cannot set its timeout: it is not usable for self-fencing',
    ENOTTY: 'not a watchdog device (it takes no watchdog ioctls)',
  };
  return new WatchdogOpenError(device, err.code, `WATCHDOG_DEVICE ${device}: ${what} it (${err.code}): ${hint[err.code] ?? err.message}`);
}
