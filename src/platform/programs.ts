// Running external programs with a time limit (administrator-supplied gen/app scripts, the
// quickChecks among them). The Linux implementation starts them from the addon
// (native/process_spawner.cc: posix_spawn on a launcher thread, one supervisor thread that
// reaps and reads them, results to JS in batches); the memory one runs programs the test defines.
// Options and results are those of common/run-program.ts (the child_process version):
//  - the promise always resolves, within the time limit (timedOut) or at stop (aborted);
//  - ownGroup (default true): the program starts in a session of its own and a time limit ends
//    its whole process group (SIGTERM, SIGKILL after killGraceMs); otherwise only the program;
//  - stdout/stderr: the tail (maxOutput bytes) of each; a program that cannot start resolves
//    with spawnError (and spawnErrorCode, e.g. 'ENOENT', 'EACCES').
import type { RunOptions, RunResult } from '../common/run-program.js';

export type { RunOptions, RunResult };

export interface ProgramRunner {
  run(file: string, args: string[], opts: RunOptions): Promise<RunResult>;
}
