// The --json error object the CLI prints on stdout for every failure, so a script reads one
// JSON value whatever happened: {"error": {"number", "message", ...}, "exitCode"}. The agent's
// structured error is used when the reply carries one; otherwise (no agent, a bad command
// line, a crash) the error text becomes the message.

/** Whether a command line asks for JSON output (before `--`, as a global or command option). */
export function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/** One JSON line for a failed command: the agent's `{error}` if it sent one, else `text`. */
export function jsonError(exitCode: number, data: unknown, text: string): string {
  const fromAgent = data && typeof data === 'object' && 'error' in data ? (data as { error: Record<string, unknown> }).error : undefined;
  const message = text
    .trim()
    .split('\n')
    .map((l) => l.replace(/^vigil: /, '').replace(/^error: /, ''))
    .filter((l) => l !== '' && !l.startsWith('Process: '))
    .join('; ');
  const error = fromAgent ?? { number: 0, message };
  return JSON.stringify({ error, exitCode }) + '\n';
}
