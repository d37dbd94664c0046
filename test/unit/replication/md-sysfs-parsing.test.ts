// How the Linux md control reads md's sysfs values and device numbers (pure helpers).
import { describe, expect, it } from 'vitest';

import { decodeDevNumber, mdKernelName, parseSpeedMax, parseSyncCompleted, parseSyncSpeed } from '../../../src/platform/linux/md-control.js';

describe('md sysfs values', () => {
  it('sync_completed: "done / total" in sectors, anything else means no resync', () => {
    expect(parseSyncCompleted('2048 / 262144\n')).toEqual({ doneSectors: 2048, totalSectors: 262144 });
    expect(parseSyncCompleted('none\n')).toBeUndefined();
    expect(parseSyncCompleted('delayed\n')).toBeUndefined();
  });
  it('sync_speed_max: "N (local)" is the array\'s own ceiling, "(system)" follows the global one', () => {
    expect(parseSpeedMax('50000 (local)\n')).toBe(50000);
    expect(parseSpeedMax('200000 (system)\n')).toBe('system');
  });
  it('sync_speed: KiB/s of the running resync; "none" when none runs', () => {
    expect(parseSyncSpeed('10240\n')).toBe(10240);
    expect(parseSyncSpeed('0\n')).toBe(0);
    expect(parseSyncSpeed('none\n')).toBeUndefined();
    expect(parseSyncSpeed('')).toBeUndefined();
  });
  it('dev_t: glibc major/minor split, including large minors', () => {
    expect(decodeDevNumber(0x2b00)).toEqual({ major: 43, minor: 0 });
    expect(decodeDevNumber(0xfe20)).toEqual({ major: 254, minor: 32 });
    // minor 256 of major 259 (an NVMe partition): minor's high bits live above the major.
    expect(decodeDevNumber((259 << 8) | (256 << 12))).toEqual({ major: 259, minor: 256 });
  });
  it('only /dev/mdN names an md device', () => {
    expect(mdKernelName('/dev/md12')).toBe('md12');
    expect(() => mdKernelName('/dev/sda')).toThrow(/not an md device path/);
    expect(() => mdKernelName('/dev/md0/../sda')).toThrow(/not an md device path/);
  });
});
