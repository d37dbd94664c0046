// A NAS failure found inside a helper several calls below an action (the mount table could not be
// read, 107008; the record names no device, 107007) is thrown as a NasFailure and turned back
// into that action's result at its top, so every action answers with the seeds' number instead
// of the executor's generic "restore threw: ...".
import type { MountEntry, MountTable } from '../../platform/platform.js';
import { failed, type ActionResult } from '../kit.js';
import { nasMessages } from './nas-errors.js';

export class NasFailure extends Error {
  constructor(readonly result: ActionResult) {
    super(result.reason);
  }
}

/** Runs an action body; a NasFailure thrown inside becomes its result, anything else propagates. */
export async function nasAction(body: () => Promise<ActionResult>): Promise<ActionResult> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof NasFailure) return e.result;
    throw e;
  }
}

/** The mount table, or a NasFailure with 107008. procfs never hangs, so no time limit is needed. */
export async function readMounts(table: MountTable, system: string): Promise<MountEntry[]> {
  try {
    return await table.list();
  } catch (e) {
    // Not this system's fault to pass on: another system may read its table; the hierarchy moves.
    throw new NasFailure(failed('move-elsewhere', nasMessages.mountTableUnreadable(table.path, system, (e as Error).message)));
  }
}
