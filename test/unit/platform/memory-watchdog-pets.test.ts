// The memory watchdog's pet count on a driven clock: the keeper pets at arming and every
// timeout/4, so 1200 ms after arming with a 2 s timeout it has petted three times, whatever the
// arming time. At some arming times (130072.3 ms here) recovering the count from pet times in
// floating point gave two: a contract test failed that way in CI.
import { describe, expect, it } from 'vitest';

import { MemoryWatchdog } from '../../../src/platform/memory/watchdog.js';

describe('MemoryWatchdog pet count', () => {
  it.each([0, 130072.3, 987654.321])('armed at %d ms: 1, 3 and 5 pets at 0, 1200 and 2000 ms (timeout 2 s)', (atMs) => {
    let now = atMs;
    const w = new MemoryWatchdog(() => now);
    w.arm('/dev/watchdog', 2);
    w.setLeaseDeadline(Infinity);
    expect(w.state().pets).toBe(1);
    now = atMs + 1200;
    expect(w.state()).toMatchObject({ pets: 3, expired: false });
    expect(w.state().lastPetAgoMs).toBeCloseTo(200, 6);
    now = atMs + 2000.5;
    expect(w.state().pets).toBe(5);
  });
});
