// Crash-safe replacement of a small file: write a temporary file in the same directory, fsync
// it, rename it over the target (atomic on POSIX file systems), then fsync the directory so the
// rename itself is durable. A kill -9 or power loss at any instant leaves either the old or
// the new contents under the target name, never a mixture.
//
// These synchronous versions only serve Lcd.open at start-up; every later LCD write goes through
// the platform's DurableFiles (native/durable_write.cc, same steps off the event loop), which
// names its temp file the same way so removeStaleTempFiles() cleans up after either.
import * as fs from 'node:fs';
import * as path from 'node:path';

const TEMP_PREFIX = '.tmp-';

/** Replace `file` with `data` atomically and durably. */
export function writeFileAtomicSync(file: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `${TEMP_PREFIX}${path.basename(file)}.${process.pid}`);
  const fd = fs.openSync(tmp, 'w', mode);
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
