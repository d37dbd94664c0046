// Which mount a path lives on: the longest mount point that is a path prefix of it. Used as the
// key of the per-mount probe bound, so one dead mount cannot use up every probe thread.
import { posix } from 'node:path';

import type { MountEntry } from './platform.js';

export function mountPointOf(path: string, mounts: readonly MountEntry[]): string {
  const target = posix.resolve(path);
  let best = '/';
  for (const m of mounts) {
    const mp = m.mountPoint;
    const inside = mp === '/' || target === mp || target.startsWith(mp.endsWith('/') ? mp : `${mp}/`);
    if (inside && mp.length > best.length) best = mp;
  }
  return best;
}

/** Parses /proc/self/mounts text (fields separated by spaces, octal escapes like \040). */
export function parseMounts(text: string): MountEntry[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    out.push({ source: unescape(f[0]!), mountPoint: unescape(f[1]!), fsType: f[2]!, options: f[3]!.split(',') });
  }
  return out;
}
