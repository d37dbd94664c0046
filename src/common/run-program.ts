// Runs an external program as a child process with a time limit. Used where running a program
// is the right tool (administrator-supplied gen/app scripts, mount(8)/umount(8)): the child can
// block in the kernel without blocking the agent, and on timeout or abort the whole process
// group is killed (TERM, then KILL after a grace period) and the promise settles at once.

import { spawn } from 'node:child_process';

export interface RunOptions {
  timeoutMs: number;
  /** The program's environment (default: the agent's). */
  env?: NodeJS.ProcessEnv;
  /**
   * Variables set on top of `env` (they win). Kept apart so a runner can reuse what it built
   * from `env` when only these change from one program to the next.
   */
  extraEnv?: Readonly<Record<string, string>>;
  cwd?: string;
  signal?: AbortSignal;
  /** Time between TERM and KILL when the limit passes. */
  killGraceMs?: number;
  /** Bytes of stdout/stderr kept (the tail). */
  maxOutput?: number;
  /**
   * Put the child in its own process group so a timeout can end everything it started. Off for
   * programs that must stay in the agent's group (see gen/app: services it starts die with the
   * node's agent in tests that simulate a node crash by killing the agent's group).
   */
  ownGroup?: boolean;
}

export interface RunResult {
  /** Exit code, or null when ended by a signal or the time limit. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started at all (ENOENT, EACCES...). */
  spawnError?: string;
  /** The errno name of spawnError ('ENOENT', 'EACCES', ...). */
  spawnErrorCode?: string;
  durationMs: number;
}

/** How long output may still arrive after the program exited while others hold its pipes. */
export const EXIT_DRAIN_MS = 100;

export function runProgram(file: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const max = opts.maxOutput ?? 64 * 1024;
  const ownGroup = opts.ownGroup ?? true;
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let settled = false;
    let timedOut = false;
    let aborted = false;
    const child = spawn(file, args, {
      env: opts.extraEnv ? { ...(opts.env ?? process.env), ...opts.extraEnv } : (opts.env ?? process.env),
      cwd: opts.cwd,
      detached: ownGroup,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const finish = (r: Omit<RunResult, 'stdout' | 'stderr' | 'durationMs' | 'timedOut' | 'aborted'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ ...r, stdout, stderr, timedOut, aborted, durationMs: Date.now() - started });
    };
    const kill = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        if (ownGroup) process.kill(-child.pid, sig);
        else child.kill(sig);
      } catch {
        // Already gone.
      }
    };
    const stop = () => {
      kill('SIGTERM');
      const k = setTimeout(() => kill('SIGKILL'), opts.killGraceMs ?? 2_000);
      k.unref();
      // Settle now: a child stuck in the kernel may never exit, and the caller must not wait.
      finish({ code: null, signal: null });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, opts.timeoutMs);
    const onAbort = () => {
      aborted = true;
      stop();
    };
    if (opts.signal) {
      if (opts.signal.aborted) queueMicrotask(onAbort);
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
    child.stdout!.on('data', (d: Buffer) => {
      stdout = (stdout + d.toString()).slice(-max);
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-max);
    });
    child.on('error', (e: NodeJS.ErrnoException) => finish({ code: null, signal: null, spawnError: e.message, spawnErrorCode: e.code }));
    // 'exit', not 'close': a script that starts a background service leaves that service holding
    // the output pipes, and 'close' would wait for the service to end. But what the program wrote
    // before it exited may still be unread when 'exit' comes (a busy machine lost a script's only
    // line that way), so settle when both pipes have closed, or after a short drain time when
    // something else still holds them open.
    let pipesOpen = 2;
    let exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const settleAfterExit = () => {
      if (!exitStatus) return;
      clearTimeout(drainTimer);
      child.stdout!.destroy();
      child.stderr!.destroy();
      finish(exitStatus);
    };
    for (const pipe of [child.stdout!, child.stderr!]) {
      pipe.once('close', () => {
        if (--pipesOpen === 0) settleAfterExit();
      });
    }
    child.on('exit', (code, signal) => {
      exitStatus = { code, signal };
      if (pipesOpen === 0) settleAfterExit();
      else drainTimer = setTimeout(settleAfterExit, EXIT_DRAIN_MS);
    });
  });
}
