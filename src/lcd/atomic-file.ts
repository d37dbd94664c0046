// Crash-safe replacement of a small file: write a temporary file in the same directory, fsync
// it, rename it over the target (atomic on POSIX file systems), then fsync the directory so the
// rename itself is durable. A kill -9 or power loss at any instant leaves either the old or
// the new contents under the target name, never a mixture.
//
// Why a synchronous twin of native/durable_write.cc exists at all: Lcd.open is synchronous (it
// runs in the Agent's constructor, at start-up, before anything heartbeats or listens), and it
// must leave a whole database on disk before the daemon serves anything: the first start's
// empty database, the marker of an initialised node, and the repair after a fallback. The native
// writer runs on a probe thread and answers with a promise, which open cannot wait for; at that
// moment there is nothing on the event loop a blocking write could delay. Every write after
// open goes through DurableFiles (the native writer, off the event loop, with a time limit).
// Temp files are named like the native writer's (`.tmp-<basename>.<pid>.<sequence>`, created
// exclusively), so removeStaleTempFiles() cleans up after either.
import * as fs from 'node:fs';
import * as path from 'node:path';

const TEMP_PREFIX = '.tmp-';
/** Starts where the native writer's sequence cannot reach in practice, so the two never collide. */
let nextSequence = 2 ** 48;

/** Replace `file` with `data` atomically and durably. */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `${TEMP_PREFIX}${path.basename(file)}.${process.pid}.${nextSequence++}`);
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  fsyncDirSync(dir);
}

/** Make directory entries (creations, renames) durable. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Remove temporary files a crashed writer left behind for `file`. */
export function removeStaleTempFiles(file: string): string[] {
  const dir = path.dirname(file);
  const prefix = `${TEMP_PREFIX}${path.basename(file)}.`;
  const removed: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith(prefix)) {
      fs.rmSync(path.join(dir, name), { force: true });
      removed.push(name);
    }
  }
  return removed;
}
