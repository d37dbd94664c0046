// The LCD: this node's configuration database (systems, comm paths, resource instances,
// dependencies, equivalencies) held in memory and persisted as one JSON document.
//
// Every configuration change is applied to a copy, checked (record schemas + cross-record
// invariants), written durably (atomic-file.ts) and only then made visible; a change that
// fails any check throws a VigilError and leaves both memory and disk untouched. Runtime
// state reported by the cluster (system alive/dead, path up/down) changes often, so it is
// kept in memory and written by sync() (the `lcdsync` command, shutdown, or a periodic flush).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VigilError } from '../common/errors.js';
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
export const ERR_REMOVE_LOCAL_SYSTEM = 424;

export interface LcdOpenOptions {
  /** Directory holding lcd.json (created 0700 if missing). */
  dir: string;
  /** This node's name; registered on first start, and must match an existing database. */
  localSystem: string;
}

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
  private doc: LcdDocument;
  private dirty = false;
  private readonly listeners = new Set<(c: LcdChange) => void>();
  /** Durable writes since open (for metrics). */
  writes = 0;
  /** Duration of the last durable write in milliseconds. */
  lastWriteMs = 0;

  private constructor(file: string, doc: LcdDocument) {
    this.file = file;
    this.doc = doc;
  }

  /** Open (or on first start create) the database in `dir`. */
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
      return new Lcd(file, existing);
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
    const lcd = new Lcd(file, fresh);
    lcd.persist(fresh);
    return lcd;
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

  get localSystem(): string {
    return this.doc.localSystem;
  }
  get generation(): number {
    return this.doc.generation;
  }
  /** True when runtime state changed since the last write. */
  get isDirty(): boolean {
    return this.dirty;
  }

  /** A deep copy of the whole database. */
  snapshot(): LcdDocument {
    return structuredClone(this.doc);
  }

  onChange(listener: (c: LcdChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- queries (return copies) ----

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
   * Apply `change` to a copy, validate the result, write it durably, then publish it. If the
   * change function, validation or the write throws, nothing changes. Returns the change's result.
   */
  mutate<T>(what: string, change: (draft: LcdDocument) => T): T {
    const draft = structuredClone(this.doc);
    const result = change(draft);
    draft.generation = this.doc.generation + 1;
    const checked = parseOrThrow(LcdDocument, draft, 'LCD record');
    checkInvariants(checked);
    this.persist(checked);
    this.doc = checked;
    this.dirty = false;
    this.emit({ kind: 'config', what, generation: checked.generation });
    return result;
  }

  // ---- systems ----

  createSystem(input: SystemInput): System {
    const sys = parseOrThrow(System, input, 'system');
    if (this.doc.systems.some((s) => s.name === sys.name)) {
      throw new VigilError(0, `system "${sys.name}" already exists`, { system: sys.name });
    }
    this.mutate(`sys_create ${sys.name}`, (d) => void d.systems.push(sys));
    return sys;
  }

  /** Remove a remote system. Refuses the local system (424) and systems that equivalencies still name. */
  removeSystem(name: string): void {
    if (name === this.doc.localSystem) {
      throw new VigilError(ERR_REMOVE_LOCAL_SYSTEM, `can't remove entry for local system "${name}"`, { system: name });
    }
    if (!this.doc.systems.some((s) => s.name === name)) throw new VigilError(0, `system "${name}" does not exist`, { system: name });
    const eq = this.doc.equivalencies.filter((e) => e.otherSystem === name || e.system === name);
    if (eq.length) {
      throw new VigilError(0, `system "${name}" still has ${eq.length} equivalencies (e.g. "${eq[0]!.tag}"); remove them with eqv_remove first`, {
        system: name,
      });
    }
    this.mutate(`sys_remove ${name}`, (d) => {
      d.systems = d.systems.filter((s) => s.name !== name);
      d.instances = d.instances.filter((i) => i.system !== name);
      d.dependencies = d.dependencies.filter((x) => x.system !== name);
    });
  }

  // ---- comm paths ----

  /** Add a comm path; the remote system is registered if it is not yet known. */
  createCommPath(input: CommPathInput): CommPath {
    const p = parseOrThrow(CommPath, input, 'comm path');
    this.mutate(`net_create ${commPathKey(p)}`, (d) => {
      for (const name of [p.system, p.otherSystem]) {
        if (!d.systems.some((s) => s.name === name)) d.systems.push(System.parse({ name }));
      }
      d.commPaths.push(p);
    });
    return p;
  }

  /** Remove every comm path matching `filter` (at least one must match). Returns the removed paths. */
  removeCommPaths(filter: CommPathFilter): CommPath[] {
    const gone = this.doc.commPaths.filter((p) => matches(p, filter));
    if (!gone.length) throw new VigilError(0, 'no comm path matches', { filter });
    this.mutate(`net_remove ${gone.length}`, (d) => {
      d.commPaths = d.commPaths.filter((p) => !matches(p, filter));
    });
    return structuredClone(gone);
  }

  // ---- resource instances ----

  createInstance(input: Omit<ResourceInstanceInput, 'system'> & { system?: string }): ResourceInstance {
    const inst = parseOrThrow(ResourceInstance, { system: this.doc.localSystem, ...input }, 'resource instance');
    this.mutate(`ins_create ${inst.tag}`, (d) => void d.instances.push(inst));
    return inst;
  }

  /** Remove the listed instances and every dependency and equivalency that names them. */
  removeInstances(keys: { system: string; tag: string }[]): void {
    const set = new Set(keys.map((k) => `${k.system}|${k.tag}`));
    for (const k of keys) {
      if (!this.doc.instances.some((i) => i.system === k.system && i.tag === k.tag)) {
        throw new VigilError(0, `resource "${k.tag}" does not exist on system "${k.system}"`, { tag: k.tag, system: k.system });
      }
    }
    this.mutate(`ins_remove ${keys.map((k) => k.tag).join(' ')}`, (d) => {
      d.instances = d.instances.filter((i) => !set.has(`${i.system}|${i.tag}`));
      d.dependencies = d.dependencies.filter((x) => !set.has(`${x.system}|${x.parentTag}`) && !set.has(`${x.system}|${x.childTag}`));
      d.equivalencies = d.equivalencies.filter((e) => !set.has(`${e.system}|${e.tag}`));
    });
  }

  private requireInstance(tag: string, system: string): void {
    if (!this.doc.instances.some((i) => i.tag === tag && i.system === system)) {
      throw new VigilError(0, `resource "${tag}" does not exist on system "${system}"`, { tag, system });
    }
  }

  setInstanceState(tag: string, state: ResourceState, reason = '', system = this.doc.localSystem): void {
    const st = parseOrThrow(ResourceState, state, 'resource state');
    this.requireInstance(tag, system);
    this.mutate(`ins_setstate ${tag} ${st}`, (d) => {
      const i = d.instances.find((x) => x.tag === tag && x.system === system)!;
      i.state = st;
      i.reason = reason;
    });
  }

  setSwitchback(tag: string, switchback: Switchback, system = this.doc.localSystem): void {
    const sb = parseOrThrow(Switchback, switchback, 'switchback type');
    this.requireInstance(tag, system);
    this.mutate(`ins_setas ${tag} ${sb}`, (d) => {
      d.instances.find((x) => x.tag === tag && x.system === system)!.switchback = sb;
    });
  }

  setInstanceInfo(tag: string, info: string, system = this.doc.localSystem): void {
    this.requireInstance(tag, system);
    this.mutate(`ins_setinfo ${tag}`, (d) => {
      d.instances.find((x) => x.tag === tag && x.system === system)!.info = info;
    });
  }

  // ---- dependencies ----

  createDependency(input: Omit<DependencyInput, 'system'> & { system?: string }): Dependency {
    const dep = parseOrThrow(Dependency, { system: this.doc.localSystem, ...input }, 'dependency');
    this.mutate(`dep_create ${dep.parentTag} ${dep.childTag}`, (d) => void d.dependencies.push(dep));
    return dep;
  }

  removeDependency(parentTag: string, childTag: string, system = this.doc.localSystem): void {
    if (!this.doc.dependencies.some((x) => x.system === system && x.parentTag === parentTag && x.childTag === childTag)) {
      throw new VigilError(0, `no dependency of "${parentTag}" on "${childTag}" on system "${system}"`);
    }
    this.mutate(`dep_remove ${parentTag} ${childTag}`, (d) => {
      d.dependencies = d.dependencies.filter((x) => !(x.system === system && x.parentTag === parentTag && x.childTag === childTag));
    });
  }

  // ---- equivalencies ----

  createEquivalency(input: Omit<EquivalencyInput, 'system'> & { system?: string }): Equivalency {
    const eq = parseOrThrow(Equivalency, { system: this.doc.localSystem, ...input }, 'equivalency');
    this.mutate(`eqv_create ${eq.tag} ${eq.otherSystem}`, (d) => void d.equivalencies.push(eq));
    return eq;
  }

  /** Remove the equivalencies matching `filter` (at least one must match). Returns them. */
  removeEquivalencies(filter: EquivalencyFilter): Equivalency[] {
    const gone = this.doc.equivalencies.filter((e) => matches(e, filter));
    if (!gone.length) throw new VigilError(0, 'no equivalency matches', { filter });
    this.mutate(`eqv_remove ${gone.length}`, (d) => {
      d.equivalencies = d.equivalencies.filter((e) => !matches(e, filter));
    });
    return structuredClone(gone);
  }

  // ---- runtime state (in memory; persisted by sync) ----

  /** Record a system's liveness as membership sees it. Returns false if the system is unknown or unchanged. */
  setSystemState(name: string, state: SystemState, at = Date.now()): boolean {
    const s = this.doc.systems.find((x) => x.name === name);
    if (!s || s.state === state) return false;
    s.state = state;
    s.stateChangedAt = at;
    this.dirty = true;
    this.emit({ kind: 'state', what: `system ${name} ${state}`, generation: this.doc.generation });
    return true;
  }

  /** Record the state of the comm path whose commPathKey() is `key`. */
  setCommPathState(key: string, state: CommPathState): boolean {
    const p = this.doc.commPaths.find((x) => commPathKey(x) === key);
    if (!p || p.state === state) return false;
    p.state = state;
    this.dirty = true;
    this.emit({ kind: 'state', what: `path ${key} ${state}`, generation: this.doc.generation });
    return true;
  }

  /** Write in-memory runtime state to disk if it changed (lcdsync). Returns whether a write happened. */
  sync(): boolean {
    if (!this.dirty) return false;
    const next = { ...structuredClone(this.doc), generation: this.doc.generation + 1 };
    this.persist(next);
    this.doc = next;
    this.dirty = false;
    this.emit({ kind: 'sync', what: 'lcdsync', generation: next.generation });
    return true;
  }

  private persist(doc: LcdDocument): void {
    const t0 = performance.now();
    writeFileAtomicSync(this.file, JSON.stringify(doc, null, 1) + '\n');
    this.lastWriteMs = performance.now() - t0;
    this.writes++;
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
