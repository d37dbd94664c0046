// The LCD's files in its state directory and how a start-up reads them back:
//   lcd.json          the snapshot: the whole database as of its generation;
//   lcd.journal       one record per change since the snapshot (journal.ts);
//   lcd.json.1 .. .3  the snapshots of the last compactions, kept to fall back on;
//   lcd.initialised   written when the node's database was first created: from then on a
//                     missing lcd.json is an error, not a reason to start empty;
//   lcd.lock          the running daemon's exclusive lock, with its pid;
// and, beside the state directory (in its parent, so that it is still there when the file
// system holding the state directory is not mounted), `.<dir name>.vigil-lcd-initialised`.
// Loading is synchronous: it runs once at start-up, before the agent heartbeats or protects
// anything, and nothing can proceed without the LCD anyway.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VigilError } from '../common/errors.js';
import { checkInvariants } from './invariants.js';
import { applyRecord, parseJournal } from './journal.js';
import { migrate } from './migrations.js';
import { LcdDocument } from './schema.js';
import { parseOrThrow } from './validate.js';

export const LCD_FILE_NAME = 'lcd.json';
export const JOURNAL_FILE_NAME = 'lcd.journal';
export const MARKER_FILE_NAME = 'lcd.initialised';
export const LOCK_FILE_NAME = 'lcd.lock';
/** How many compacted snapshots are kept to fall back on. */
export const GENERATION_SLOTS = 3;
export const generationFileName = (slot: number) => `${LCD_FILE_NAME}.${slot}`;

/** The marker beside the state directory: an initialised node's state directory never looks new. */
export function outsideMarkerPath(dir: string): string {
  const abs = path.resolve(dir);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.vigil-lcd-initialised`);
}

/** How the start-up treats a database that is missing or damaged. */
export type LcdStartMode =
  /** Use lcd.json and its journal; fall back to a kept generation only when they are damaged. */
  | 'normal'
  /** Also when lcd.json is missing: start from the newest valid kept generation (vigild --lcd-recover). */
  | 'recover'
  /** Start with an empty database, removing what is left of the old one (vigild --lcd-init). */
  | 'fresh';

/** Where the loaded state came from when it was not lcd.json and its whole journal. */
export interface LcdRecovery {
  /** What was wrong, in words. */
  reason: string;
  /** The file the state was rebuilt from. */
  source: string;
  /** The generation the node now runs with. */
  generation: number;
  at: number;
}

export interface LoadedLcd {
  doc: LcdDocument;
  /** Bytes of the valid journal records (0 when the journal is missing). */
  journalBytes: number;
  snapshotBytes: number;
  /** The journal cannot be appended to as it is (missing, torn tail, damage, a fallback): rewrite it first. */
  needsCompaction: boolean;
  recovery?: LcdRecovery;
}

/** Read and validate one snapshot file; undefined when it does not exist. */
export function readSnapshot(file: string): LcdDocument | undefined {
  const text = readIfExists(file);
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new VigilError(0, `LCD file ${file} is not valid JSON`, { file }, { cause: err });
  }
  return validDocument(migrate(raw));
}

function validDocument(raw: unknown): LcdDocument {
  const doc = parseOrThrow(LcdDocument, raw, 'LCD record');
  checkInvariants(doc);
  return doc;
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `base` with the journal's records after its generation applied, validated. */
function replay(base: LcdDocument, journalText: string | undefined): { doc: LcdDocument; journalBytes: number; problem?: string; torn: boolean } {
  if (journalText === undefined) return { doc: base, journalBytes: 0, torn: false };
  const parsed = parseJournal(journalText);
  let doc = base;
  let problem: string | undefined;
  for (const r of parsed.records) {
    if (r.g <= doc.generation) continue; // written before the snapshot was taken
    if (r.g !== doc.generation + 1) {
      problem = `the journal jumps from generation ${doc.generation} to ${r.g}`;
      break;
    }
    try {
      doc = applyRecord(doc, r);
    } catch (err) {
      problem = `journal record of generation ${r.g} does not apply: ${errorText(err)}`;
      break;
    }
  }
  if (!problem && parsed.damagedAt) {
    const d = parsed.damagedAt;
    problem = `line ${d.line} of the journal is damaged (${d.reason}); ${d.dropped} later line(s) dropped`;
  }
  if (doc !== base) doc = validDocument(doc);
  return { doc, journalBytes: parsed.validBytes, problem, torn: parsed.tornTail };
}

export class LcdMissingError extends VigilError {
  constructor(dir: string, why: string) {
    super(
      0,
      `the LCD in ${dir} is missing (${why}), but this node's database was created there before. ` +
        `If the file system holding ${dir} is not mounted, mount it and start again. ` +
        `To start from the newest kept generation, start vigild once with --lcd-recover; ` +
        `to start with an empty database (losing this node's configuration), with --lcd-init`,
      { dir },
    );
    this.name = 'LcdMissingError';
  }
}

/**
 * Loads the database in `dir`. Undefined when the directory holds no database and never did
 * (a first start). Throws LcdMissingError when lcd.json is gone but the node was initialised
 * (unless mode is 'recover'), and the load error when neither lcd.json nor any kept generation
 * is valid.
 */
export function loadDatabase(dir: string, mode: LcdStartMode): LoadedLcd | undefined {
  const file = path.join(dir, LCD_FILE_NAME);
  const journalText = readIfExists(path.join(dir, JOURNAL_FILE_NAME));
  let snapshot: LcdDocument | undefined;
  let snapshotError: unknown;
  try {
    snapshot = readSnapshot(file);
  } catch (err) {
    snapshotError = err;
  }
  if (snapshot) {
    try {
      const r = replay(snapshot, journalText);
      const snapshotBytes = fs.statSync(file).size;
      const recovery = r.problem ? { reason: r.problem, source: `${LCD_FILE_NAME} and the valid part of ${JOURNAL_FILE_NAME}`, generation: r.doc.generation, at: Date.now() } : undefined;
      return { doc: r.doc, journalBytes: r.journalBytes, snapshotBytes, needsCompaction: journalText === undefined || r.torn || !!r.problem, recovery };
    } catch (err) {
      snapshotError = err; // the journal's changes break the document: fall back below
    }
  }
  const leftovers = [MARKER_FILE_NAME, JOURNAL_FILE_NAME, ...Array.from({ length: GENERATION_SLOTS }, (_, i) => generationFileName(i + 1))].filter((n) =>
    fs.existsSync(path.join(dir, n)),
  );
  if (!snapshot && snapshotError === undefined) {
    if (!leftovers.length) return undefined;
    if (mode !== 'recover') throw new LcdMissingError(dir, `${file} does not exist; found ${leftovers.join(', ')}`);
  }
  const why = snapshotError === undefined ? `${LCD_FILE_NAME} is missing` : errorText(snapshotError);
  for (const slot of keptGenerations(dir)) {
    try {
      const r = replay(slot.doc, journalText);
      return {
        doc: r.doc,
        journalBytes: r.journalBytes,
        snapshotBytes: slot.bytes,
        needsCompaction: true,
        recovery: { reason: why + (r.problem ? `; ${r.problem}` : ''), source: slot.name, generation: r.doc.generation, at: Date.now() },
      };
    } catch {
      // this generation does not load either: try an older one
    }
  }
  if (snapshotError !== undefined) throw snapshotError;
  throw new LcdMissingError(dir, `${file} does not exist and no kept generation is valid`);
}

/** The valid kept generations, newest first. */
function keptGenerations(dir: string): { name: string; doc: LcdDocument; bytes: number }[] {
  const found: { name: string; doc: LcdDocument; bytes: number }[] = [];
  for (let slot = 1; slot <= GENERATION_SLOTS; slot++) {
    const name = generationFileName(slot);
    try {
      const doc = readSnapshot(path.join(dir, name));
      if (doc) found.push({ name, doc, bytes: fs.statSync(path.join(dir, name)).size });
    } catch {
      // damaged: not a candidate
    }
  }
  return found.sort((a, b) => b.doc.generation - a.doc.generation);
}

/** The kept-generation slot the next compaction overwrites: a missing one, else the oldest. */
export function nextGenerationSlot(dir: string): number {
  let oldest = 1;
  let oldestMs = Infinity;
  for (let slot = 1; slot <= GENERATION_SLOTS; slot++) {
    let mtimeMs: number;
    try {
      mtimeMs = fs.statSync(path.join(dir, generationFileName(slot))).mtimeMs;
    } catch {
      return slot;
    }
    if (mtimeMs < oldestMs) [oldest, oldestMs] = [slot, mtimeMs];
  }
  return oldest;
}

/** Removes what is left of an old database before a fresh start (vigild --lcd-init). */
export function removeDatabaseFiles(dir: string): string[] {
  const names = [LCD_FILE_NAME, JOURNAL_FILE_NAME, MARKER_FILE_NAME, ...Array.from({ length: GENERATION_SLOTS }, (_, i) => generationFileName(i + 1))];
  return names.filter((n) => {
    try {
      fs.unlinkSync(path.join(dir, n));
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The database that a snapshot's text and a journal's text hold together (no fallback; throws
 * on damage). For tools and tests that read an LCD from somewhere other than the disk.
 */
export function databaseFromTexts(snapshotText: string, journalText: string | undefined): LcdDocument {
  const r = replay(validDocument(migrate(JSON.parse(snapshotText))), journalText);
  if (r.problem) throw new VigilError(0, `the LCD journal is damaged: ${r.problem}`);
  return r.doc;
}
