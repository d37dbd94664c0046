// Whether a process exists, and whether it still runs. processAlive: signal 0 (a zombie counts
// as existing; EPERM also means it exists, but the callers run as root or ask about their own
// children, so any error is "gone"). processRunning: exists and is not a zombie (a zombie has
// ended and holds nothing any more, it only waits to be reaped), from the state in /proc/<pid>/stat.
import { readFileSync } from 'node:fs';

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function processRunning(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may hold spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z';
  } catch {
    return false;
  }
}
