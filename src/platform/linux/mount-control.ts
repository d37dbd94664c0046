// Mounting through mount(8)/umount(8) run as child processes with a time limit. A child process
// (rather than mount(2) from the addon) is acceptable here: it handles every file-system type's
// option parsing and helpers (mount.nfs...), it can block in the kernel without blocking the
// agent, and on timeout it is abandoned and killed.

import { mkdir } from 'node:fs/promises';

import { runProgram } from '../../common/run-program.js';
import type { MountControl, MountRequest, UnmountMode } from '../mounts.js';

function failure(what: string, r: Awaited<ReturnType<typeof runProgram>>, timeoutMs: number): Error {
  if (r.timedOut) return new Error(`${what} did not finish within ${timeoutMs} ms`);
  if (r.spawnError) return new Error(`${what} could not start: ${r.spawnError}`);
  const msg = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ');
  return new Error(`${what} failed (exit ${r.code ?? r.signal}): ${msg}`);
}

export class LinuxMountControl implements MountControl {
  async mount(req: MountRequest, timeoutMs: number): Promise<void> {
    const args = ['-t', req.fsType];
    if (req.options.length) args.push('-o', req.options.join(','));
    args.push('--', req.source, req.mountPoint);
    const r = await runProgram('mount', args, { timeoutMs });
    if (r.code !== 0) throw failure(`mount ${req.source} on ${req.mountPoint}`, r, timeoutMs);
  }

  async ensureMountPoint(mountPoint: string): Promise<void> {
    await mkdir(mountPoint, { recursive: true });
  }

  async umount(mountPoint: string, timeoutMs: number, mode: UnmountMode = 'normal'): Promise<void> {
    // -c: no realpath() of the target; -i: no umount.<type> helper (umount.nfs talks to the server).
    const flags = mode === 'force' ? ['-f', '-c', '-i'] : mode === 'lazy' ? ['-l', '-c', '-i'] : [];
    const r = await runProgram('umount', [...flags, '--', mountPoint], { timeoutMs, killGraceMs: 500 });
    if (r.code !== 0) throw failure(`umount${flags.length ? ' ' + flags[0] : ''} ${mountPoint}`, r, timeoutMs);
  }

  async remount(mountPoint: string, options: string[], timeoutMs: number): Promise<void> {
    const r = await runProgram('mount', ['-o', ['remount', ...options].join(','), '--', mountPoint], { timeoutMs });
    if (r.code !== 0) throw failure(`remount ${mountPoint}`, r, timeoutMs);
  }
}
