// Data replication's numbered messages, rendered from the error table (src/common/error-rows/
// replication.ts has the numbers, texts and actions). The seeds' messages take their values in
// order, so callers pass an argument list; the n-th argument fills the parameter <n>, and a
// reason fills the optional ( <reason> ) every row's message ends with.
import { formatErrorLine, renderMessage } from '../common/error-table.js';
import { VigilError } from '../common/errors.js';

/** The message of `number` with its parameters filled in (missing arguments stay as "?"), the reason if any, then the action. */
export function formatReplicationError(number: number, args: readonly (string | number)[] = [], reason?: string): string {
  return renderMessage(number, { ...Object.fromEntries(args.map((a, i) => [String(i + 1), a])), reason });
}

/** The printed line (`Error 104040: ...`) of `number`, as the kit's failure reasons carry it. */
export function replicationErrorLine(number: number, args: readonly (string | number)[] = [], reason?: string): string {
  return formatErrorLine(number, formatReplicationError(number, args, reason));
}

/**
 * A VigilError carrying the replication error number and the table's message; a `reason` in the
 * details (what the kernel or mdadm said) fills the message's ( <reason> ) so the operator sees it.
 */
export function replicationError(number: number, args: readonly (string | number)[] = [], details: Record<string, unknown> = {}, cause?: unknown): VigilError {
  const reason = typeof details.reason === 'string' ? details.reason : undefined;
  return new VigilError(number, formatReplicationError(number, args, reason), { ...details, args }, cause === undefined ? undefined : { cause });
}
