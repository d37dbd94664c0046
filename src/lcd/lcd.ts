// The LCD: this node's configuration database (systems, comm paths, resource instances,
// dependencies, equivalencies) held in memory and persisted as one JSON document.
//
// Every configuration change is queued, then applied to a copy of the latest committed document,
// checked (record schemas + cross-record invariants), written durably and only then made
// visible; a change that fails any check rejects with a VigilError and leaves both memory and
// disk untouched. Runtime state reported by the cluster (system alive/dead, path up/down)
// changes often, so it is kept in memory and written by sync() (the `lcdsync` command,
// shutdown, or a periodic flush).
//
// Writes never run on the event loop: they go through the platform's DurableFiles (a native
// thread with a time limit), because the disk holding the state directory can stall and the
// agent must keep heartbeating meanwhile. One write at a time (the queue), and while a write
// that timed out is still stuck in the kernel, new writes are refused at once rather than
// piling up threads behind it (see LcdStalledError).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ERROR_TABLE } from '../common/error-table.js';
import { VigilError } from '../common/errors.js';
import { commitStarted, ProbeTimeoutError } from '../platform/errors.js';
import type { DurableFiles } from '../platform/platform.js';
import { fsyncDirSync, removeStaleTempFiles, writeFileAtomicSync } from './atomic-file.js';
import { checkInvariants } from './invariants.js';
import { migrate } from './migrations.js';
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
import { parseOrThrow } from './validate.js';

export const LCD_FILE_NAME = 'lcd.json';
export const LCD_FILE_MODE = 0o600;
export const ERR_REMOVE_LOCAL_SYSTEM = ERROR_TABLE.REMOVE_LOCAL_SYSTEM.number;
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
  /** Told about writes whose outcome on disk is uncertain (a timeout after the commit point). */
  onWarning?: (message: string, details: Record<string, unknown>) => void;
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
  private doc: LcdDocument;
  private dirty = false;
  private readonly listeners = new Set<(c: LcdChange) => void>();
  private readonly files: DurableFiles;
  private readonly writeTimeoutMs: number;
  private readonly onWarning: (message: string, details: Record<string, unknown>) => void;
  /** Probe key of this LCD's writes: stuck ones are counted apart from every other probe. */
  private readonly writeKey: string;
  /** Tail of the queue that serializes changes (never rejects). */
  private tail: Promise<unknown> = Promise.resolve();
  /** Runtime-state changes made while a write was in flight, replayed onto what it publishes. */
  private replay: ((d: LcdDocument) => boolean)[] | undefined;
  /** When the write now stuck in the kernel started (undefined: none stuck). */
  private stuckSince: number | undefined;
  /** Durable writes since open (for metrics). */
  writes = 0;
  /** Duration of the last durable write in milliseconds. */
  lastWriteMs = 0;
  readonly writeFailures: LcdWriteFailures = { error: 0, timeout: 0, stalled: 0 };

  private constructor(file: string, doc: LcdDocument, opts: LcdOpenOptions) {
    this.file = file;
    this.dir = path.dirname(file);
    this.doc = doc;
    this.files = opts.files;
    this.writeTimeoutMs = opts.writeTimeoutMs ?? DEFAULT_LCD_WRITE_TIMEOUT_MS;
    this.onWarning = opts.onWarning ?? (() => {});
    this.writeKey = `lcd:${this.dir}`;
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
    const file = path.join(opts.dir, LCD_FILE_NAME);
    removeStaleTempFiles(file);
    const existing = Lcd.readFile(file);
    if (existing) {
      if (existing.localSystem !== localSystem) {
        throw new VigilError(0, `the LCD in ${opts.dir} belongs to system "${existing.localSystem}", not "${localSystem}"`, {
          file,
        });
      }
      return new Lcd(file, existing, opts);
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
    writeFileAtomicSync(file, Lcd.serialize(fresh), LCD_FILE_MODE);
    return new Lcd(file, fresh, opts);
  }

  /** Read and validate an LCD file; undefined when it does not exist. */
  static readFile(file: string): LcdDocument | undefined {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new VigilError(0, `LCD file ${file} is not valid JSON`, { file }, { cause: err });
    }
    const doc = parseOrThrow(LcdDocument, migrate(raw), 'LCD record');
    checkInvariants(doc);
    return doc;
  }

  private static serialize(doc: LcdDocument): string {
    return JSON.stringify(doc, null, 1) + '\n';
  }

  get localSystem(): string {
    return this.doc.localSystem;
  }
  get generation(): number {
    return this.doc.generation;
  }
  /** True when memory holds something the disk may not (runtime state, or an unconfirmed write). */
  get isDirty(): boolean {
    return this.dirty;
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
    return this.commit(what, change) as Promise<T>;
  }

  private commit<T>(what: string, change: (draft: LcdDocument) => T | typeof UNCHANGED): Promise<T | typeof UNCHANGED> {
    return this.enqueue(async () => {
      this.refuseWhileStalled(what);
      const draft = structuredClone(this.doc);
      const result = change(draft);
      if (result === UNCHANGED) return result;
      draft.generation = this.doc.generation + 1;
      const checked = parseOrThrow(LcdDocument, draft, 'LCD record');
      checkInvariants(checked);
      const uncertain = await this.persist(checked, what);
      this.publish(checked, uncertain);
      this.emit({ kind: 'config', what, generation: checked.generation });
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
      throw new VigilError(ERR_REMOVE_LOCAL_SYSTEM, `can't remove entry for local system "${name}"`, { system: name });
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
      requireInstance(d, tag, system);
      i!.state = st;
      i!.reason = reason;
      return true;
    });
    return r !== UNCHANGED;
  }

  async setSwitchback(tag: string, switchback: Switchback, system = this.doc.localSystem): Promise<void> {
    const sb = parseOrThrow(Switchback, switchback, 'switchback type');
    await this.mutate(`ins_setas ${tag} ${sb}`, (d) => {
      requireInstance(d, tag, system).switchback = sb;
    });
  }

  async setInstanceInfo(tag: string, info: string, system = this.doc.localSystem): Promise<void> {
    await this.mutate(`ins_setinfo ${tag}`, (d) => {
      requireInstance(d, tag, system).info = info;
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
      const s = d.systems.find((x) => x.name === name);
      if (!s || s.state === state) return false;
      s.state = state;
      s.stateChangedAt = at;
      return true;
    };
    if (!apply(this.doc)) return false;
    this.replay?.push(apply);
    this.dirty = true;
    this.emit({ kind: 'state', what: `system ${name} ${state}`, generation: this.doc.generation });
    return true;
  }

  /** Record the state of the comm path whose commPathKey() is `key`. */
  setCommPathState(key: string, state: CommPathState): boolean {
    const apply = (d: LcdDocument) => {
      const p = d.commPaths.find((x) => commPathKey(x) === key);
      if (!p || p.state === state) return false;
      p.state = state;
      return true;
    };
    if (!apply(this.doc)) return false;
    this.replay?.push(apply);
    this.dirty = true;
    this.emit({ kind: 'state', what: `path ${key} ${state}`, generation: this.doc.generation });
    return true;
  }

  /**
   * Write in-memory runtime state to disk if it changed (lcdsync). Resolves with whether a write
   * happened; rejects like a mutation (LcdStalledError while a write is stuck in the kernel).
   */
  sync(): Promise<boolean> {
    return this.enqueue(async () => {
      if (!this.dirty) return false;
      this.refuseWhileStalled('lcdsync');
      const next = { ...structuredClone(this.doc), generation: this.doc.generation + 1 };
      const uncertain = await this.persist(next, 'lcdsync');
      this.publish(next, uncertain);
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
   * Writes `doc` durably, off the event loop, within the time limit. Resolves false when the
   * write is durable, true when its outcome is uncertain (it timed out or failed after its
   * rename began: the new file is or will be in place, durability not confirmed). Rejects with a
   * VigilError when nothing changed on disk.
   */
  private async persist(doc: LcdDocument, what: string): Promise<boolean> {
    const started = Date.now();
    const t0 = performance.now();
    this.replay = [];
    try {
      await this.files.writeAtomic(this.file, Lcd.serialize(doc), { mode: LCD_FILE_MODE, timeoutMs: this.writeTimeoutMs, key: this.writeKey });
    } catch (err) {
      if (err instanceof ProbeTimeoutError) {
        this.writeFailures.timeout++;
        this.stuckSince = started;
      } else {
        this.writeFailures.error++;
      }
      const message = err instanceof Error ? err.message : String(err);
      if (commitStarted(err)) {
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
    this.lastWriteMs = performance.now() - t0;
    this.writes++;
    return false;
  }

  /** Makes `next` the committed document, keeping runtime state that changed while it was written. */
  private publish(next: LcdDocument, uncertain: boolean): void {
    let changedSince = false;
    for (const apply of this.replay ?? []) changedSince = apply(next) || changedSince;
    this.replay = undefined;
    this.doc = next;
    this.dirty = uncertain || changedSince;
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

function requireInstance(d: LcdDocument, tag: string, system: string): ResourceInstance {
  const i = d.instances.find((x) => x.tag === tag && x.system === system);
  if (!i) throw new VigilError(0, `resource "${tag}" does not exist on system "${system}"`, { tag, system });
  return i;
}
