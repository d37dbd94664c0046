// The mount-authorization check: does the server let this system mount the export? The export
// is mounted on a fresh temporary directory (<tmpDir>/nas_mntpt.<pid>.<n>), with a time limit,
// then unmounted and the directory removed. Outcomes carry the seeds' numbers: 107011 when the
// directory cannot be made, 107012 when the server refuses, 107013 when the mount does not come
// back in time (a hung check). Clean-up is bounded too (a lazy unmount when the normal one does
// not finish), so the check never leaves a stuck mount behind it.
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { MountControl } from '../../platform/mounts.js';
import { nasMessages } from './nas-errors.js';

let seq = 0;

export type MountCheck = { ok: true; ms: number } | { ok: false; reason: string };

export async function mountAuthorizationCheck(
  mc: MountControl,
  req: { source: string; fsType: string; options: string[]; system: string; tmpDir: string; timeoutMs: number },
): Promise<MountCheck> {
  const dir = join(req.tmpDir, `nas_mntpt.${process.pid}.${++seq}`);
  try {
    // A fresh directory of our own (mode 0700, never an existing one), then made known to the
    // platform as a mount point (a no-op on Linux; the memory twin's kernel learns it).
    await mkdir(dir, { recursive: false, mode: 0o700 });
    await mc.ensureMountPoint(dir);
  } catch (e) {
    return { ok: false, reason: nasMessages.mkdirFailed(dir, req.system, (e as Error).message) };
  }
  const t0 = performance.now();
  let mounted = false;
  try {
    // Read-only: the check must not change anything on the server.
    const options = [...req.options.filter((o) => o !== 'rw' && o !== 'ro'), 'ro'];
    await mc.mount({ source: req.source, mountPoint: dir, fsType: req.fsType, options }, req.timeoutMs);
    mounted = true;
    return { ok: true, ms: performance.now() - t0 };
  } catch (e) {
    const msg = (e as Error).message;
    if (/did not finish within/.test(msg)) return { ok: false, reason: nasMessages.mountCheckHung(req.source, req.system, req.timeoutMs) };
    return { ok: false, reason: nasMessages.exportNotAccessible(req.source, req.system, `the test mount was refused: ${msg}`) };
  } finally {
    // A mount killed at its limit may still complete in the kernel: detach whatever is there.
    const limit = Math.min(req.timeoutMs, 10_000);
    await mc.umount(dir, limit, mounted ? 'normal' : 'lazy').catch(() => mc.umount(dir, limit, 'lazy').catch(() => undefined));
    await rmdir(dir).catch(() => undefined);
  }
}
