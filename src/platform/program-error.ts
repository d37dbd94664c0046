// A helper program (mdadm, modprobe) that failed, timed out or could not be started, with what
// it said: the typed failure of the few platform calls that run a program instead of a syscall.
import type { RunResult } from '../common/run-program.js';

export class ProgramError extends Error {
  readonly code = 'EPROGRAM';
  readonly program: string;
  readonly args: readonly string[];
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly stderr: string;

  constructor(program: string, args: readonly string[], result: Pick<RunResult, 'code' | 'timedOut' | 'stderr' | 'spawnError' | 'signal'>, timeoutMs: number) {
    const why = result.spawnError
      ? `could not be started: ${result.spawnError}`
      : result.timedOut
        ? `did not finish within ${timeoutMs} ms and was killed`
        : result.signal
          ? `was killed by ${result.signal}`
          : `exited with status ${result.code}`;
    const said = result.stderr.trim().split('\n').slice(-3).join(' / ');
    super(`${program} ${args.join(' ')} ${why}${said ? `: ${said}` : ''}`);
    this.name = 'ProgramError';
    this.program = program;
    this.args = args;
    this.exitCode = result.code;
    this.timedOut = result.timedOut;
    this.stderr = result.stderr;
  }
}
