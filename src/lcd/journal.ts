// The LCD journal's records: what one configuration change did to the document, small enough
// that a change costs the same at 10 and at 1,000 resources. A record lists, per collection,
// the records put (added or replaced in place, by key) and the keys deleted; when a change
// reordered a collection in a way puts and deletes cannot say, the record carries that whole
// collection instead, so replaying a record always rebuilds exactly the document that was
// validated and acknowledged.
//
// On disk a record is one line: "<crc32 hex> <json>\n". The checksum tells a torn or damaged
// line from a valid one, so a load can ignore the one record a crash cut short (never
// acknowledged) and refuse to skip over damage in the middle.
import { crc32 } from 'node:zlib';
import { commPathKey, type LcdDocument } from './schema.js';

export const COLLECTIONS = ['systems', 'commPaths', 'instances', 'dependencies', 'equivalencies'] as const;
export type CollectionName = (typeof COLLECTIONS)[number];
type Rec = LcdDocument[CollectionName][number];

/** Identity of a record within its collection (the invariants keep these unique). */
const KEY: Record<CollectionName, (r: never) => string> = {
  systems: (s: LcdDocument['systems'][number]) => s.name,
  commPaths: commPathKey,
  instances: (i: LcdDocument['instances'][number]) => `${i.system}|${i.tag}`,
  dependencies: (d: LcdDocument['dependencies'][number]) => `${d.system}|${d.parentTag}|${d.childTag}`,
  equivalencies: (e: LcdDocument['equivalencies'][number]) => `${e.system}|${e.tag}|${e.otherSystem}|${e.type}`,
};

function keyOf(coll: CollectionName, r: Rec): string {
  return (KEY[coll] as (r: Rec) => string)(r);
}

export type JournalOp =
  | { c: CollectionName; put: Rec }
  | { c: CollectionName; del: string }
  | { c: CollectionName; all: Rec[] };

export interface JournalRecord {
  /** The generation this record produces (the one before it plus one). */
  g: number;
  ops: JournalOp[];
}

/**
 * A hint from the change's checks (draft.ts): relative to `from`, which records of a
 * collection were replaced in place and where appended ones start.
 */
export interface InPlaceHint {
  from: LcdDocument;
  inPlace: Partial<Record<CollectionName, { replaced: number[]; appendedFrom: number }>>;
}

/**
 * What turns `before` into `after`, records compared by identity (the LCD never changes a
 * committed record in place, it replaces it). With a hint that applies (its `from` holds the
 * same collection as `before`), a collection changed in place costs work per changed record.
 */
export function diffDocuments(before: LcdDocument, after: LcdDocument, hint?: InPlaceHint): JournalOp[] {
  const ops: JournalOp[] = [];
  for (const c of COLLECTIONS) {
    const old = before[c] as Rec[];
    const next = after[c] as Rec[];
    if (old === next) continue;
    const shape = hint && hint.from[c] === old ? hint.inPlace[c] : undefined;
    ops.push(...((shape && inPlaceOps(c, old, next, shape)) ?? diffCollection(c, old, next)));
  }
  return ops;
}

/** Puts for records replaced in place under the same key and for appended ones; undefined otherwise. */
function inPlaceOps(c: CollectionName, old: Rec[], next: Rec[], shape: { replaced: number[]; appendedFrom: number }): JournalOp[] | undefined {
  if (shape.appendedFrom !== old.length) return undefined;
  const ops: JournalOp[] = [];
  for (const i of shape.replaced) {
    if (keyOf(c, old[i]!) !== keyOf(c, next[i]!)) return undefined; // a replay would append it, not replace it
    ops.push({ c, put: next[i]! });
  }
  for (let i = shape.appendedFrom; i < next.length; i++) ops.push({ c, put: next[i]! });
  return ops;
}

function diffCollection(c: CollectionName, old: Rec[], next: Rec[]): JournalOp[] {
  const inNext = new Set(next);
  const inOld = new Set(old);
  const added = next.filter((r) => !inOld.has(r));
  const removed = old.filter((r) => !inNext.has(r));
  if (!added.length && !removed.length && old.length === next.length && old.every((r, i) => r === next[i])) return [];
  const addedByKey = new Map(added.map((r) => [keyOf(c, r), r]));
  const ops: JournalOp[] = [];
  const replaced = new Set<string>();
  for (const r of removed) {
    const k = keyOf(c, r);
    if (addedByKey.has(k)) replaced.add(k);
    else ops.push({ c, del: k });
  }
  for (const r of added) ops.push({ c, put: r });
  // Would replaying these ops give `next` in the same order (kept and replaced records where
  // they were, new ones appended)? If not, say the whole collection. Pointer work only: keys are
  // computed for the changed records, never for the whole collection.
  const replacementOf = new Map<Rec, Rec>();
  for (const r of removed) {
    const k = keyOf(c, r);
    if (replaced.has(k)) replacementOf.set(r, addedByKey.get(k)!);
  }
  const replacements = new Set(replacementOf.values());
  let i = 0;
  const same = (r: Rec) => next[i++] === r;
  for (const r of old) {
    if (inNext.has(r)) {
      if (!same(r)) return [{ c, all: next }];
    } else {
      const by = replacementOf.get(r);
      if (by !== undefined && !same(by)) return [{ c, all: next }];
    }
  }
  for (const r of added) if (!replacements.has(r) && !same(r)) return [{ c, all: next }];
  return i === next.length ? ops : [{ c, all: next }];
}

function applyCollection(c: CollectionName, recs: Rec[], ops: JournalOp[]): Rec[] {
  let out = recs;
  let index: Map<string, number> | undefined;
  const indexOf = () => (index ??= new Map(out.map((r, i) => [keyOf(c, r), i])));
  for (const op of ops) {
    if (op.c !== c) continue;
    if ('all' in op) {
      out = op.all;
      index = undefined;
    } else if ('del' in op) {
      const i = indexOf().get(op.del);
      if (i === undefined) throw new Error(`journal deletes ${c} "${op.del}", which does not exist`);
      out = out.filter((_, j) => j !== i);
      index = undefined;
    } else {
      const k = keyOf(c, op.put);
      const i = indexOf().get(k);
      if (out === recs) out = [...recs];
      if (i === undefined) {
        index!.set(k, out.length);
        out.push(op.put);
      } else {
        out[i] = op.put;
      }
    }
  }
  return out;
}

/** `doc` with `record` applied (a new document; `doc` is not changed). */
export function applyRecord(doc: LcdDocument, record: JournalRecord): LcdDocument {
  const next: LcdDocument = { ...doc, generation: record.g };
  for (const c of COLLECTIONS) {
    if (record.ops.some((o) => o.c === c)) (next[c] as Rec[]) = applyCollection(c, doc[c] as Rec[], record.ops);
  }
  return next;
}

/** One journal line, checksum first. */
export function encodeRecord(record: JournalRecord): string {
  const json = JSON.stringify(record);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

export interface ParsedJournal {
  records: JournalRecord[];
  /** Bytes of the valid records (where the next append would go once the tail is cut). */
  validBytes: number;
  /** The last line is incomplete or damaged: a write a crash cut short (never acknowledged). */
  tornTail: boolean;
  /** A damaged line followed by more lines: damage, not a crash. Records from it on are not in `records`. */
  damagedAt?: { line: number; reason: string; dropped: number };
}

/** Splits and checks a journal; never throws. */
export function parseJournal(text: string): ParsedJournal {
  const lines = text.split('\n');
  const complete = lines.slice(0, -1); // the last element is after the final newline
  const tail = lines[lines.length - 1]!;
  const records: JournalRecord[] = [];
  let validBytes = 0;
  for (let n = 0; n < complete.length; n++) {
    const line = complete[n]!;
    const reason = checkLine(line);
    if (typeof reason === 'string') {
      const isLast = n === complete.length - 1 && tail === '';
      if (isLast) return { records, validBytes, tornTail: true };
      return { records, validBytes, tornTail: false, damagedAt: { line: n + 1, reason, dropped: complete.length - n - 1 + (tail === '' ? 0 : 1) } };
    }
    records.push(reason);
    validBytes += Buffer.byteLength(line) + 1;
  }
  return { records, validBytes, tornTail: tail !== '' };
}

function checkLine(line: string): JournalRecord | string {
  const space = line.indexOf(' ');
  if (space !== 8) return 'no checksum';
  const json = line.slice(9);
  if (crc32(json).toString(16).padStart(8, '0') !== line.slice(0, 8)) return 'checksum mismatch';
  try {
    const r = JSON.parse(json) as JournalRecord;
    if (!Number.isInteger(r.g) || !Array.isArray(r.ops)) return 'not a journal record';
    return r;
  } catch {
    return 'not JSON';
  }
}
