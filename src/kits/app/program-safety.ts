// gen/app runs the administrator's programs as root (as vigild). A program that anyone else can
// change is a way to root: refuse it when it is not owned by root (or by the user vigild runs
// as), when group or others may write it, and when any directory above it can be changed by
// someone else (owned by another user, or writable by group or others without the sticky bit:
// /tmp-like directories are allowed, since the sticky bit keeps others from replacing entries
// they do not own). Like ssh's StrictModes. The refusal is error 108001. Each stat is time-limited (a program on a dead NFS
// server must not hang create): the caller passes the platform's TimedStat.
// The file's own stat also answers whether it exists and may be executed, so no untimed
// access(2) is needed before it. The directories checked are those of the path as given; when the program is a symbolic link,
// its target's own owner and mode are checked (stat follows links), not the target's directories.
import { dirname } from 'node:path';

import type { FileStat } from '../../platform/platform.js';

export type StatFn = (path: string, timeoutMs: number) => Promise<FileStat>;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_ISVTX = 0o1000;
const WRITABLE_BY_OTHERS = 0o022;
const ANY_EXECUTE = 0o111;

/** What keeps `program` from being run: it cannot be run at all, or it is not safe to run as root. */
export interface ProgramProblem {
  kind: 'not-runnable' | 'unsafe';
  reason: string;
}

/** The problem of `program`, or undefined when it may be run. Throws when a stat fails (ENOENT, time-out). */
export async function programProblem(program: string, stat: StatFn, timeoutMs: number, trustedUid = process.geteuid?.() ?? 0): Promise<ProgramProblem | undefined> {
  const file = await stat(program, timeoutMs);
  // Root may run a file with any execute bit set; with none set the kernel refuses it (EACCES).
  if ((file.mode & S_IFMT) === S_IFREG && (file.mode & ANY_EXECUTE) === 0) return { kind: 'not-runnable', reason: `it is not executable (mode ${octal(file.mode)})` };
  const unsafe = await unsafeReason(program, file, stat, timeoutMs, trustedUid);
  return unsafe === undefined ? undefined : { kind: 'unsafe', reason: unsafe };
}

async function unsafeReason(program: string, file: FileStat, stat: StatFn, timeoutMs: number, trustedUid: number): Promise<string | undefined> {
  const owners = new Set([0, trustedUid]);
  if ((file.mode & S_IFMT) !== S_IFREG) return 'it is not a regular file';
  if (!owners.has(file.uid)) return `it is owned by uid ${file.uid}, not root`;
  if (file.mode & WRITABLE_BY_OTHERS) return `group or others may write it (mode ${octal(file.mode)})`;
  for (let dir = dirname(program); ; dir = dirname(dir)) {
    const d = await stat(dir, timeoutMs);
    if ((d.mode & S_IFMT) !== S_IFDIR) return `${dir} is not a directory`;
    if (!owners.has(d.uid)) return `directory ${dir} is owned by uid ${d.uid}, not root`;
    if (d.mode & WRITABLE_BY_OTHERS && !(d.mode & S_ISVTX)) return `group or others may write directory ${dir} (mode ${octal(d.mode)})`;
    if (dir === '/') return undefined;
  }
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}
