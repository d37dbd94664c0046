// Turns zod validation failures into operator-facing VigilErrors that name the field and the rule.
import type { z } from 'zod';
import { VigilError } from '../common/errors.js';

export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string, number = 0): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const first = r.error.issues[0]!;
  const field = first.path.length ? first.path.join('.') : what;
  const value = first.path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), input);
  const shown = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
  throw new VigilError(number, `invalid ${what} ${field}${shown}: ${first.message}`, {
    field,
    issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  });
}
