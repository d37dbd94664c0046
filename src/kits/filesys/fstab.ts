// /etc/fstab handling for gen/filesys. A protected file system must not be mounted at boot by
// the system (the agent decides where it is mounted), so its fstab line is removed when it is
// put under protection. The file is rewritten atomically (temp file + rename) and the previous
// content is kept next to it as <fstab>.vigil-backup so nothing is lost.

import { readFile, rename, writeFile, copyFile } from 'node:fs/promises';

export interface FstabLine {
  source: string;
  mountPoint: string;
  fsType: string;
  options: string;
  raw: string;
}

export function parseFstab(text: string): Array<FstabLine | { raw: string }> {
  return text.split('\n').map((raw) => {
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) return { raw };
    const f = t.split(/\s+/);
    if (f.length < 3) return { raw };
    const un = (s: string) => s.replace(/\\040/g, ' ');
    return { source: un(f[0]!), mountPoint: un(f[1]!), fsType: f[2]!, options: f[3] ?? 'defaults', raw };
  });
}

function isEntry(l: FstabLine | { raw: string }): l is FstabLine {
  return 'mountPoint' in l;
}

/** The fstab's text, or undefined when there is no fstab (nothing to find or remove then). */
async function readFstab(fstabPath: string): Promise<string | undefined> {
  try {
    return await readFile(fstabPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** fstab entries for a mount point. */
export async function fstabEntries(fstabPath: string, mountPoint: string): Promise<FstabLine[]> {
  const text = await readFstab(fstabPath);
  if (text === undefined) return [];
  return parseFstab(text).filter(isEntry).filter((l) => l.mountPoint === mountPoint);
}

/**
 * Removes the lines for `mountPoint`; returns the removed lines (empty when there were none,
 * in which case the file is untouched).
 */
export async function removeFstabEntries(fstabPath: string, mountPoint: string): Promise<string[]> {
  const text = await readFstab(fstabPath);
  if (text === undefined) return [];
  const lines = parseFstab(text);
  const removed = lines.filter(isEntry).filter((l) => l.mountPoint === mountPoint).map((l) => l.raw);
  if (removed.length === 0) return [];
  await copyFile(fstabPath, `${fstabPath}.vigil-backup`);
  const kept = lines.filter((l) => !(isEntry(l) && l.mountPoint === mountPoint)).map((l) => l.raw);
  const tmp = `${fstabPath}.vigil-tmp-${process.pid}`;
  await writeFile(tmp, kept.join('\n'), { mode: 0o644 });
  await rename(tmp, fstabPath);
  return removed;
}

/** Every entry of the file ([] when it does not exist). */
export async function allFstabEntries(fstabPath: string): Promise<FstabLine[]> {
  let text: string;
  try {
    text = await readFile(fstabPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return parseFstab(text).filter(isEntry);
}

/** Removes the entries `drop` selects, like removeFstabEntries (backup kept, atomic rewrite). */
export async function removeFstabWhere(fstabPath: string, drop: (l: FstabLine) => boolean): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(fstabPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const lines = parseFstab(text);
  const removed = lines.filter(isEntry).filter(drop).map((l) => l.raw);
  if (removed.length === 0) return [];
  await copyFile(fstabPath, `${fstabPath}.vigil-backup`);
  const kept = lines.filter((l) => !(isEntry(l) && drop(l))).map((l) => l.raw);
  const tmp = `${fstabPath}.vigil-tmp-${process.pid}`;
  await writeFile(tmp, kept.join('\n'), { mode: 0o644 });
  await rename(tmp, fstabPath);
  return removed;
}

/**
 * Puts lines removed earlier back at the end of the file (those not in it again already), like
 * removeFstabEntries (backup kept, atomic rewrite); returns the lines added.
 */
export async function restoreFstabLines(fstabPath: string, raw: readonly string[]): Promise<string[]> {
  const text = (await readFstab(fstabPath)) ?? '';
  const present = new Set(text.split('\n'));
  const added = raw.filter((l) => !present.has(l));
  if (added.length === 0) return [];
  if (text !== '') await copyFile(fstabPath, `${fstabPath}.vigil-backup`);
  const tmp = `${fstabPath}.vigil-tmp-${process.pid}`;
  await writeFile(tmp, (text === '' || text.endsWith('\n') ? text : `${text}\n`) + added.join('\n') + '\n', { mode: 0o644 });
  await rename(tmp, fstabPath);
  return added;
}
