// Small helpers shared by the command handlers: reading flags from a request, strict number
// parsing, and formatting the seeds' space-separated (or -fC separated) output lines.
import { VigilError } from '../../common/errors.js';
import { EXIT_OK } from '../exit-codes.js';
import type { AdminRequest } from '../protocol.js';
import { UsageError, type AdminResult } from '../registry.js';

/** The value of flag `key` (the last one if repeated), or undefined. */
export function opt(req: AdminRequest, key: string): string | undefined {
  const v = req.options[key];
  if (v === undefined || v === false) return undefined;
  if (v === true) throw new UsageError(`option -${key} needs a value`);
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** The value of a required flag; a missing one is a usage error. */
export function need(req: AdminRequest, key: string, what: string): string {
  const v = opt(req, key);
  if (v === undefined || v === '') throw new UsageError(`missing -${key} <${what}>`);
  return v;
}

export function flag(req: AdminRequest, key: string): boolean {
  return req.options[key] === true;
}

/** A whole number given on the command line, or `fallback` when the flag is absent. */
export function intOpt(req: AdminRequest, key: string, what: string, fallback?: number): number | undefined {
  const v = opt(req, key);
  if (v === undefined) return fallback;
  if (!/^-?\d+$/.test(v)) throw new VigilError(0, `invalid ${what} "${v}": must be a whole number`, { option: key });
  return Number(v);
}

/** The -fC field separator (default one space). */
export function separator(req: AdminRequest): string {
  const v = opt(req, 'f');
  if (v === undefined) return ' ';
  if (v === '') throw new UsageError('option -f needs a separator character');
  return v;
}

/** Join rows of fields into lines, each ending with a newline. */
export function formatRows(rows: (string | number)[][], sep: string): string {
  return rows.map((r) => r.join(sep) + '\n').join('');
}

export function ok(stdout: string, data?: unknown): AdminResult {
  return { exitCode: EXIT_OK, stdout, stderr: '', data };
}

/** Reject options that are not part of the command (catches typos arriving over the socket). */
export function allowOnly(req: AdminRequest, keys: string): void {
  for (const k of Object.keys(req.options)) {
    if (!keys.includes(k)) throw new UsageError(`unknown option -${k}`);
  }
  if (req.args.length) throw new UsageError(`unexpected argument "${req.args[0]}"`);
}
