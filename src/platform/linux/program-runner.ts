// ProgramRunner over the addon's process spawner (native/process_spawner.cc): the program is
// started, watched, timed and reaped on the addon's threads, and finished programs come back in
// batches, so the event loop pays one native call per program started and a share of one
// callback per batch (child_process paid a fork of the agent and several handles per program).
// The spawner and its two threads are created on first use.
import { EXIT_DRAIN_MS, type RunOptions, type RunResult } from '../../common/run-program.js';
import type { ProgramRunner } from '../programs.js';
import { loadNativeAddon } from './addon-loader.js';
import type { RawProcessSpawner } from './native-addon.js';

const DEFAULT_KILL_GRACE_MS = 2_000;
const DEFAULT_MAX_OUTPUT = 64 * 1024;

/**
 * The environment as the addon takes it ("KEY=value" strings, undefined values left out). What is
 * built from an `env` object is kept (by identity) for the next program with the same `env`, so
 * a caller that passes one base object and a few `extraEnv` variables per program (gen/app)
 * allocates only those few strings: at hundreds of programs a second, rebuilding every variable
 * each time was most of the garbage the agent made.
 */
const builtEnvs = new WeakMap<object, Map<string, string>>();

function envList(env: NodeJS.ProcessEnv, extra: Readonly<Record<string, string>> | undefined): string[] {
  let base = builtEnvs.get(env);
  if (!base) {
    base = new Map();
    for (const key in env) {
      const value = env[key];
      if (value !== undefined) base.set(key, `${key}=${value}`);
    }
    // process.env can change under us: only plain objects are kept.
    if (env !== process.env) builtEnvs.set(env, base);
  }
  const out: string[] = [];
  for (const [key, entry] of base) if (extra === undefined || !(key in extra)) out.push(entry);
  if (extra) for (const key in extra) out.push(`${key}=${extra[key]}`);
  return out;
}

export class LinuxProgramRunner implements ProgramRunner {
  private spawner: RawProcessSpawner | undefined;

  run(file: string, args: string[], opts: RunOptions): Promise<RunResult> {
    if (opts.signal?.aborted) {
      return Promise.resolve({ code: null, signal: null, timedOut: false, aborted: true, stdout: '', stderr: '', durationMs: 0 });
    }
    this.spawner ??= loadNativeAddon().createProcessSpawner();
    const spawner = this.spawner;
    const { id, result } = spawner.spawn(
      file,
      args,
      envList(opts.env ?? process.env, opts.extraEnv),
      opts.cwd ?? null,
      opts.ownGroup ?? true,
      opts.timeoutMs,
      opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
      opts.maxOutput ?? DEFAULT_MAX_OUTPUT,
      EXIT_DRAIN_MS,
    );
    const signal = opts.signal;
    const onAbort = () => spawner.stop(id);
    signal?.addEventListener('abort', onAbort, { once: true });
    return result.then((raw) => {
      signal?.removeEventListener('abort', onAbort);
      const r: RunResult = {
        code: raw.code,
        signal: raw.signal as NodeJS.Signals | null,
        timedOut: raw.timedOut,
        aborted: raw.aborted,
        stdout: raw.stdout,
        stderr: raw.stderr,
        durationMs: Math.round(raw.durationMs),
      };
      if (raw.spawnError) {
        r.spawnError = raw.spawnError.message;
        r.spawnErrorCode = raw.spawnError.code;
      }
      return r;
    });
  }

  /** Programs whose result is still pending, and those the supervisor still watches. */
  counters(): { pending: number; supervised: number; startedTotal: number; timedOutTotal: number } {
    return this.spawner?.counters() ?? { pending: 0, supervised: 0, startedTotal: 0, timedOutTotal: 0 };
  }
}
