// The time limit of one kit action on one resource instance: the instance's own override
// (`<action>TimeoutMs` in its info, e.g. restoreTimeoutMs=600000 for one big file system), else
// the kit's limit. The engine (failover, monitoring), the administrative tasks (create,
// extend) and gen/app (which hands the limit to its program runner) all read it here, so an
// action gets the same limit whoever runs it; create refuses a value that would not be an override.

import { DEFAULT_TIME_LIMITS, type KitAction } from './kit.js';

/** The info key that overrides the time limit of `action`. */
export function timeLimitKey(action: KitAction): string {
  return `${action}TimeoutMs`;
}

/**
 * The override as a number of milliseconds, or undefined when the value is not a positive whole
 * number of milliseconds written in decimal digits (zero, negatives, fractions, "1e3", "",
 * garbage): such a value is not an override and the kit's limit applies.
 */
export function parseTimeLimitOverride(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return undefined;
  const ms = Number(value);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

/** The time limit of `action` for an instance with `info`, falling back to the kit's limit. */
export function actionTimeLimitMs(info: Readonly<Record<string, string>>, action: KitAction, kitLimitMs: number): number {
  return parseTimeLimitOverride(info[timeLimitKey(action)]) ?? kitLimitMs;
}

/** Why an instance's info holds an override that is not one (for refusing it), or undefined. */
export function timeLimitOverrideProblem(info: Readonly<Record<string, string>>): string | undefined {
  for (const action of Object.keys(DEFAULT_TIME_LIMITS) as KitAction[]) {
    const key = timeLimitKey(action);
    const value = info[key];
    if (value !== undefined && parseTimeLimitOverride(value) === undefined) {
      return `${key} must be a positive whole number of milliseconds, not "${value}"`;
    }
  }
  return undefined;
}
