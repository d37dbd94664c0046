// The shape of one row of the error table (src/common/error-table.ts assembles the rows of
// src/common/error-rows/*.ts into it).

/**
 * How a number is printed. `core`: the configuration-database commands' form,
 * `*ERROR* (No. 424) message`. `task`: the task and kit form, `Error 000014: message`
 * (six digits, zero-padded).
 */
export type ErrorForm = 'core' | 'task';

export interface ErrorRow {
  number: number;
  /** `task` when not given. */
  form?: ErrorForm;
  /** The message as printed; parameters as <name>, optional parts in {braces} (error-template.ts). */
  message: string;
  /** What the operator should do; printed after the message as ". Action: ...". */
  action?: string;
  /** When the agent reports it (docs/errors.md; the core and task rows give it). */
  meaning?: string;
  /** Where it comes from: the command or task that reports it. */
  reportedBy?: string;
}
