// The one table of product error numbers: each number the agent can report, the message it is
// printed with (a template with named parameters) and, where the operator has something to do,
// the action. It assembles the rows of src/common/error-rows/ (core and task, the NAS kit, data
// replication) and refuses a number defined twice. Every numbered line is printed in its
// number's form from here (VigilError.format()), the NAS kit's and data replication's messages
// are rendered from its rows (nas-errors.ts, replication/errors.ts), and docs/errors.md is
// generated from it (npm run docs:errors; unit tests keep the two in step). Numbers and message
// forms are the product's interface (scripts grep for them); the meanings are ours.
import { CORE_ERRORS, type CoreErrorName } from './error-rows/core.js';
import { NAS_ERRORS } from './error-rows/nas.js';
import { REPLICATION_ERRORS } from './error-rows/replication.js';
import type { ErrorRow } from './error-rows/row.js';
import { fillTemplate } from './error-template.js';

export type { ErrorForm, ErrorRow } from './error-rows/row.js';
export { CORE_ERRORS, type CoreErrorRow } from './error-rows/core.js';
export { NAS_ERRORS } from './error-rows/nas.js';

/** The rows by the part of the product that reports them, in the order docs/errors.md lists them. */
export const ERROR_SECTIONS = [
  { part: 'core', rows: Object.values(CORE_ERRORS) as readonly ErrorRow[] },
  { part: 'nas', rows: Object.values(NAS_ERRORS) as readonly ErrorRow[] },
  { part: 'replication', rows: REPLICATION_ERRORS },
] as const;

export type ErrorName = CoreErrorName;

function byNumber(): Map<number, ErrorRow> {
  const map = new Map<number, ErrorRow>();
  for (const row of ERROR_SECTIONS.flatMap((s) => s.rows)) {
    if (map.has(row.number)) throw new Error(`error table: ${row.number} is defined twice`);
    map.set(row.number, row);
  }
  return map;
}

const BY_NUMBER = byNumber();

/** The table's row of a number, if the table has it. */
export function errorEntry(number: number): ErrorRow | undefined {
  return BY_NUMBER.get(number);
}

/** The number of a named core or task row (so call sites read `errorNumber('NOT_FOUND')`). */
export function errorNumber(name: ErrorName): number {
  return CORE_ERRORS[name].number;
}

/** Every number in the table, ascending. */
export function errorNumbers(): number[] {
  return [...BY_NUMBER.keys()].sort((a, b) => a - b);
}

/** The values of a message's parameters by name; a missing one is printed "?". */
export type ErrorParameters = Readonly<Record<string, string | number | undefined>>;

/** The message of `number` with its parameters filled in, then ". Action: ..." when the row has one. */
export function renderMessage(number: number, params: ErrorParameters = {}): string {
  const row = BY_NUMBER.get(number);
  if (!row) throw new RangeError(`no error ${number} in the error table`);
  const value = (name: string) => params[name];
  const message = fillTemplate(row.message, value);
  return row.action === undefined ? message : `${message}. Action: ${fillTemplate(row.action, value)}`;
}

/** The printed line for `number` and `message`, in the number's form. */
export function formatErrorLine(number: number, message: string): string {
  if (number === 0) return `Error: ${message}`;
  if (BY_NUMBER.get(number)?.form === 'core') return `*ERROR* (No. ${number}) ${message}`;
  const n = String(number);
  return `Error ${n.length < 6 ? n.padStart(6, '0') : n}: ${message}`;
}

/** The printed line of `number` with its message rendered from the table. */
export function renderErrorLine(number: number, params: ErrorParameters = {}): string {
  return formatErrorLine(number, renderMessage(number, params));
}
