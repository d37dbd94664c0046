// vigild's mark on the processes it starts. gen/app's programs run in process groups of their
// own (so a time limit can end a program and everything it forked), which means killing
// vigild's process group no longer reaches the services they left running. Every process vigild
// starts inherits VIGIL_AGENT_MARK (unique to this run of vigild) from its environment instead,
// and a node that must stop at once finds them by it: a scan of /proc/<pid>/environ, done only
// on that last path (NodePower.endAgent). A service that clears its environment, or is started
// through systemd rather than as vigild's descendant, does not carry the mark.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

export const AGENT_MARK_VAR = 'VIGIL_AGENT_MARK';

/** Gives this process a fresh mark, inherited by everything it starts from now on. */
export function markThisAgent(): string {
  const mark = `${process.pid}.${randomBytes(8).toString('hex')}`;
  process.env[AGENT_MARK_VAR] = mark;
  return mark;
}

/** The pids (other than this process) whose environment holds `name=value`. */
export function processesWithEnv(name: string, value: string, procRoot = '/proc'): number[] {
  const needle = Buffer.from(`\0${name}=${value}\0`);
  const out: number[] = [];
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let env: Buffer;
    try {
      env = readFileSync(`${procRoot}/${entry}/environ`);
    } catch {
      continue; // gone, or a kernel thread
    }
    // Each entry ends in NUL; a leading NUL makes the first entry match like the others.
    if (Buffer.concat([Buffer.from([0]), env]).includes(needle)) out.push(Number(entry));
  }
  return out;
}

/** SIGKILLs every process (other than this one) whose environment holds `name=value`; returns how many. */
export function killProcessesWithEnv(name: string, value: string, procRoot = '/proc'): number {
  let n = 0;
  for (const pid of processesWithEnv(name, value, procRoot)) {
    try {
      process.kill(pid, 'SIGKILL');
      n++;
    } catch {
      // already gone
    }
  }
  return n;
}

/** SIGKILLs every process carrying this vigild's `mark`; returns how many were signalled. */
export function killMarkedProcesses(mark: string, procRoot = '/proc'): number {
  return killProcessesWithEnv(AGENT_MARK_VAR, mark, procRoot);
}
