// Product errors: every failure an operator can see carries the seeds' error number (where the
// seeds define one) so it can be looked up, plus a message in our own words. The numbers, their
// messages and printed forms are in the one error table, error-table.ts.
import { CORE_ERRORS, formatErrorLine, renderMessage, type ErrorParameters } from './error-table.js';

export class VigilError extends Error {
  /** The product error number, e.g. 424 or 104044; 0 when the seeds define none. */
  readonly number: number;
  /** Extra structured facts (tag, system, path...) for logs and --json output. */
  readonly details: Record<string, unknown>;

  constructor(number: number, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VigilError';
    this.number = number;
    this.details = details;
  }

  /** The operator-facing line in the number's form: `*ERROR* (No. 424) ...` or `Error 000014: ...`. */
  format(): string {
    return formatErrorLine(this.number, this.message);
  }
}

/** A VigilError whose message is the error table's message of `number`, its parameters filled in. */
export function tableError(number: number, params: ErrorParameters, details: Record<string, unknown> = {}, options?: { cause?: unknown }): VigilError {
  return new VigilError(number, renderMessage(number, params), details, options);
}

/**
 * A task command's usage error (000002, "Usage error: ..."): `usage` says what is wrong with the
 * command line; it is kept in the details so create can report it again under its own 000012.
 */
export function usageError(usage: string, details: Record<string, unknown> = {}): VigilError {
  return tableError(CORE_ERRORS.USAGE.number, { usage }, { ...details, usage });
}
