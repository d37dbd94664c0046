// Read and write probes of a mounted file system, each in a short-lived child process with a
// time limit. I/O on a dead disk or server can block in the kernel; in a child it blocks only
// the child (abandoned and killed on timeout), never the agent or libuv's shared thread pool.

import { runProgram } from '../../common/run-program.js';
import type { FsProbe } from '../mounts.js';

const READ_DIR = `const fs=require('fs');process.stdout.write(JSON.stringify(fs.readdirSync(process.argv[1])))`;
const WRITE_PROBE = `const fs=require('fs'),p=require('path').join(process.argv[1],'.vigil-probe-'+process.pid);` +
  `const fd=fs.openSync(p,'w');fs.writeSync(fd,'vigil write probe '+Date.now()+'\\n');fs.fsyncSync(fd);fs.closeSync(fd);fs.unlinkSync(p)`;

export class LinuxFsProbe implements FsProbe {
  async readDir(path: string, timeoutMs: number): Promise<string[]> {
    const r = await runProgram(process.execPath, ['-e', READ_DIR, path], { timeoutMs, killGraceMs: 0 });
    if (r.timedOut) throw new Error(`reading ${path} did not finish within ${timeoutMs} ms`);
    if (r.code !== 0) throw new Error(`reading ${path} failed: ${lastLine(r.stderr)}`);
    return JSON.parse(r.stdout) as string[];
  }

  async writeProbe(dir: string, timeoutMs: number): Promise<void> {
    const r = await runProgram(process.execPath, ['-e', WRITE_PROBE, dir], { timeoutMs, killGraceMs: 0 });
    if (r.timedOut) throw new Error(`writing a probe file in ${dir} did not finish within ${timeoutMs} ms`);
    if (r.code !== 0) throw new Error(`writing a probe file in ${dir} failed: ${lastLine(r.stderr)}`);
  }
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n').filter((l) => /Error|error:/.test(l));
  return (lines[0] ?? s.trim().split('\n').at(-1) ?? '').trim();
}
