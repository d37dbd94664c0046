// ProgramRunner in memory for unit tests: the test defines what each program path does (what it
// writes, how it ends, how long it runs, whether it ignores SIGTERM, what it leaves running in
// its process group), and the runner applies the same rules as the Linux one: a time limit or a
// stop sends SIGTERM to the program (to its whole group with ownGroup) and resolves at once,
// SIGKILL follows after the grace; missing or non-executable programs fail to start.
import type { RunOptions, RunResult } from '../../common/run-program.js';
import type { ProgramRunner } from '../programs.js';

export interface MemoryProgramCall {
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string | undefined;
}

/** What one run of a memory program does. */
export interface MemoryProgramBehaviour {
  /** Exit code (default 0) once runsMs has passed. */
  code?: number;
  /** Ends by this signal instead of an exit code. */
  signal?: NodeJS.Signals;
  stdout?: string;
  stderr?: string;
  /** Run time before it ends on its own (default 0); Infinity: only a signal ends it. */
  runsMs?: number;
  /** SIGTERM does not end it (SIGKILL does). */
  ignoresTerm?: boolean;
  /** Processes it starts in its process group that ignore SIGTERM and never end on their own. */
  leavesInGroup?: number;
}

type Definition = { executable: boolean; behave: (call: MemoryProgramCall) => MemoryProgramBehaviour };

interface SimProcess {
  group: number;
  ignoresTerm: boolean;
  end(signal: NodeJS.Signals | null, code: number | null): void;
  alive: boolean;
}

export class MemoryProgramRunner implements ProgramRunner {
  private readonly programs = new Map<string, Definition>();
  private readonly processes = new Set<SimProcess>();
  private nextGroup = 1;
  /** Every run, in order: the file and its arguments. */
  readonly calls: MemoryProgramCall[] = [];

  /** Defines (or replaces) the program at `file`. */
  define(file: string, behave: MemoryProgramBehaviour | ((call: MemoryProgramCall) => MemoryProgramBehaviour), opts: { executable?: boolean } = {}): void {
    this.programs.set(file, { executable: opts.executable ?? true, behave: typeof behave === 'function' ? behave : () => behave });
  }

  /** Simulated processes still running (programs and what they left in their groups). */
  running(): number {
    return [...this.processes].filter((p) => p.alive).length;
  }

  run(file: string, args: string[], opts: RunOptions): Promise<RunResult> {
    const started = Date.now();
    const call: MemoryProgramCall = { file, args: [...args], env: { ...(opts.env ?? process.env), ...opts.extraEnv }, cwd: opts.cwd };
    this.calls.push(call);
    const ownGroup = opts.ownGroup ?? true;
    const max = opts.maxOutput ?? 64 * 1024;
    const def = this.programs.get(file);
    if (!def || !def.executable) {
      const code = def ? 'EACCES' : 'ENOENT';
      const text = def ? 'Permission denied' : 'No such file or directory';
      return Promise.resolve({
        code: null, signal: null, timedOut: false, aborted: false, stdout: '', stderr: '',
        spawnError: `${code}: ${text}, posix_spawn '${file}'`, spawnErrorCode: code, durationMs: 0,
      });
    }
    const b = def.behave(call);
    const stdout = (b.stdout ?? '').slice(-max);
    const stderr = (b.stderr ?? '').slice(-max);
    // A program in the agent's group shares group 0 with everything else started that way.
    const group = ownGroup ? this.nextGroup++ : 0;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (r: Omit<RunResult, 'stdout' | 'stderr' | 'durationMs'>, out = true) => {
        if (settled) return;
        settled = true;
        clearTimeout(limit);
        opts.signal?.removeEventListener('abort', onAbort);
        resolve({ ...r, stdout: out ? stdout : '', stderr: out ? stderr : '', durationMs: Date.now() - started });
      };
      const leader = this.spawnSim(group, b.ignoresTerm ?? false, (signal, code) => settle({ code, signal, timedOut: false, aborted: false }));
      for (let i = 0; i < (b.leavesInGroup ?? 0); i++) this.spawnSim(group, true, () => {});
      const runsMs = b.runsMs ?? 0;
      const ends = Number.isFinite(runsMs) ? setTimeout(() => leader.end(b.signal ?? null, b.signal ? null : (b.code ?? 0)), runsMs) : undefined;
      const stop = (timedOut: boolean) => {
        clearTimeout(ends);
        // Settles first: what the signals end afterwards no longer changes the result.
        settle({ code: null, signal: null, timedOut, aborted: !timedOut }, false);
        this.signal(ownGroup ? { group } : { process: leader }, 'SIGTERM');
        setTimeout(() => this.signal(ownGroup ? { group } : { process: leader }, 'SIGKILL'), opts.killGraceMs ?? 2_000).unref?.();
      };
      const limit = setTimeout(() => stop(true), opts.timeoutMs);
      const onAbort = () => stop(false);
      if (opts.signal?.aborted) queueMicrotask(onAbort);
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private spawnSim(group: number, ignoresTerm: boolean, onEnd: (signal: NodeJS.Signals | null, code: number | null) => void): SimProcess {
    const p: SimProcess = {
      group,
      ignoresTerm,
      alive: true,
      end: (signal, code) => {
        if (!p.alive) return;
        p.alive = false;
        this.processes.delete(p);
        onEnd(signal, code);
      },
    };
    this.processes.add(p);
    return p;
  }

  private signal(target: { group: number } | { process: SimProcess }, sig: 'SIGTERM' | 'SIGKILL'): void {
    const victims = 'group' in target ? [...this.processes].filter((p) => p.group === target.group) : [target.process];
    for (const p of victims) if (sig === 'SIGKILL' || !p.ignoresTerm) p.end(sig, null);
  }
}
