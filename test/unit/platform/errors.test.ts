// mapNativeError: the addon's plain Errors (code/errno/syscall/path) become typed errors.
import { describe, expect, it } from 'vitest';

import { ProbeCapacityError, ProbeTimeoutError, SysError, mapNativeError } from '../../../src/platform/errors.js';

function nativeError(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

describe('mapNativeError', () => {
  it('maps an errno error to SysError keeping code, errno, syscall, path and message', () => {
    const raw = nativeError("EBUSY: Device or resource busy, ioctl(RUN_ARRAY) '/dev/md0'", {
      code: 'EBUSY',
      errno: 16,
      syscall: 'ioctl(RUN_ARRAY)',
      path: '/dev/md0',
    });
    const mapped = mapNativeError(raw);
    expect(mapped).toBeInstanceOf(SysError);
    expect(mapped).toMatchObject({ code: 'EBUSY', errno: 16, syscall: 'ioctl(RUN_ARRAY)', path: '/dev/md0', message: raw.message });
    expect((mapped as Error).stack).toBe(raw.stack);
  });

  it('maps EPROBETIMEOUT to ProbeTimeoutError with the limit and key', () => {
    const mapped = mapNativeError(
      nativeError('EPROBETIMEOUT: stat ...', { code: 'EPROBETIMEOUT', syscall: 'stat', path: '/mnt/nas/x', timeoutMs: 250, key: '/mnt/nas' }),
    );
    expect(mapped).toBeInstanceOf(ProbeTimeoutError);
    expect(mapped).toMatchObject({ code: 'EPROBETIMEOUT', syscall: 'stat', path: '/mnt/nas/x', timeoutMs: 250, key: '/mnt/nas' });
  });

  it('maps EPROBECAPACITY to ProbeCapacityError', () => {
    const mapped = mapNativeError(nativeError('capacity', { code: 'EPROBECAPACITY', syscall: 'stat', path: '/mnt/nas/x', key: '/mnt/nas' }));
    expect(mapped).toBeInstanceOf(ProbeCapacityError);
    expect(mapped).toMatchObject({ code: 'EPROBECAPACITY', key: '/mnt/nas', path: '/mnt/nas/x' });
  });

  it('leaves errors that are not native syscall errors unchanged', () => {
    const typeError = new TypeError('statWithTimeout(path: string, timeoutMs: number, key: string)');
    expect(mapNativeError(typeError)).toBe(typeError);
    const noSyscall = nativeError('x', { code: 'ENOENT', errno: 2 });
    expect(mapNativeError(noSyscall)).toBe(noSyscall);
    expect(mapNativeError('text')).toBe('text');
  });
});

describe('SysError.fromCode', () => {
  it('looks the errno number up by name', () => {
    expect(SysError.fromCode('ENOENT', 'stat', '/x')).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'stat', path: '/x' });
    expect(SysError.fromCode('ESTALE', 'stat').errno).toBe(116);
    expect(SysError.fromCode('ENOMEDIUM', 'open').errno).toBe(123);
  });

  it('rejects an unknown errno name', () => {
    expect(() => SysError.fromCode('ENOTANERRNO', 'stat')).toThrow(RangeError);
  });
});
