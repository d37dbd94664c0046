// Typed errors of the platform layer. The addon rejects with plain Errors carrying code, errno,
// syscall and path (native/sys_error.cc); mapNativeError turns them into these classes so
// callers can branch on the type (or on `code`) instead of parsing messages.
import { constants } from 'node:os';

/** Linux errno values that matter for disks and NFS but are missing from Node's os.constants. */
const LINUX_ERRNO_EXTRA: Record<string, number> = {
  ENOTBLK: 15,
  ECOMM: 70,
  EHOSTDOWN: 112,
  EUCLEAN: 117,
  EREMOTEIO: 121,
  ENOMEDIUM: 123,
  EMEDIUMTYPE: 124,
};

/** A failed syscall: `code` is the errno name ('ENOENT'), `errno` the positive C value. */
export class SysError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string | undefined;
  /** For an atomic file replacement (DurableFiles): the failing call came after the rename. */
  commitStarted = false;

  constructor(code: string, errno: number, syscall: string, path?: string, message?: string) {
    super(message ?? `${code}: ${syscall}${path === undefined ? '' : ` '${path}'`} failed`);
    this.name = 'SysError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
  }

  /** Builds a SysError from an errno name, looking the number up in the host's table. */
  static fromCode(code: string, syscall: string, path?: string): SysError {
    const errno = (constants.errno as Record<string, number>)[code] ?? LINUX_ERRNO_EXTRA[code];
    if (errno === undefined) throw new RangeError(`unknown errno name ${code}`);
    return new SysError(code, errno, syscall, path);
  }
}

/** The probe did not return within its limit; its thread stays parked until the kernel answers. */
export class ProbeTimeoutError extends Error {
  readonly code = 'EPROBETIMEOUT';
  readonly syscall: string;
  readonly path: string;
  readonly timeoutMs: number;
  readonly key: string;
  /**
   * Atomic file replacement only (DurableFiles): true when the rename had started before the
   * deadline (the new file is or will be in place, durability not confirmed); false when the
   * write was abandoned before it and will change nothing.
   */
  readonly commitStarted: boolean;

  constructor(syscall: string, path: string, timeoutMs: number, key: string, message?: string, commitStarted = false) {
    super(message ?? `EPROBETIMEOUT: ${syscall} '${path}' did not return within ${timeoutMs} ms`);
    this.name = 'ProbeTimeoutError';
    this.syscall = syscall;
    this.path = path;
    this.timeoutMs = timeoutMs;
    this.key = key;
    this.commitStarted = commitStarted;
  }
}

/** Too many probes on this key (or in total) are in flight or stuck: refused without starting one. */
export class ProbeCapacityError extends Error {
  readonly code = 'EPROBECAPACITY';
  readonly syscall: string;
  readonly path: string;
  readonly key: string;

  constructor(syscall: string, path: string, key: string, message?: string) {
    super(message ?? `EPROBECAPACITY: too many probes stuck on '${key}'; refusing ${syscall} '${path}'`);
    this.name = 'ProbeCapacityError';
    this.syscall = syscall;
    this.path = path;
    this.key = key;
  }
}

interface NativeErrorShape {
  message?: unknown;
  code?: unknown;
  errno?: unknown;
  syscall?: unknown;
  path?: unknown;
  timeoutMs?: unknown;
  key?: unknown;
  commitStarted?: unknown;
}

/**
 * Maps an error thrown or rejected by the addon to the typed error it stands for. Anything that
 * is not a recognisable native error (e.g. a TypeError for bad arguments) is returned unchanged.
 */
export function mapNativeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const e = err as Error & NativeErrorShape;
  const syscall = typeof e.syscall === 'string' ? e.syscall : undefined;
  const path = typeof e.path === 'string' ? e.path : undefined;
  if (e.code === 'EPROBETIMEOUT' && syscall !== undefined && path !== undefined) {
    const mapped = new ProbeTimeoutError(syscall, path, Number(e.timeoutMs), String(e.key ?? ''), e.message, e.commitStarted === true);
    mapped.stack = e.stack;
    return mapped;
  }
  if (e.code === 'EPROBECAPACITY' && syscall !== undefined && path !== undefined) {
    const mapped = new ProbeCapacityError(syscall, path, String(e.key ?? ''), e.message);
    mapped.stack = e.stack;
    return mapped;
  }
  if (typeof e.code === 'string' && typeof e.errno === 'number' && syscall !== undefined) {
    const mapped = new SysError(e.code, e.errno, syscall, path, e.message);
    mapped.commitStarted = e.commitStarted === true;
    mapped.stack = e.stack;
    return mapped;
  }
  return err;
}

/** Whether a failed atomic file replacement had already started its rename (see DurableFiles). */
export function commitStarted(err: unknown): boolean {
  return (err instanceof ProbeTimeoutError || err instanceof SysError) && err.commitStarted;
}
