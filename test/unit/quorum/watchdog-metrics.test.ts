// The watchdog metric families: armed (with the device), the timeout, and the lease's remaining
// time (+Inf while nothing is in service); timeout and lease absent when no watchdog is armed;
// nothing registered without a watchdog source.
import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../../src/metrics/registry.js';
import type { WatchdogSnapshot } from '../../../src/metrics/sources.js';
import { FakeSources, samples, valueOf } from '../metrics/fake-sources.js';

class WatchdogSources extends FakeSources {
  w: WatchdogSnapshot = { armed: true, device: '/dev/watchdog', timeoutSeconds: 5, leaseRemainingSeconds: Infinity };
  watchdog(): WatchdogSnapshot {
    return this.w;
  }
}

describe('watchdog metrics', { timeout: 60_000 }, () => {
  it('exposes armed, the timeout and the remaining lease, read at scrape time', async () => {
    const sources = new WatchdogSources();
    const metrics = new AgentMetrics({ sources, version: '1' });
    let body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_watchdog_armed{device="/dev/watchdog"}')).toBe(1);
    expect(valueOf(body, 'vigil_watchdog_timeout_seconds{device="/dev/watchdog"}')).toBe(5);
    expect(samples(body, 'vigil_watchdog_lease_remaining_seconds')).toEqual(['vigil_watchdog_lease_remaining_seconds{device="/dev/watchdog"} +Inf']);
    sources.w = { ...sources.w, leaseRemainingSeconds: 6.5 };
    body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_watchdog_lease_remaining_seconds{device="/dev/watchdog"}')).toBe(6.5);
    sources.w = { armed: false, device: '', timeoutSeconds: 0, leaseRemainingSeconds: Infinity };
    body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_watchdog_armed{device=""}')).toBe(0);
    expect(samples(body, 'vigil_watchdog_lease_remaining_seconds')).toEqual([]);
    expect(samples(body, 'vigil_watchdog_timeout_seconds')).toEqual([]);
  });

  it('registers no watchdog family without a watchdog source', async () => {
    const body = (await new AgentMetrics({ sources: new FakeSources(), version: '1' }).scrape()).body;
    expect(body).not.toMatch(/vigil_watchdog_/);
  });
});
