// The LCD: this node's configuration database (systems, comm paths, resource instances,
// dependencies, equivalencies) held in memory and persisted as a snapshot plus a journal.
//
// Every configuration change is queued, then applied to a draft of the latest committed
// document, checked (the schemas of the records it added or replaced + cross-record
// invariants), written durably and only then made visible; a change that fails any check
// rejects with a VigilError and leaves both memory and disk untouched. Runtime state reported by
// the cluster (system alive/dead, path up/down) changes often, so it is kept in memory and
// written by sync() (the `lcdsync` command, shutdown, or a periodic flush).
//
// What a change writes is one journal record (journal.ts) of the records it touched, appended
// and fdatasync'ed, so a change costs the same at 10 and at 1,000 resources; rewriting the
// whole ~400 KB document per change made each one slower as the database grew. Once the
// journal has grown as large as the snapshot, the queue compacts: the whole document becomes
// the new lcd.json (atomic rename), the journal is emptied, and a copy is kept as one of the
// last few generations (store.ts) to fall back on if lcd.json is ever damaged. A kill at any
// instant leaves the previous or the new state: a record is acknowledged only once durable, a
// record a crash cut short fails its checksum and is ignored, and a compaction only replaces
// files by rename. After any write whose outcome is uncertain the next write is a compaction,
// so nothing is ever appended behind a record whose end is unknown.
//
// Committed records are frozen and shared between generations; a change replaces the records
// it changes (never edits them in place), which is what lets a change be found by identity.
//
// Writes never run on the event loop: they go through the platform's DurableFiles (a native
// thread with a time limit), because the disk holding the state directory can stall and the
// agent must keep heartbeating meanwhile. One write at a time (the queue), and while a write
// that timed out is still stuck in the kernel, new writes are refused at once rather than
// piling up threads behind it (see LcdStalledError).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CORE_ERRORS } from '../common/error-table.js';
import { tableError, VigilError } from '../common/errors.js';
import { commitStarted, ProbeTimeoutError } from '../platform/errors.js';
import type { DurableFiles, FileLock } from '../platform/platform.js';
import { fsyncDirSync, removeStaleTempFiles, writeFileAtomicSync } from './atomic-file.js';
import type { InPlaceHint } from './journal.js';
import { checkedDraft, draftOf, freezeDocument, replaceInstance, requireInstance, withReplaced } from './draft.js';
import { DEFAULT_COMPACT_AT_JOURNAL_BYTES, LCD_FILE_MODE, LcdDiskWriter, serializeDocument, type LcdDiskState } from './disk-writer.js';
import {
  CommPath,
  commPathKey,
  Dependency,
  Equivalency,
  LCD_SCHEMA_VERSION,
  LcdDocument,
  ResourceInstance,
  ResourceState,
  Switchback,
  System,
  SystemName,
  type CommPathInput,
  type CommPathState,
  type DependencyInput,
  type EquivalencyInput,
  type ResourceInstanceInput,
  type SystemInput,
  type SystemState,
} from './schema.js';
import {
  generationFileName,
  GENERATION_SLOTS,
  JOURNAL_FILE_NAME,
  LCD_FILE_NAME,
  LcdMissingError,
  loadDatabase,
  LOCK_FILE_NAME,
  MARKER_FILE_NAME,
  outsideMarkerPath,
  readSnapshot,
  removeDatabaseFiles,
  type LcdRecovery,
  type LcdStartMode,
} from './store.js';
import { parseOrThrow } from './validate.js';

export { LCD_FILE_NAME, JOURNAL_FILE_NAME, LcdMissingError, type LcdRecovery, type LcdStartMode } from './store.js';
export { LCD_FILE_MODE } from './disk-writer.js';
export const ERR_REMOVE_LOCAL_SYSTEM = CORE_ERRORS.REMOVE_LOCAL_SYSTEM.number;
/** Default time limit of one durable LCD write (VIGIL_LCD_WRITE_TIMEOUT_MS). */
export const DEFAULT_LCD_WRITE_TIMEOUT_MS = 10_000;

export interface LcdOpenOptions {
  /** Directory holding lcd.json (created 0700 if missing). */
  dir: string;
  /** This node's name; registered on first start, and must match an existing database. */
  localSystem: string;
  /** Where writes after open go: the platform's time-limited durable writer. */
  files: DurableFiles;
  /** Time limit of one durable write (default DEFAULT_LCD_WRITE_TIMEOUT_MS). */
  writeTimeoutMs?: number;
  /** Told about writes whose outcome on disk is uncertain, and about a fallback at open. */
  onWarning?: (message: string, details: Record<string, unknown>) => void;
  /**
   * Hold an exclusive lock on the state directory until close() or exit (the daemon does): a
   * second process opening it with `lock` is refused with the holder's pid.
   */
  lock?: boolean;
  /** How a missing or damaged database is treated (default 'normal'; see LcdStartMode). */
  start?: LcdStartMode;
  /**
   * Also keep a marker beside the state directory (store.ts outsideMarkerPath), so that an
   * empty state directory of an initialised node (its file system not mounted) is refused
   * rather than taken for a first start. The daemon does; tests of the LCD alone need not.
   */
  markOutside?: boolean;
  /** Compact once the journal holds this many bytes and at least as many as the snapshot (default 64 KiB). */
  compactAtJournalBytes?: number;
}

/** The state directory is held by another running process (a second vigild). */
export class LcdLockedError extends VigilError {
  constructor(dir: string, pid: number | undefined) {
    super(
      0,
      `the LCD in ${dir} is in use by ${pid === undefined ? 'another process' : `process ${pid}`} ` +
        `(lock ${path.join(dir, LOCK_FILE_NAME)}); only one vigild may run on a state directory`,
      { dir, pid },
    );
    this.name = 'LcdLockedError';
  }
}

/**
 * A change refused at once because an earlier LCD write is still stuck in the kernel: the disk
 * holding the state directory is not answering. Nothing was changed; writes work again once
 * the stuck one returns.
 */
export class LcdStalledError extends VigilError {
  constructor(dir: string, what: string, stuckForMs: number) {
    super(
      0,
      `the LCD in ${dir} cannot be written: an earlier write has been stuck in the kernel for ${(stuckForMs / 1000).toFixed(1)} s ` +
        `(the disk holding ${dir} is not answering); "${what}" was not made. Writes resume once the stuck write returns`,
      { dir, what, stuckForMs: Math.round(stuckForMs) },
    );
    this.name = 'LcdStalledError';
  }
}

/** Why durable LCD writes failed, cumulative since open (for metrics). */
export interface LcdWriteFailures {
  /** The write failed with an errno (nothing changed, unless after the rename). */
  error: number;
  /** The write hit its time limit. */
  timeout: number;
  /** Refused at once while an earlier write was stuck in the kernel. */
  stalled: number;
}

/** A document for reading only (Lcd.current()). */
export type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** Returned by a change function that finds nothing to change: nothing is written. */
const UNCHANGED: unique symbol = Symbol('lcd.unchanged');

/** What a listener learns after each change. */
export interface LcdChange {
  /** 'config': written durably; 'state': runtime state changed in memory (persisted by sync()). */
  kind: 'config' | 'state' | 'sync';
  what: string;
  generation: number;
}

export interface EquivalencyFilter {
  system?: string;
  tag?: string;
  otherSystem?: string;
  otherTag?: string;
  type?: string;
}

export interface InstanceFilter {
  system?: string;
  tag?: string;
  id?: string;
  app?: string;
  type?: string;
}

export interface CommPathFilter {
  system?: string;
  otherSystem?: string;
  type?: string;
  localAddress?: string;
  remoteAddress?: string;
  device?: string;
  priority?: number;
}

function matches<T extends object>(rec: T, filter: object): boolean {
  for (const [k, v] of Object.entries(filter)) {
    if (v === undefined) continue;
    if ((rec as Record<string, unknown>)[k] !== v) return false;
  }
  return true;
}

export class Lcd {
  readonly file: string;
  readonly dir: string;
  /** What memory holds: committed changes plus runtime state. */
  private doc: LcdDocument;
  /** What the disk holds (lcd.json + journal), the base of the next record; undefined when uncertain. */
  private persisted: LcdDocument | undefined;
  private readonly listeners = new Set<(c: LcdChange) => void>();
  private readonly files: DurableFiles;
  private readonly writeTimeoutMs: number;
  private readonly onWarning: (message: string, details: Record<string, unknown>) => void;
  /** Probe key of this LCD's writes: stuck ones are counted apart from every other probe. */
  private readonly writeKey: string;
  private readonly writer: LcdDiskWriter;
  /** Tail of the queue that serializes changes (never rejects). */
  private tail: Promise<unknown> = Promise.resolve();
  /** Runtime-state changes made while a write was in flight, replayed onto what it publishes. */
  private replay: ((d: LcdDocument) => LcdDocument | undefined)[] | undefined;
  /** When the write now stuck in the kernel started (undefined: none stuck). */
  private stuckSince: number | undefined;
  private lockHeld: FileLock | undefined;
  /** Set when the state at open came from a fallback (a damaged lcd.json or journal). */
  readonly recovery: LcdRecovery | undefined;
  /** Durable writes since open (for metrics). */
  writes = 0;
  /** Duration of the last durable write in milliseconds. */
  lastWriteMs = 0;
  readonly writeFailures: LcdWriteFailures = { error: 0, timeout: 0, stalled: 0 };

  private constructor(
    file: string,
    doc: LcdDocument,
    opts: LcdOpenOptions,
    disk: LcdDiskState & { recovery?: LcdRecovery; lock?: FileLock },
  ) {
    this.file = file;
    this.dir = path.dirname(file);
    this.doc = freezeDocument(doc);
    this.persisted = this.doc;
    this.files = opts.files;
    this.writeTimeoutMs = opts.writeTimeoutMs ?? DEFAULT_LCD_WRITE_TIMEOUT_MS;
    this.onWarning = opts.onWarning ?? (() => {});
    this.writeKey = `lcd:${this.dir}`;
    this.writer = new LcdDiskWriter(
      {
        files: opts.files,
        dir: this.dir,
        timeoutMs: this.writeTimeoutMs,
        key: this.writeKey,
        compactAtJournalBytes: opts.compactAtJournalBytes ?? DEFAULT_COMPACT_AT_JOURNAL_BYTES,
        onWarning: this.onWarning,
        onTimeout: () => (this.stuckSince = Date.now()),
      },
      disk,
    );
    this.recovery = disk.recovery;
    this.lockHeld = disk.lock;
  }

  /**
   * Open (or on first start create) the database in `dir`. Synchronous on purpose: it runs once
   * at start-up, before the agent protects anything or heartbeats, and nothing can proceed
   * without the LCD anyway; every later write goes through `files`, off the event loop.
   */
  static open(opts: LcdOpenOptions): Lcd {
    const localSystem = parseOrThrow(SystemName, opts.localSystem, 'local system name');
    const created = fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    // A freshly created state directory must itself survive a crash, not only the file in it.
    if (created !== undefined) fsyncDirSync(path.dirname(opts.dir));
    let lock: FileLock | undefined;
    if (opts.lock) {
      const got = opts.files.tryLockExclusive(path.join(opts.dir, LOCK_FILE_NAME));
      if ('heldByPid' in got) throw new LcdLockedError(opts.dir, got.heldByPid);
      lock = got;
    }
    try {
      return Lcd.openLocked(opts, localSystem, lock);
    } catch (err) {
      lock?.release();
      throw err;
    }
  }

  private static openLocked(opts: LcdOpenOptions, localSystem: string, lock: FileLock | undefined): Lcd {
    const file = path.join(opts.dir, LCD_FILE_NAME);
    for (const name of [LCD_FILE_NAME, JOURNAL_FILE_NAME, ...Array.from({ length: GENERATION_SLOTS }, (_, i) => generationFileName(i + 1))]) {
      removeStaleTempFiles(path.join(opts.dir, name));
    }
    const mode = opts.start ?? 'normal';
    if (mode === 'fresh') {
      if (fs.existsSync(file)) {
        throw new VigilError(0, `--lcd-init: the LCD ${file} exists; a fresh start is only for a node whose database is lost (move it away first if you really mean it)`, { file });
      }
      const removed = removeDatabaseFiles(opts.dir);
      if (removed.length) opts.onWarning?.('starting with an empty LCD as asked (--lcd-init); removed what was left of the old one', { dir: opts.dir, removed });
    }
    const loaded = loadDatabase(opts.dir, mode);
    const outsideMarker = outsideMarkerPath(opts.dir);
    if (!loaded && opts.markOutside && mode !== 'fresh' && fs.existsSync(outsideMarker)) {
      throw new LcdMissingError(opts.dir, `the directory holds no database, but ${outsideMarker} says one was created there`);
    }
    if (opts.markOutside && !fs.existsSync(outsideMarker)) writeFileAtomicSync(outsideMarker, markerText(localSystem, opts.dir), LCD_FILE_MODE);
    if (loaded) {
      if (loaded.doc.localSystem !== localSystem) {
        throw new VigilError(0, `the LCD in ${opts.dir} belongs to system "${loaded.doc.localSystem}", not "${localSystem}"`, { file });
      }
      if (loaded.recovery) {
        opts.onWarning?.(`the LCD in ${opts.dir} was damaged or incomplete; running with generation ${loaded.recovery.generation} rebuilt from ${loaded.recovery.source}`, {
          ...loaded.recovery,
        });
      }
      if (loaded.recovery) {
        // Repair the disk now, so that the next start finds a whole database: the damaged files
        // are kept aside (*.damaged) for a post-mortem, the rebuilt state becomes lcd.json.
        for (const name of [LCD_FILE_NAME, JOURNAL_FILE_NAME]) {
          if (fs.existsSync(path.join(opts.dir, name))) fs.renameSync(path.join(opts.dir, name), path.join(opts.dir, `${name}.damaged`));
        }
        const text = serializeDocument(loaded.doc);
        writeFileAtomicSync(path.join(opts.dir, JOURNAL_FILE_NAME), '', LCD_FILE_MODE);
        writeFileAtomicSync(file, text, LCD_FILE_MODE);
        Object.assign(loaded, { journalBytes: 0, snapshotBytes: Buffer.byteLength(text), needsCompaction: false });
      }
      const markerFile = path.join(opts.dir, MARKER_FILE_NAME);
      if (!fs.existsSync(markerFile)) writeFileAtomicSync(markerFile, markerText(localSystem), LCD_FILE_MODE); // a database older than the marker
      return new Lcd(file, loaded.doc, opts, { ...loaded, lock });
    }
    const fresh: LcdDocument = {
      version: LCD_SCHEMA_VERSION,
      generation: 0,
      localSystem,
      systems: [System.parse({ name: localSystem, state: 'ALIVE', stateChangedAt: Date.now() })],
      commPaths: [],
      instances: [],
      dependencies: [],
      equivalencies: [],
    };
    const text = serializeDocument(fresh);
    writeFileAtomicSync(path.join(opts.dir, JOURNAL_FILE_NAME), '', LCD_FILE_MODE);
    writeFileAtomicSync(file, text, LCD_FILE_MODE);
    writeFileAtomicSync(path.join(opts.dir, generationFileName(1)), text, LCD_FILE_MODE);
    writeFileAtomicSync(path.join(opts.dir, MARKER_FILE_NAME), markerText(localSystem), LCD_FILE_MODE);
    return new Lcd(file, fresh, opts, { journalBytes: 0, snapshotBytes: Buffer.byteLength(text), needsCompaction: false, lock });
  }

  /**
   * Read and validate the database in the directory of `file` (lcd.json): the snapshot with its
   * journal applied. Undefined when there is none. For tools and tests; it never falls back.
   */
  static readFile(file: string): LcdDocument | undefined {
    const dir = path.dirname(file);
    if (path.basename(file) !== LCD_FILE_NAME) return readSnapshot(file);
    const loaded = loadDatabase(dir, 'normal');
    if (loaded?.recovery) throw new VigilError(0, `the LCD in ${dir} is damaged: ${loaded.recovery.reason}`, { dir });
    return loaded?.doc;
  }

  /** Compactions since open (for metrics). */
  get compactions(): number {
    return this.writer.compactions;
  }

  /** Releases the state-directory lock (if held). Queued changes still complete. */
  close(): void {
    this.lockHeld?.release();
    this.lockHeld = undefined;
  }

  get localSystem(): string {
    return this.doc.localSystem;
  }
  get generation(): number {
    return this.doc.generation;
  }
  /** True when memory holds something the disk may not (runtime state, or an unconfirmed write). */
  get isDirty(): boolean {
    return this.doc !== this.persisted;
  }
  /** True while a write that hit its time limit is still stuck in the kernel. */
  get stalled(): boolean {
    return this.stalledForMs() !== undefined;
  }

  /** How long the write now stuck in the kernel has been running; undefined when none is. */
  stalledForMs(): number | undefined {
    if (this.stuckSince === undefined) return undefined;
    if (this.files.stuck(this.writeKey) === 0) {
      // The kernel let the stuck thread go (it was reclaimed): writes may run again.
      this.stuckSince = undefined;
      return undefined;
    }
    return Date.now() - this.stuckSince;
  }

  /** A deep copy of the whole database. */
  snapshot(): LcdDocument {
    return structuredClone(this.doc);
  }

  /**
   * The committed document itself, not a copy, for readers that follow every change (the
   * hierarchy engine's view): its records are frozen and a change replaces them, so a record's
   * identity says whether it changed. Never modify what it returns.
   */
  current(): DeepReadonly<LcdDocument> {
    return this.doc;
  }

  onChange(listener: (c: LcdChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- queries (return copies of the committed state) ----

  systems(): System[] {
    return structuredClone(this.doc.systems);
  }
  getSystem(name: string): System | undefined {
    const s = this.doc.systems.find((x) => x.name === name);
    return s && structuredClone(s);
  }
  commPaths(filter: CommPathFilter = {}): CommPath[] {
    return structuredClone(this.doc.commPaths.filter((p) => matches(p, filter)));
  }
  instances(filter: InstanceFilter = {}): ResourceInstance[] {
    return structuredClone(this.doc.instances.filter((i) => matches(i, filter)));
  }
  getInstance(tag: string, system = this.doc.localSystem): ResourceInstance | undefined {
    const i = this.doc.instances.find((x) => x.tag === tag && x.system === system);
    return i && structuredClone(i);
  }
  dependencies(filter: { system?: string; parentTag?: string; childTag?: string } = {}): Dependency[] {
    return structuredClone(this.doc.dependencies.filter((d) => matches(d, filter)));
  }
  equivalencies(filter: EquivalencyFilter = {}): Equivalency[] {
    return structuredClone(this.doc.equivalencies.filter((e) => matches(e, filter)));
  }

  // ---- the one way configuration changes ----

  /**
   * Queue `change`: once the changes queued before it are done, it is applied to a copy of the
   * latest committed document, the result is validated, written durably, then published
   * (memory + listeners). If the change function, validation or the write fails, nothing
   * changes and the promise rejects. Resolves with the change's result.
   */
  mutate<T>(what: string, change: (draft: LcdDocument) => T): Promise<T> {
    // The draft's arrays are its own; the records in them are the committed, frozen ones: a
    // change replaces a record (draft.instances[i] = { ...old, info }) rather than editing it.
    return this.commit(what, change) as Promise<T>;
  }

  private commit<T>(what: string, change: (draft: LcdDocument) => T | typeof UNCHANGED): Promise<T | typeof UNCHANGED> {
    return this.enqueue(async () => {
      this.refuseWhileStalled(what);
      const base = this.doc;
      const draft = draftOf(base);
      const result = change(draft);
      if (result === UNCHANGED) return result;
      const checked = checkedDraft(base, draft);
      await this.persist(checked.doc, what, { from: checked.base, inPlace: checked.inPlace });
      this.publish(checked.doc);
      this.emit({ kind: 'config', what, generation: checked.doc.generation });
      return result;
    });
  }

  // ---- systems ----

  async createSystem(input: SystemInput): Promise<System> {
    const sys = parseOrThrow(System, input, 'system');
    await this.mutate(`sys_create ${sys.name}`, (d) => {
      if (d.systems.some((s) => s.name === sys.name)) {
        throw new VigilError(0, `system "${sys.name}" already exists`, { system: sys.name });
      }
      d.systems.push(sys);
    });
    return sys;
  }

  /**
   * Remove a remote system with its comm paths. Refuses the local system (424) and systems that
   * equivalencies still name.
   */
  async removeSystem(name: string): Promise<void> {
    if (name === this.doc.localSystem) {
      throw tableError(ERR_REMOVE_LOCAL_SYSTEM, { system: name }, { system: name });
    }
    await this.mutate(`sys_remove ${name}`, (d) => {
      if (!d.systems.some((s) => s.name === name)) throw new VigilError(0, `system "${name}" does not exist`, { system: name });
      const eq = d.equivalencies.filter((e) => e.otherSystem === name || e.system === name);
      if (eq.length) {
        throw new VigilError(0, `system "${name}" still has ${eq.length} equivalencies (e.g. "${eq[0]!.tag}"); remove them with eqv_remove first`, {
          system: name,
        });
      }
      d.systems = d.systems.filter((s) => s.name !== name);
      d.instances = d.instances.filter((i) => i.system !== name);
      d.dependencies = d.dependencies.filter((x) => x.system !== name);
      d.commPaths = d.commPaths.filter((p) => p.system !== name && p.otherSystem !== name);
    });
  }

  // ---- comm paths ----

  /** Add a comm path; the remote system is registered if it is not yet known. */
  async createCommPath(input: CommPathInput): Promise<CommPath> {
    const p = parseOrThrow(CommPath, input, 'comm path');
    await this.mutate(`net_create ${commPathKey(p)}`, (d) => {
      for (const name of [p.system, p.otherSystem]) {
        if (!d.systems.some((s) => s.name === name)) d.systems.push(System.parse({ name }));
      }
      d.commPaths.push(p);
    });
    return p;
  }

  /** Remove every comm path matching `filter` (at least one must match). Returns the removed paths. */
  removeCommPaths(filter: CommPathFilter): Promise<CommPath[]> {
    return this.mutate('net_remove', (d) => {
      const gone = d.commPaths.filter((p) => matches(p, filter));
      if (!gone.length) throw new VigilError(0, 'no comm path matches', { filter });
      d.commPaths = d.commPaths.filter((p) => !matches(p, filter));
      return gone;
    });
  }

  // ---- resource instances ----

  async createInstance(input: Omit<ResourceInstanceInput, 'system'> & { system?: string }): Promise<ResourceInstance> {
    const inst = parseOrThrow(ResourceInstance, { system: this.doc.localSystem, ...input }, 'resource instance');
    await this.mutate(`ins_create ${inst.tag}`, (d) => void d.instances.push(inst));
    return inst;
  }

  /** Remove the listed instances and every dependency and equivalency that names them. */
  async removeInstances(keys: { system: string; tag: string }[]): Promise<void> {
    const set = new Set(keys.map((k) => `${k.system}|${k.tag}`));
    await this.mutate(`ins_remove ${keys.map((k) => k.tag).join(' ')}`, (d) => {
      for (const k of keys) requireInstance(d, k.tag, k.system);
      d.instances = d.instances.filter((i) => !set.has(`${i.system}|${i.tag}`));
      d.dependencies = d.dependencies.filter((x) => !set.has(`${x.system}|${x.parentTag}`) && !set.has(`${x.system}|${x.childTag}`));
      d.equivalencies = d.equivalencies.filter((e) => !set.has(`${e.system}|${e.tag}`));
    });
  }

  /**
   * Record a resource's state. With `ifChanged` (the hierarchy engine's own bookkeeping) nothing
   * is written when the instance is gone or already holds this state and reason — judged
   * against the committed document when the change's turn in the queue comes, so a burst of
   * state changes lands in order. Resolves with whether a write happened.
   */
  async setInstanceState(
    tag: string,
    state: ResourceState,
    reason = '',
    system = this.doc.localSystem,
    opts: { ifChanged?: boolean } = {},
  ): Promise<boolean> {
    const st = parseOrThrow(ResourceState, state, 'resource state');
    const r = await this.commit(`ins_setstate ${tag} ${st}`, (d) => {
      const i = d.instances.find((x) => x.tag === tag && x.system === system);
      if (opts.ifChanged && (!i || (i.state === st && i.reason === reason))) return UNCHANGED;
      replaceInstance(d, tag, system, { state: st, reason });
      return true;
    });
    return r !== UNCHANGED;
  }

  async setSwitchback(tag: string, switchback: Switchback, system = this.doc.localSystem): Promise<void> {
    const sb = parseOrThrow(Switchback, switchback, 'switchback type');
    await this.mutate(`ins_setas ${tag} ${sb}`, (d) => {
      replaceInstance(d, tag, system, { switchback: sb });
    });
  }

  async setInstanceInfo(tag: string, info: string, system = this.doc.localSystem): Promise<void> {
    await this.mutate(`ins_setinfo ${tag}`, (d) => {
      replaceInstance(d, tag, system, { info });
    });
  }

  // ---- dependencies ----

  async createDependency(input: Omit<DependencyInput, 'system'> & { system?: string }): Promise<Dependency> {
    const dep = parseOrThrow(Dependency, { system: this.doc.localSystem, ...input }, 'dependency');
    await this.mutate(`dep_create ${dep.parentTag} ${dep.childTag}`, (d) => void d.dependencies.push(dep));
    return dep;
  }

  async removeDependency(parentTag: string, childTag: string, system = this.doc.localSystem): Promise<void> {
    const same = (x: Dependency) => x.system === system && x.parentTag === parentTag && x.childTag === childTag;
    await this.mutate(`dep_remove ${parentTag} ${childTag}`, (d) => {
      if (!d.dependencies.some(same)) throw new VigilError(0, `no dependency of "${parentTag}" on "${childTag}" on system "${system}"`);
      d.dependencies = d.dependencies.filter((x) => !same(x));
    });
  }

  // ---- equivalencies ----

  async createEquivalency(input: Omit<EquivalencyInput, 'system'> & { system?: string }): Promise<Equivalency> {
    const eq = parseOrThrow(Equivalency, { system: this.doc.localSystem, ...input }, 'equivalency');
    await this.mutate(`eqv_create ${eq.tag} ${eq.otherSystem}`, (d) => void d.equivalencies.push(eq));
    return eq;
  }

  /** Remove the equivalencies matching `filter` (at least one must match). Returns them. */
  removeEquivalencies(filter: EquivalencyFilter): Promise<Equivalency[]> {
    return this.mutate('eqv_remove', (d) => {
      const gone = d.equivalencies.filter((e) => matches(e, filter));
      if (!gone.length) throw new VigilError(0, 'no equivalency matches', { filter });
      d.equivalencies = d.equivalencies.filter((e) => !matches(e, filter));
      return gone;
    });
  }

  // ---- runtime state (in memory; persisted by sync) ----

  /** Record a system's liveness as membership sees it. Returns false if the system is unknown or unchanged. */
  setSystemState(name: string, state: SystemState, at = Date.now()): boolean {
    const apply = (d: LcdDocument) => {
      const i = d.systems.findIndex((x) => x.name === name);
      if (i < 0 || d.systems[i]!.state === state) return undefined;
      return { ...d, systems: withReplaced(d.systems, i, { ...d.systems[i]!, state, stateChangedAt: at }) };
    };
    const next = apply(this.doc);
    if (!next) return false;
    this.doc = next;
    this.replay?.push(apply);
    this.emit({ kind: 'state', what: `system ${name} ${state}`, generation: this.doc.generation });
    return true;
  }

  /** Record the state of the comm path whose commPathKey() is `key`. */
  setCommPathState(key: string, state: CommPathState): boolean {
    const apply = (d: LcdDocument) => {
      const i = d.commPaths.findIndex((x) => commPathKey(x) === key);
      if (i < 0 || d.commPaths[i]!.state === state) return undefined;
      return { ...d, commPaths: withReplaced(d.commPaths, i, { ...d.commPaths[i]!, state }) };
    };
    const next = apply(this.doc);
    if (!next) return false;
    this.doc = next;
    this.replay?.push(apply);
    this.emit({ kind: 'state', what: `path ${key} ${state}`, generation: this.doc.generation });
    return true;
  }

  /**
   * Write in-memory runtime state to disk if it changed (lcdsync). Resolves with whether a write
   * happened; rejects like a mutation (LcdStalledError while a write is stuck in the kernel).
   */
  sync(): Promise<boolean> {
    return this.enqueue(async () => {
      if (!this.isDirty) return false;
      this.refuseWhileStalled('lcdsync');
      const next: LcdDocument = { ...this.doc, generation: this.doc.generation + 1 };
      await this.persist(next, 'lcdsync');
      this.publish(next);
      this.emit({ kind: 'sync', what: 'lcdsync', generation: next.generation });
      return true;
    });
  }

  /** Resolves once every change queued so far has been written (or has failed). Never rejects. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private refuseWhileStalled(what: string): void {
    const stuckFor = this.stalledForMs();
    if (stuckFor === undefined) return;
    this.writeFailures.stalled++;
    throw new LcdStalledError(this.dir, what, stuckFor);
  }

  /**
   * Writes `doc` durably, off the event loop, within the time limit (disk-writer.ts: a journal
   * record, or a compaction). Resolves false when the write is durable, true when its outcome is
   * uncertain (it timed out or failed after its commit point: the new state is or will be on
   * disk, durability not confirmed). Rejects with a VigilError when nothing changed on disk.
   */
  private async persist(doc: LcdDocument, what: string, hint?: InPlaceHint): Promise<boolean> {
    const started = Date.now();
    const t0 = performance.now();
    this.replay = [];
    try {
      await this.writer.write(this.persisted, doc, hint);
    } catch (err) {
      if (err instanceof ProbeTimeoutError) {
        this.writeFailures.timeout++;
        this.stuckSince = started;
      } else {
        this.writeFailures.error++;
      }
      const message = err instanceof Error ? err.message : String(err);
      if (commitStarted(err)) {
        // What is on disk is the old or the new state: the next write rewrites everything.
        this.persisted = undefined;
        this.onWarning(`LCD write of "${what}" did not confirm durability; it is kept in memory and written again with the next change or lcdsync`, {
          file: this.file,
          generation: doc.generation,
          error: message,
        });
        return true;
      }
      this.replay = undefined;
      const timedOut = err instanceof ProbeTimeoutError ? ` within ${this.writeTimeoutMs} ms` : '';
      throw new VigilError(0, `could not write the LCD ${this.file}${timedOut}; "${what}" was not made: ${message}`, { file: this.file, what }, { cause: err });
    }
    this.persisted = doc;
    this.lastWriteMs = performance.now() - t0;
    this.writes++;
    if (this.writer.dueForCompaction) this.compactInQueue();
    return false;
  }

  /** Queues a compaction of the committed state (after the change that made the journal large). */
  private compactInQueue(): void {
    void this.enqueue(async () => {
      if (this.stalled || !this.persisted) return; // the next write compacts
      try {
        await this.writer.compact(this.persisted);
      } catch (err) {
        if (err instanceof ProbeTimeoutError) this.stuckSince = Date.now();
        // Whatever happened to lcd.json, it holds the old or the same state; the journal is intact.
        this.onWarning('LCD compaction failed; the journal keeps growing until the next one', { file: this.file, error: String(err) });
      }
    });
  }

  /** Makes `next` the committed document, keeping runtime state that changed while it was written. */
  private publish(next: LcdDocument): void {
    let doc = next;
    for (const apply of this.replay ?? []) doc = apply(doc) ?? doc;
    this.replay = undefined;
    this.doc = doc;
  }

  private emit(c: LcdChange): void {
    for (const l of this.listeners) {
      try {
        l(c);
      } catch {
        // A listener's failure must not undo or block a committed change.
      }
    }
  }
}

function markerText(localSystem: string, dir?: string): string {
  return JSON.stringify({ localSystem, ...(dir ? { stateDir: path.resolve(dir) } : {}), initialisedAt: new Date().toISOString() }) + '\n';
}
