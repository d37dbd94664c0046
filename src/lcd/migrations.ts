// Upgrades an LCD document read from disk to the current schema version, one step at a time.
// A document from a newer vigild is refused rather than guessed at, so a downgrade never
// silently drops configuration.
import { VigilError } from '../common/errors.js';
import { LCD_SCHEMA_VERSION } from './schema.js';

/** One upgrade step: takes a document of version `from` and returns one of version `from + 1`. */
export interface Migration {
  from: number;
  apply(doc: Record<string, unknown>): Record<string, unknown>;
}

/**
 * The ordered upgrade steps. Version 1 is the first released layout, so there are none yet;
 * adding a field means bumping LCD_SCHEMA_VERSION and appending `{ from: 1, apply }` here.
 */
export const MIGRATIONS: readonly Migration[] = [];

/** Bring a raw parsed document up to LCD_SCHEMA_VERSION (validation happens afterwards). */
export function migrate(raw: unknown, steps: readonly Migration[] = MIGRATIONS, target = LCD_SCHEMA_VERSION): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new VigilError(0, 'LCD file does not hold a JSON object');
  }
  let doc = raw as Record<string, unknown>;
  const found = doc.version;
  if (typeof found !== 'number' || !Number.isInteger(found) || found < 1) {
    throw new VigilError(0, `LCD file has no valid schema version (found ${JSON.stringify(found)})`);
  }
  let version: number = found;
  if (version > target) {
    throw new VigilError(0, `LCD file has schema version ${version}, newer than this vigild supports (${target})`);
  }
  while (version < target) {
    const step = steps.find((s) => s.from === version);
    if (!step) throw new VigilError(0, `no migration from LCD schema version ${version}`);
    doc = { ...step.apply(doc), version: version + 1 };
    version = version + 1;
  }
  return doc;
}
