// Finds the processes that keep a mount busy by walking /proc/<pid>/{cwd,root,fd/*,maps}. Only
// readlink and reads of procfs are used: they report the path the kernel remembers without
// touching the file system behind it, so this cannot hang on a dead NFS server the way fuser
// (which stats every file) can.

import { readdir, readFile, readlink } from 'node:fs/promises';

import { processRunning } from '../../common/process-alive.js';
import type { Holder, MountHolders } from '../mounts.js';

function under(path: string, mountPoint: string): boolean {
  const p = path.endsWith(' (deleted)') ? path.slice(0, -' (deleted)'.length) : path;
  const mp = mountPoint.endsWith('/') && mountPoint !== '/' ? mountPoint.slice(0, -1) : mountPoint;
  return p === mp || p.startsWith(mp + '/');
}

async function link(p: string): Promise<string | undefined> {
  try {
    return await readlink(p);
  } catch {
    return undefined;
  }
}

export class LinuxMountHolders implements MountHolders {
  constructor(private readonly procRoot = '/proc') {}

  async find(mountPoint: string): Promise<Holder[]> {
    const out: Holder[] = [];
    const pids = (await readdir(this.procRoot)).filter((d) => /^\d+$/.test(d)).map(Number);
    for (const pid of pids) {
      if (pid === process.pid) continue;
      const base = `${this.procRoot}/${pid}`;
      const hows: string[] = [];
      const cwd = await link(`${base}/cwd`);
      if (cwd && under(cwd, mountPoint)) hows.push('cwd');
      const root = await link(`${base}/root`);
      if (root && root !== '/' && under(root, mountPoint)) hows.push('root');
      let fds: string[] = [];
      try {
        fds = await readdir(`${base}/fd`);
      } catch {
        // Gone, or not ours to see.
      }
      for (const fd of fds) {
        const t = await link(`${base}/fd/${fd}`);
        if (t && t.startsWith('/') && under(t, mountPoint)) hows.push(`fd ${fd}`);
      }
      try {
        const maps = await readFile(`${base}/maps`, 'utf8');
        if (maps.split('\n').some((l) => {
          const i = l.indexOf('/');
          return i >= 0 && under(l.slice(i), mountPoint);
        })) hows.push('maps');
      } catch {
        // Gone, or not ours to see.
      }
      if (hows.length === 0) continue;
      let command = '';
      try {
        command = (await readFile(`${base}/cmdline`, 'utf8')).split('\0').filter(Boolean).join(' ');
      } catch {
        // Gone.
      }
      out.push({ pid, how: hows.join(','), command });
    }
    return out;
  }

  async end(holders: Holder[], graceMs: number): Promise<number[]> {
    const pids = holders.map((h) => h.pid);
    for (const pid of pids) signal(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && pids.some(processRunning)) await new Promise((r) => setTimeout(r, 50));
    for (const pid of pids) if (processRunning(pid)) signal(pid, 'SIGKILL');
    return pids;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

