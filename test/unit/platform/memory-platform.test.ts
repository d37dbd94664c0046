// The in-memory platform's own behaviour: fault hooks, probe bounds and counters, mount keys.
// (What it shares with the Linux platform is in test/contract/platform.contract.test.ts.)
import { describe, expect, it } from 'vitest';

import { ProbeCapacityError, ProbeTimeoutError, SysError } from '../../../src/platform/errors.js';
import { createMemoryPlatform } from '../../../src/platform/memory/index.js';
import { mountPointOf, parseMounts } from '../../../src/platform/mount-key.js';
import { waitFor } from '../../../scripts/lib/wait.js';
import { settle } from '../../helpers/settle.js';


const until = (cond: () => boolean) => waitFor(cond, { deadlineMs: 2500, intervalMs: 5, what: 'the condition' });

describe('memory platform fault hooks', () => {
  it('failWith makes calls below the prefix fail with that errno, clearFaults removes it', async () => {
    const p = createMemoryPlatform();
    p.kernel.addFile('/nas/data/file', 10);
    p.kernel.failWith('/nas', 'ESTALE');
    const r = await settle(p.timedStat.stat('/nas/data/file', 1000));
    expect(r.error).toBeInstanceOf(SysError);
    expect(r.error).toMatchObject({ code: 'ESTALE', errno: 116, syscall: 'stat', path: '/nas/data/file' });
    // A sibling path that merely shares the string prefix is not affected.
    p.kernel.addFile('/nasty', 1);
    expect((await p.timedStat.stat('/nasty', 1000)).size).toBe(1);
    p.kernel.clearFaults();
    expect((await p.timedStat.stat('/nas/data/file', 1000)).size).toBe(10);
  });

  it('delay answers late but still answers within a longer limit', async () => {
    const p = createMemoryPlatform();
    p.kernel.addFile('/slow/f', 3).delay('/slow', 60);
    const r = await settle(p.timedStat.stat('/slow/f', 2000));
    expect(r.value?.size).toBe(3);
    expect(r.ms).toBeGreaterThanOrEqual(55);
  });

  it('a hung probe times out, is parked, and is reclaimed on release', async () => {
    const p = createMemoryPlatform();
    p.kernel.addMount({ source: '10.0.0.1:/export', mountPoint: '/nas', fsType: 'nfs', options: ['rw'] });
    p.kernel.addFile('/nas/f', 1).hang('/nas');
    const r = await settle(p.timedStat.stat('/nas/f', 40));
    expect(r.error).toBeInstanceOf(ProbeTimeoutError);
    expect(r.error).toMatchObject({ key: '/nas', timeoutMs: 40, syscall: 'stat' });
    expect(p.timedStat.counters()).toMatchObject({ inFlight: 0, parked: 1, timedOutTotal: 1, parkedByKey: { '/nas': 1 } });
    p.kernel.release('/nas');
    await until(() => p.timedStat.counters().parked === 0);
    expect(p.timedStat.counters()).toMatchObject({ reclaimedTotal: 1, parkedByKey: {} });
  });

  it('counts in-flight probes against the bounds, refuses past them, and frees the slot when they finish', async () => {
    const p = createMemoryPlatform();
    p.kernel.addFile('/a/f', 1).addFile('/b/f', 1);
    p.kernel.addMount({ source: 'x', mountPoint: '/a', fsType: 'nfs', options: [] });
    expect(p.timedStat.configure({ maxParkedPerKey: 2, maxParked: 3 })).toEqual({ maxParked: 3, maxParkedPerKey: 2 });
    p.kernel.hang('/a').hang('/b');
    const a1 = settle(p.timedStat.stat('/a/f', 5000));
    const a2 = settle(p.timedStat.stat('/a/f', 5000));
    const a3 = await settle(p.timedStat.stat('/a/f', 5000));
    expect(a3.error).toBeInstanceOf(ProbeCapacityError);
    expect(a3.error).toMatchObject({ key: '/a' });
    const b1 = settle(p.timedStat.stat('/b/f', 5000)); // a different key: admitted (3 in total)
    const b2 = await settle(p.timedStat.stat('/b/f', 5000)); // global bound reached
    expect(b2.error).toBeInstanceOf(ProbeCapacityError);
    expect(p.timedStat.counters()).toMatchObject({ inFlight: 3, capacityRejectedTotal: 2 });
    p.kernel.clearFaults();
    expect((await a1).value?.size).toBe(1);
    await a2;
    await b1;
    expect(p.timedStat.counters()).toMatchObject({ inFlight: 0, parked: 0 });
    expect((await settle(p.timedStat.stat('/a/f', 1000))).value?.size).toBe(1);
  });

  it('rejects bad limits and bad arguments without changing anything', async () => {
    const p = createMemoryPlatform();
    expect(() => p.timedStat.configure({ maxParked: 0 })).toThrow(RangeError);
    expect(() => p.timedStat.configure({ maxParkedPerKey: 1.5 })).toThrow(RangeError);
    expect(p.timedStat.configure()).toEqual({ maxParked: 256, maxParkedPerKey: 32 });
    await expect(p.timedStat.stat('', 100)).rejects.toThrow(TypeError);
    await expect(p.timedStat.stat('/x', 0)).rejects.toThrow(RangeError);
    expect(p.timedStat.counters().inFlight).toBe(0);
  });
});

describe('mount keys', () => {
  const mounts = parseMounts(
    [
      'sysfs /sys sysfs rw,nosuid 0 0',
      '/dev/sda1 / ext4 rw,relatime 0 0',
      '10.1.1.5:/export /mnt/nas nfs4 rw,vers=4.2 0 0',
      '/dev/sdb1 /mnt/with\\040space ext4 rw 0 0',
    ].join('\n'),
  );

  it('parses /proc/self/mounts lines including octal escapes', () => {
    expect(mounts).toHaveLength(4);
    expect(mounts[2]).toEqual({ source: '10.1.1.5:/export', mountPoint: '/mnt/nas', fsType: 'nfs4', options: ['rw', 'vers=4.2'] });
    expect(mounts[3]!.mountPoint).toBe('/mnt/with space');
  });

  it('picks the longest mount point that contains the path', () => {
    expect(mountPointOf('/mnt/nas/a/b', mounts)).toBe('/mnt/nas');
    expect(mountPointOf('/mnt/nas', mounts)).toBe('/mnt/nas');
    expect(mountPointOf('/mnt/nasty/x', mounts)).toBe('/');
    expect(mountPointOf('/mnt/with space/f', mounts)).toBe('/mnt/with space');
    expect(mountPointOf('/mnt/nas/../other', mounts)).toBe('/');
  });
});
