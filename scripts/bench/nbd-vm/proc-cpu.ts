// CPU time of a server and its direct children from /proc/<pid>/stat lines: Debian's nbd-server
// serves each connection in a forked child, which is reaped (and its time moved into the
// parent's cutime/cstime) only when the connection ends, so a figure taken while a client is
// connected must add the live children; Vigil's server is one process (its threads included).

/** CPU milliseconds (at USER_HZ = 100) of `pid` with its reaped children and its live direct children. */
export function treeCpuMs(statLines: string, pid: number): number {
  let ticks = 0;
  let found = false;
  for (const line of statLines.split('\n')) {
    const close = line.lastIndexOf(')');
    if (close < 0) continue;
    const self = Number(line.slice(0, line.indexOf('(')).trim());
    // After "(comm) ": state, ppid, ... utime is field 14, so index 11 here; then stime, cutime, cstime.
    const fields = line.slice(close + 2).trim().split(' ');
    const ppid = Number(fields[1]);
    if (self !== pid && ppid !== pid) continue;
    if (self === pid) found = true;
    ticks += [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  }
  if (!found) throw new Error(`no /proc stat line for process ${pid}`);
  return ticks * 10;
}
