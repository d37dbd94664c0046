// One change's draft and its checks. A draft has arrays of its own over the committed records,
// which are frozen and shared between generations: a change replaces a record (never edits it
// in place), so what a change touched is found by identity, and only those records are parsed by
// their schemas. The invariants are checked on the whole draft, except for the common change
// that touches only instances, confirmed in work proportional to what it changed.
import { VigilError } from '../common/errors.js';
import { checkInvariants, instanceChangesKeepInvariants } from './invariants.js';
import { COLLECTIONS, type CollectionName } from './journal.js';
import { CommPath, Dependency, Equivalency, ResourceInstance, System, type LcdDocument } from './schema.js';
import { parseOrThrow } from './validate.js';

/** Replaces a record at `i` in a copy of `list`. */
export function withReplaced<T>(list: readonly T[], i: number, rec: T): T[] {
  const out = [...list];
  out[i] = Object.freeze(rec);
  return out;
}

/** Replaces (not edits: committed records are frozen) an instance in a draft. */
export function replaceInstance(d: LcdDocument, tag: string, system: string, changes: Partial<ResourceInstance>): void {
  const i = d.instances.findIndex((x) => x.tag === tag && x.system === system);
  if (i < 0) requireInstance(d, tag, system);
  d.instances[i] = { ...d.instances[i]!, ...changes };
}

const RECORD_SCHEMA: Record<CollectionName, { parse(v: unknown): unknown; safeParse: unknown }> = {
  systems: System,
  commPaths: CommPath,
  instances: ResourceInstance,
  dependencies: Dependency,
  equivalencies: Equivalency,
};

/** A draft of `doc` for one change: its own arrays over the same (frozen) records. */
export function draftOf(doc: LcdDocument): LcdDocument {
  return {
    ...doc,
    systems: [...doc.systems],
    commPaths: [...doc.commPaths],
    instances: [...doc.instances],
    dependencies: [...doc.dependencies],
    equivalencies: [...doc.equivalencies],
  };
}

/**
 * How a collection changed when a change only replaced records in place and appended new ones
 * (the usual change): the indices replaced, and where the appended ones start. Undefined for
 * anything else (removals, reordering), which the general path handles.
 */
export interface InPlaceChange {
  replaced: number[];
  appendedFrom: number;
}

/** What a checked change produced: the next generation, and how its collections changed. */
export interface CheckedChange {
  doc: LcdDocument;
  /** Relative to `base` (the document the draft was made from). */
  base: LcdDocument;
  inPlace: Partial<Record<CollectionName, InPlaceChange>>;
}

/**
 * Pointer comparisons only: committed records are frozen, a change's new records are not, so a
 * frozen record at a new position means a committed one moved (not in place: undefined).
 */
function inPlaceChange(before: readonly unknown[], list: readonly unknown[]): InPlaceChange | undefined {
  if (list.length < before.length) return undefined;
  const replaced: number[] = [];
  for (let i = 0; i < list.length; i++) {
    const rec = list[i];
    if (i < before.length && rec === before[i]) continue;
    if (Object.isFrozen(rec)) return undefined;
    if (i < before.length) replaced.push(i);
  }
  return { replaced, appendedFrom: before.length };
}

/**
 * The draft as the next generation: every record the change added or replaced parsed by its
 * schema (and frozen), the whole checked by the invariants. Work in proportion to what changed
 * (apart from pointer comparisons) for the usual change: instances replaced or added.
 */
export function checkedDraft(base: LcdDocument, draft: LcdDocument): CheckedChange {
  if (draft.version !== base.version || draft.localSystem !== base.localSystem || draft.generation !== base.generation) {
    throw new VigilError(0, 'an LCD change may only change systems, comm paths, instances, dependencies and equivalencies');
  }
  const next: LcdDocument = { ...draft, generation: base.generation + 1 };
  const inPlace: CheckedChange['inPlace'] = {};
  const changedCollections = new Set<CollectionName>();
  const changedInstances: ResourceInstance[] = [];
  let removedInstances: ResourceInstance[] | undefined;
  const parse = (c: CollectionName, rec: unknown, i: number) => {
    const parsed = Object.freeze(parseOrThrow(RECORD_SCHEMA[c] as never, rec, `LCD record (${c}.${i})`));
    if (c === 'instances') changedInstances.push(parsed as ResourceInstance);
    return parsed;
  };
  for (const c of COLLECTIONS) {
    const list = draft[c] as unknown[];
    if (!Array.isArray(list)) throw new VigilError(0, `invalid LCD record: ${c} must be a list`);
    const before = base[c] as unknown[];
    if (list.length === before.length && list.every((rec, i) => rec === before[i])) {
      (next[c] as unknown[]) = before; // unchanged: the committed array itself
      continue;
    }
    changedCollections.add(c);
    const shape = inPlaceChange(before, list);
    if (shape) {
      const out = [...list];
      for (const i of shape.replaced) out[i] = parse(c, list[i], i);
      for (let i = shape.appendedFrom; i < list.length; i++) out[i] = parse(c, list[i], i);
      (next[c] as unknown[]) = out;
      inPlace[c] = shape;
      if (c === 'instances') removedInstances = shape.replaced.map((i) => base.instances[i]!);
      continue;
    }
    const committed = new Set<unknown>(before);
    (next[c] as unknown[]) = list.map((rec, i) => (committed.has(rec) ? rec : parse(c, rec, i)));
  }
  // The common change touches only instances: confirm the rules that involve them without
  // indexing the whole document; anything else (or anything doubtful) gets the full check.
  if (changedCollections.size === 1 && changedCollections.has('instances')) {
    if (!removedInstances) {
      const kept = new Set<unknown>(next.instances);
      removedInstances = base.instances.filter((r) => !kept.has(r));
    }
    if (instanceChangesKeepInvariants(next, changedInstances, removedInstances)) return { doc: next, base, inPlace };
  }
  checkInvariants(next);
  return { doc: next, base, inPlace };
}

/** Freezes every record of a loaded document (committed records are shared, never edited). */
export function freezeDocument(doc: LcdDocument): LcdDocument {
  for (const c of COLLECTIONS) for (const r of doc[c]) Object.freeze(r);
  return doc;
}

export function requireInstance(d: LcdDocument, tag: string, system: string): ResourceInstance {
  const i = d.instances.find((x) => x.tag === tag && x.system === system);
  if (!i) throw new VigilError(0, `resource "${tag}" does not exist on system "${system}"`, { tag, system });
  return i;
}
