// Whether a process exists (signal 0; a zombie counts as existing). EPERM also means it exists,
// but the callers run as root or ask about their own children, so any error is "gone".
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
