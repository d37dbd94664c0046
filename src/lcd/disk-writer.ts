// How the LCD's state reaches the disk, through the platform's DurableFiles (native threads with
// a time limit, never the event loop): a change as one journal record appended and fdatasync'ed,
// or, when the journal is due for it or cannot be appended to, a compaction: the whole document
// becomes lcd.json (temp file, fsync, rename: the commit point), the journal is emptied, and a
// copy is kept in the next of the generation slots (store.ts). A kill between these steps is
// safe: journal records up to the snapshot's generation are skipped when loading. After a write
// whose outcome is uncertain (commitStarted), the next write compacts: nothing is ever appended
// behind a record whose end is unknown.
import * as path from 'node:path';
import { commitStarted, ProbeTimeoutError, SysError } from '../platform/errors.js';
import type { DurableFiles } from '../platform/platform.js';
import { diffDocuments, encodeRecord, type InPlaceHint } from './journal.js';
import type { LcdDocument } from './schema.js';
import { generationFileName, GENERATION_SLOTS, JOURNAL_FILE_NAME, LCD_FILE_NAME, nextGenerationSlot } from './store.js';

export const LCD_FILE_MODE = 0o600;
/** Compact once the journal holds this many bytes and at least as many as the snapshot. */
export const DEFAULT_COMPACT_AT_JOURNAL_BYTES = 64 * 1024;

export function serializeDocument(doc: LcdDocument): string {
  return JSON.stringify(doc, null, 1) + '\n';
}

export interface LcdDiskWriterOptions {
  files: DurableFiles;
  dir: string;
  timeoutMs: number;
  /** Probe key of the writes: stuck ones are counted apart from every other probe. */
  key: string;
  compactAtJournalBytes: number;
  onWarning: (message: string, details: Record<string, unknown>) => void;
  /** A write hit its time limit (its thread may still be stuck in the kernel). */
  onTimeout: () => void;
}

/** What the disk held at open. */
export interface LcdDiskState {
  journalBytes: number;
  snapshotBytes: number;
  /** The journal may not be appended to as it is (missing, torn tail, ...): the next write compacts. */
  needsCompaction: boolean;
}

export class LcdDiskWriter {
  private readonly file: string;
  private readonly journalFile: string;
  private needsCompaction: boolean;
  private journalBytes: number;
  private snapshotBytes: number;
  private nextSlot: number;
  /** Compactions since open (for metrics). */
  compactions = 0;

  constructor(
    private readonly opts: LcdDiskWriterOptions,
    disk: LcdDiskState,
  ) {
    this.file = path.join(opts.dir, LCD_FILE_NAME);
    this.journalFile = path.join(opts.dir, JOURNAL_FILE_NAME);
    this.needsCompaction = disk.needsCompaction;
    this.journalBytes = disk.journalBytes;
    this.snapshotBytes = disk.snapshotBytes;
    this.nextSlot = nextGenerationSlot(opts.dir);
  }

  /** The journal has grown as large as the snapshot (and the threshold): time to compact. */
  get dueForCompaction(): boolean {
    return this.journalBytes >= Math.max(this.opts.compactAtJournalBytes, this.snapshotBytes);
  }

  /**
   * Makes `doc` durable: as the journal record of what changed since `base` (what the disk
   * holds; undefined when that is uncertain), or as a compaction. `hint`: how the change's checks
   * saw it (draft.ts), which spares the diff a pass over unchanged records. Rejects with the platform's
   * error; one with commitStarted leaves the outcome uncertain and makes the next write compact.
   */
  async write(base: LcdDocument | undefined, doc: LcdDocument, hint?: InPlaceHint): Promise<void> {
    const record = base && !this.needsCompaction ? encodeRecord({ g: doc.generation, ops: diffDocuments(base, doc, hint) }) : undefined;
    try {
      if (record !== undefined && (await this.appended(record))) this.journalBytes += Buffer.byteLength(record);
      else await this.compact(doc);
    } catch (err) {
      if (commitStarted(err)) this.needsCompaction = true;
      throw err;
    }
  }

  /** Appends a journal record; false when the journal is gone (nothing appended: compact instead). */
  private async appended(record: string): Promise<boolean> {
    try {
      await this.opts.files.append(this.journalFile, record, { timeoutMs: this.opts.timeoutMs, key: this.opts.key });
      return true;
    } catch (err) {
      if (err instanceof SysError && err.code === 'ENOENT' && !err.commitStarted) return false;
      throw err;
    }
  }

  /**
   * lcd.json := `doc`, then the journal emptied and a generation kept. Rejects only when lcd.json
   * could not be written (nothing changed unless commitStarted); the later steps warn instead:
   * lcd.json already holds `doc` durably.
   */
  async compact(doc: LcdDocument): Promise<void> {
    const text = serializeDocument(doc);
    const writeOpts = { mode: LCD_FILE_MODE, timeoutMs: this.opts.timeoutMs, key: this.opts.key };
    this.needsCompaction = true;
    await this.opts.files.writeAtomic(this.file, text, writeOpts);
    this.snapshotBytes = Buffer.byteLength(text);
    if (!(await this.bestEffort(() => this.opts.files.writeAtomic(this.journalFile, '', writeOpts), 'could not empty the journal; the next write compacts again', this.journalFile))) {
      return;
    }
    this.needsCompaction = false;
    this.journalBytes = 0;
    this.compactions++;
    const slot = this.nextSlot;
    this.nextSlot = (slot % GENERATION_SLOTS) + 1;
    await this.bestEffort(() => this.opts.files.writeAtomic(path.join(this.opts.dir, generationFileName(slot)), text, writeOpts), 'could not keep a copy of the new generation', generationFileName(slot));
  }

  private async bestEffort(write: () => Promise<void>, what: string, file: string): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (err) {
      if (err instanceof ProbeTimeoutError) this.opts.onTimeout();
      this.opts.onWarning(`LCD compaction ${what}`, { file, error: String(err) });
      return false;
    }
  }
}
