// In-memory MountControl, MountHolders and FsProbe over a MemoryKernel, for unit tests of the
// file-system kits. Mounts change the kernel's mount table; probes go through the kernel's
// stat so its hang/fail faults apply; a probe that does not answer in time rejects like the
// real one. Extra fault hooks: failing mounts/umounts, and fake holder processes that only go
// away when ended.

import { posix } from 'node:path';

import type { FsProbe, Holder, MountControl, MountHolders, MountRequest, UnmountMode } from '../mounts.js';
import type { MemoryKernel } from './kernel.js';

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function isNetworkSource(source: string): boolean {
  return !source.startsWith('/') && source.includes(':');
}

export class MemoryMounts implements MountControl, MountHolders, FsProbe {
  /** Mount points whose next mount fails with this message. */
  readonly mountFailures = new Map<string, string>();
  /** Fake processes holding mount points; they vanish only when ended (unless `stubborn`). */
  readonly holding = new Map<string, Array<Holder & { ignoresTerm?: boolean }>>();
  readonly signals: Array<{ pid: number; signal: string }> = [];
  readonly calls: string[] = [];
  /** Mount points that refuse writes (depth-20 probe fails). */
  readonly readOnlyFailures = new Set<string>();
  /** Network mount sources (SERVER:/path) whose mounts fail with this message, every time. */
  readonly sourceFailures = new Map<string, string>();
  /** Network mount sources whose mounts hang until their time limit (a server that does not answer). */
  readonly hungSources = new Set<string>();
  /** Mount points whose normal and forced unmounts hang (a dead NFS server); lazy ones still detach. */
  readonly hungUnmounts = new Set<string>();

  constructor(private readonly kernel: MemoryKernel) {}

  async ensureMountPoint(mountPoint: string): Promise<void> {
    this.kernel.addDirectory(mountPoint);
  }

  async mount(req: MountRequest, timeoutMs: number): Promise<void> {
    this.calls.push(`mount ${req.source} ${req.mountPoint} ${req.options.join(',')}`);
    if (isNetworkSource(req.source)) {
      // A network file system: no device node; the server's faults decide.
      if (this.hungSources.has(req.source)) await withTimeout(new Promise<void>(() => undefined), timeoutMs, `mount ${req.source}`);
      const refused = this.sourceFailures.get(req.source);
      if (refused !== undefined) throw new Error(refused);
    } else {
      await withTimeout(this.kernel.stat(req.source), timeoutMs, `mount ${req.source}`);
    }
    if (!(await this.kernel.stat(req.mountPoint).then(() => true, () => false))) {
      throw new Error(`mount ${req.source} on ${req.mountPoint} failed: mount: ${req.mountPoint}: mount point does not exist.`);
    }
    const f = this.mountFailures.get(req.mountPoint);
    if (f !== undefined) {
      this.mountFailures.delete(req.mountPoint);
      throw new Error(f);
    }
    this.kernel.addMount({ source: req.source, mountPoint: req.mountPoint, fsType: req.fsType, options: req.options.length ? req.options : ['rw'] });
  }

  async umount(mountPoint: string, timeoutMs: number, mode: UnmountMode = 'normal'): Promise<void> {
    this.calls.push(mode === 'normal' ? `umount ${mountPoint}` : `umount -${mode === 'force' ? 'f' : 'l'} ${mountPoint}`);
    // A hung server holds normal and forced unmounts (they talk to it); a lazy one only detaches.
    if (mode !== 'lazy' && this.hungUnmounts.has(mountPoint)) {
      await withTimeout(new Promise<void>(() => undefined), timeoutMs, `umount ${mountPoint}`);
    }
    if (mode !== 'lazy' && (this.holding.get(mountPoint) ?? []).length > 0) throw new Error(`umount: ${mountPoint}: target is busy`);
    const i = this.kernel.mounts.map((m) => m.mountPoint).lastIndexOf(mountPoint);
    if (i < 0) throw new Error(`umount: ${mountPoint}: not mounted`);
    this.kernel.mounts.splice(i, 1);
  }

  async remount(mountPoint: string, options: string[], timeoutMs: number): Promise<void> {
    this.calls.push(`remount ${mountPoint} ${options.join(',')}`);
    const m = this.kernel.mounts.filter((e) => e.mountPoint === mountPoint).at(-1);
    if (!m) throw new Error(`mount: ${mountPoint}: not mounted`);
    await withTimeout(this.kernel.stat(mountPoint), timeoutMs, `remount ${mountPoint}`);
    // Like the kernel: "ro" and "rw" replace each other, other options are added.
    const flips = new Set(options.flatMap((o) => (o === 'ro' || o === 'rw' ? ['ro', 'rw'] : [o])));
    m.options = [...m.options.filter((o) => !flips.has(o)), ...options];
    this.readOnlyFailures.delete(mountPoint);
  }

  async find(mountPoint: string): Promise<Holder[]> {
    return (this.holding.get(mountPoint) ?? []).map(({ pid, how, command }) => ({ pid, how, command }));
  }

  async end(holders: Holder[], graceMs: number): Promise<number[]> {
    void graceMs;
    for (const h of holders) {
      this.signals.push({ pid: h.pid, signal: 'SIGTERM' });
      for (const [mp, list] of this.holding) {
        const stubborn = list.filter((x) => x.pid === h.pid && x.ignoresTerm);
        if (stubborn.length) this.signals.push({ pid: h.pid, signal: 'SIGKILL' });
        this.holding.set(mp, list.filter((x) => x.pid !== h.pid));
      }
    }
    return holders.map((h) => h.pid);
  }

  async readDir(path: string, timeoutMs: number): Promise<string[]> {
    await withTimeout(this.kernel.stat(path), timeoutMs, `reading ${path}`);
    return this.kernel.list(path);
  }

  async writeProbe(dir: string, timeoutMs: number): Promise<void> {
    await withTimeout(this.kernel.stat(posix.join(dir, '.')), timeoutMs, `writing a probe file in ${dir}`);
    const mount = this.kernel.mounts.filter((m) => dir === m.mountPoint || dir.startsWith(m.mountPoint.replace(/\/?$/, '/'))).at(-1);
    if (this.readOnlyFailures.has(dir) || mount?.options.includes('ro')) throw new Error(`writing a probe file in ${dir} failed: EROFS`);
  }
}
