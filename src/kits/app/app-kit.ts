// gen/app: protects an application through programs the administrator supplies.
//
// Instance settings (ResourceInstance.info):
//   restore     path of the program that starts the application (required)
//   remove      path of the program that stops it (required)
//   quickCheck  path of the monitor program (optional; without it the resource is not monitored
//               and every quickCheck reports success with the reason "not monitored")
//   recover     path of the local-recovery program (optional; without it a failed quickCheck
//               fails the hierarchy over at once)
//   arg         optional argument passed as $1 to every program
//   <action>TimeoutMs  optional per-instance time limits (restoreTimeoutMs, removeTimeoutMs,
//               quickCheckTimeoutMs, recoverTimeoutMs); the engine enforces them
//
// Environment of every program: VIGIL_TAG, VIGIL_ID, VIGIL_APP (gen/app), VIGIL_ACTION (restore,
// remove, quickCheck, recover), VIGIL_SYSTEM (this system's name), VIGIL_CHECK_DEPTH (0/10/20,
// quickCheck only), plus the agent's own environment.
//
// Exit codes: 0 success; 2 transient failure, retry here (recovery class retry-here);
// 3 fatal, an administrator must look (fatal); any other code, a signal, or running past the
// time limit: the application cannot run here (move-elsewhere). A signal from elsewhere is the
// seeds' error 000026 (END failed <action> for <tag> on server <server> due to <signal> signal).
//
// Every program runs in a session and process group of its own: when it passes its time limit
// the whole group is ended (SIGTERM, then SIGKILL after the grace), so a hung restore cannot leave
// a child behind that finishes after the hierarchy moved to another system. A service a program
// starts in the background stays in that group and keeps running after the program exits; it
// carries vigild's mark in its environment, so a node that must stop at once (NodePower.endAgent)
// ends it too.
//
// The programs run as root: create and extend refuse one that someone else could change
// (program-safety.ts, error 108001).

import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';

import { errorNumber, renderErrorLine } from '../../common/error-table.js';
import { runProgram, type RunResult } from '../../common/run-program.js';
import type { ProgramRunner } from '../../platform/programs.js';
import {
  DEFAULT_TIME_LIMITS,
  failed,
  ok,
  type ActionContext,
  type ActionResult,
  type CheckDepth,
  type Kit,
  type ResourceInstance,
} from '../kit.js';
import { actionTimeLimitMs, timeLimitOverrideProblem } from '../action-time-limit.js';
import { programProblem, type ProgramProblem, type StatFn } from './program-safety.js';

export const APP_KIT = 'gen/app';

/** How long each stat of a program's safety check may take (a program on a hung NFS mount). */
const PROGRAM_CHECK_TIMEOUT_MS = 5_000;

/** The default stat (tests without a platform); vigild passes its time-limited one. */
const statWithoutLimit: StatFn = (path) => stat(path);

type ProgramAction = 'restore' | 'remove' | 'quickCheck' | 'recover';

/** The resource and system a program ran for, named in the seeds' signal error (000026). */
export interface ProgramRunFor {
  tag: string;
  system: string;
}

export function exitCodeToResult(action: string, r: RunResult, runFor: ProgramRunFor): ActionResult {
  if (r.spawnError) return failed('fatal', `${action} program could not start: ${r.spawnError}`);
  if (r.timedOut) return failed('move-elsewhere', `${action} program passed its time limit`);
  if (r.aborted) return failed('move-elsewhere', `${action} program was stopped by the engine`);
  const detail = (r.stderr || r.stdout).trim().split('\n').at(-1) ?? '';
  const why = detail ? `: ${detail}` : '';
  if (r.code === 0) return ok(detail);
  if (r.code === 2) return failed('retry-here', `${action} program asked to retry (exit 2)${why}`);
  if (r.code === 3) return failed('fatal', `${action} program reported a fatal error (exit 3)${why}`);
  if (r.code === null) {
    const line = renderErrorLine(errorNumber('ACTION_SIGNAL'), { action, tag: runFor.tag, server: runFor.system, signal: r.signal ?? 'an unknown' });
    return failed('move-elsewhere', `${line}${why}`);
  }
  return failed('move-elsewhere', `${action} program failed (exit ${r.code})${why}`);
}

export class AppKit implements Kit {
  readonly app = APP_KIT;
  readonly timeLimits = { ...DEFAULT_TIME_LIMITS, restore: 300_000, remove: 300_000, quickCheck: 60_000, recover: 300_000 };
  readonly supportsRecover = true;
  readonly maxCheckDepth: CheckDepth = 20;

  /**
   * `programs`: how the programs are run; vigild passes its platform's (the addon's spawner,
   * cheap enough for hundreds of quickChecks a second), the default is child_process.
   */
  constructor(
    private readonly programs: ProgramRunner = { run: runProgram },
    /** How program files are checked: vigild passes its platform's TimedStat (hang-proof). */
    private readonly statFile: StatFn = statWithoutLimit,
  ) {}

  /**
   * The agent's environment, read once: every read of process.env goes through a native getter
   * per variable, a cost paid hundreds of times a second at 1,000 monitored resources, and one
   * unchanging object lets the runner reuse what it built from it (the VIGIL_* variables go in
   * extraEnv). vigild never changes its own environment.
   */
  private readonly agentEnv: NodeJS.ProcessEnv = { ...process.env };

  validate(inst: ResourceInstance): ActionResult {
    for (const key of ['restore', 'remove'] as const) {
      if (!inst.info[key]) return failed('fatal', `gen/app resource ${inst.tag} needs a ${key} program`);
    }
    for (const key of ['restore', 'remove', 'quickCheck', 'recover'] as const) {
      const p = inst.info[key];
      if (p !== undefined && p !== '' && !isAbsolute(p)) return failed('fatal', `${key} program must be an absolute path, not "${p}"`);
    }
    const badLimit = timeLimitOverrideProblem(inst.info);
    if (badLimit) return failed('fatal', badLimit);
    return ok();
  }

  private async programsUsable(inst: ResourceInstance): Promise<ActionResult> {
    const v = this.validate(inst);
    if (!v.ok) return v;
    for (const key of ['restore', 'remove', 'quickCheck', 'recover'] as const) {
      const p = inst.info[key];
      if (!p) continue;
      let problem: ProgramProblem | undefined;
      try {
        problem = await programProblem(p, this.statFile, PROGRAM_CHECK_TIMEOUT_MS);
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        problem = code === 'ENOENT' || code === 'ENOTDIR' ? { kind: 'not-runnable', reason: 'it does not exist' } : { kind: 'unsafe', reason: `it cannot be checked: ${(e as Error).message}` };
      }
      if (problem?.kind === 'not-runnable') return failed('fatal', `${key} program ${p} does not exist or is not executable: ${problem.reason}`);
      const unsafe = problem?.reason;
      if (unsafe) return failed('fatal', renderErrorLine(errorNumber('APP_PROGRAM_UNSAFE'), { action: key, path: p, reason: unsafe }));
    }
    return ok();
  }

  create(inst: ResourceInstance): Promise<ActionResult> {
    return this.programsUsable(inst);
  }

  canExtend(inst: ResourceInstance): Promise<ActionResult> {
    return this.programsUsable(inst);
  }

  extend(inst: ResourceInstance): Promise<ActionResult> {
    return this.programsUsable(inst);
  }

  async unextend(): Promise<ActionResult> {
    return ok('nothing to undo for gen/app');
  }

  async delete(): Promise<ActionResult> {
    return ok('nothing to undo for gen/app');
  }

  private async run(inst: ResourceInstance, action: ProgramAction, ctx: ActionContext, depth?: CheckDepth): Promise<ActionResult> {
    const program = inst.info[action]!;
    const limit = actionTimeLimitMs(inst.info, action, this.timeLimits[action]);
    const env: Record<string, string> = {
      VIGIL_TAG: inst.tag,
      VIGIL_ID: inst.id,
      VIGIL_APP: inst.app,
      VIGIL_ACTION: action,
      VIGIL_SYSTEM: ctx.system,
    };
    if (depth !== undefined) env['VIGIL_CHECK_DEPTH'] = String(depth);
    const args = inst.info['arg'] ? [inst.info['arg']] : [];
    const r = await this.programs.run(program, args, { timeoutMs: limit, env: this.agentEnv, extraEnv: env, signal: ctx.signal, ownGroup: true });
    const res = exitCodeToResult(action, r, { tag: inst.tag, system: ctx.system });
    ctx.log(!res.ok ? 'warn' : action === 'quickCheck' ? 'debug' : 'info', `${action} program ${program} ${res.ok ? 'succeeded' : 'failed'}`, {
      exitCode: r.code,
      durationMs: r.durationMs,
      reason: res.reason,
    });
    return res;
  }

  restore(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    return this.run(inst, 'restore', ctx);
  }

  remove(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    return this.run(inst, 'remove', ctx);
  }

  async quickCheck(inst: ResourceInstance, depth: CheckDepth, ctx: ActionContext): Promise<ActionResult> {
    if (!inst.info['quickCheck']) return ok('not monitored (no quickCheck program)');
    return this.run(inst, 'quickCheck', ctx, depth);
  }

  async recover(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult> {
    if (!inst.info['recover']) return failed('move-elsewhere', 'no recover program: local recovery not possible');
    return this.run(inst, 'recover', ctx);
  }

  canFailoverNow(): { ok: boolean; reason: string } {
    return { ok: true, reason: '' };
  }
}
