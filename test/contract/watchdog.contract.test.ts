// Watchdog, both implementations, on real time. The refusals run against both here: a missing
// device (ENOENT) and a file that is no watchdog (/dev/null: ENOTTY at the first watchdog ioctl,
// closed again at once) fail with WatchdogOpenError and a message that says what to do, and leave
// nothing armed. The keeper itself needs a watchdog device, and opening one on this host would
// reset it unless petted forever: the Linux keeper runs only where VIGIL_WATCHDOG_TEST_DEVICE
// names one (inside a VM guest: `modprobe softdog`), and its lapse (which resets the machine) only
// in the VM cluster (test/e2e/quorum-partition.test.ts, self-fencing).
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';

import { LinuxWatchdog } from '../../src/platform/linux/watchdog.js';
import { MemoryWatchdog } from '../../src/platform/memory/watchdog.js';
import { WatchdogOpenError, type Watchdog } from '../../src/platform/watchdog.js';

const linuxDevice = process.env.VIGIL_WATCHDOG_TEST_DEVICE;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function refusal(w: Watchdog, device: string): WatchdogOpenError {
  let caught: unknown;
  try {
    w.arm(device, 5);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(WatchdogOpenError);
  return caught as WatchdogOpenError;
}

describe.each([
  ['linux', () => new LinuxWatchdog()],
  ['memory', () => new MemoryWatchdog()],
] as const)('Watchdog contract, refusals (%s)', (_name, make: () => Watchdog) => {
  it('a missing device: ENOENT, with what to do; nothing armed', () => {
    const w = make();
    const e = refusal(w, '/dev/vigil-no-such-watchdog');
    expect(e.code).toBe('ENOENT');
    expect(e.message).toMatch(/^WATCHDOG_DEVICE \/dev\/vigil-no-such-watchdog: cannot open it \(ENOENT\): no such device: load a watchdog driver/);
    expect(w.state().armed).toBe(false);
    expect(() => w.setLeaseDeadline(performance.now() + 1000)).toThrow(/not armed/);
    expect(w.disarm()).toEqual({ magicClosed: false });
  });
  it('a file that is no watchdog: ENOTTY from the first watchdog ioctl; nothing armed', () => {
    const w = make();
    const e = refusal(w, '/dev/null');
    expect(e.code).toBe('ENOTTY');
    expect(e.message).toMatch(/ioctl\(WDIOC_GETSUPPORT\) failed on it \(ENOTTY\): not a watchdog device/);
    expect(w.state().armed).toBe(false);
  });
});

// The native keeper on a real device runs only where VIGIL_WATCHDOG_TEST_DEVICE names one (a VM
// guest: on this host a lapse would reset the machine); its arming, petting, real-time priority
// and lapse are proven in the VM by test/e2e/quorum-partition.test.ts (softdog). Here the keeper
// contract runs against the memory model, and against the native keeper only when a device is named.
const keepers: Array<readonly [string, () => Watchdog, string]> = [['memory', () => new MemoryWatchdog(), '/dev/watchdog']];
if (linuxDevice !== undefined) keepers.unshift(['linux', () => new LinuxWatchdog(), linuxDevice]);
describe.each(keepers)('Watchdog contract, keeper (%s)', (name, make: () => Watchdog, device) => {
  const skip = '';
  it.skipIf(!!skip)(`arms, pets while the lease holds, and stops with the magic close${skip ? ` (skipped: ${skip})` : ''}`, async () => {
    const w = make();
    const armed = w.arm(device!, 2);
    expect(armed).toMatchObject({ device, timeoutSecs: 2, magicClose: true });
    expect(armed.identity.length).toBeGreaterThan(0);
    expect(() => w.arm(device!, 2)).toThrow(/armed already/);
    const s0 = w.state();
    expect(s0).toMatchObject({ armed: true, device, timeoutSecs: 2, expired: false });
    // The initial lease: one timeout from arming.
    expect(s0.leaseDeadlineMs! - performance.now()).toBeGreaterThan(1000);
    expect(s0.leaseDeadlineMs! - performance.now()).toBeLessThanOrEqual(2000);
    expect(() => w.setLeaseDeadline(Number.NaN)).toThrow(RangeError);
    const deadline = performance.now() + 60_000;
    expect(w.setLeaseDeadline(deadline)).toBe(true);
    expect(Math.abs(w.state().leaseDeadlineMs! - deadline)).toBeLessThan(2);
    expect(w.setLeaseDeadline(Infinity)).toBe(true);
    expect(w.state().leaseDeadlineMs).toBe(Infinity);
    // Pets every timeout/4 (500 ms): past two more timeouts, it is still alive and petting.
    await sleep(1200);
    const s1 = w.state();
    expect(s1.pets).toBeGreaterThanOrEqual(3);
    expect(s1.lastPetAgoMs!).toBeLessThan(600);
    expect(s1.expired).toBe(false);
    expect(w.disarm()).toEqual({ magicClosed: true });
    expect(w.state().armed).toBe(false);
    expect(w.disarm()).toEqual({ magicClosed: false });
    // Free again: a second keeper can take it.
    const again = make();
    expect(again.arm(device!, 2).timeoutSecs).toBe(2);
    expect(again.disarm()).toEqual({ magicClosed: true });
  });

  // A lapse of the real device resets the machine: the VM e2e test covers it.
  const lapseSkip = name === 'linux' ? 'a lapse resets the machine: covered by the VM e2e test' : skip;
  it.skipIf(!!lapseSkip)(`a lapsed lease is final: no renewal, no magic close${lapseSkip ? ` (skipped: ${lapseSkip})` : ''}`, async () => {
    const w = make();
    w.arm(device!, 1);
    expect(w.setLeaseDeadline(performance.now() - 1)).toBe(true);
    // The keeper's next turn (every 250 ms) finds it past.
    await sleep(400);
    expect(w.state().expired).toBe(true);
    expect(w.setLeaseDeadline(performance.now() + 60_000)).toBe(false);
    expect(w.disarm()).toEqual({ magicClosed: false });
  });
});
