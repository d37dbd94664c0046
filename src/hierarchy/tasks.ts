// The administrative tasks of the seeds' wizards, as functions: create, extend, unextend,
// delete, dependency create/delete, properties. Each checks its input first (with the seeds'
// error numbers) so bad input changes nothing, takes the hierarchy's cluster-wide admin lock
// while it changes several systems, and reports what it did in lines like the wizards print.
// Steps that run on another system travel as TaskStep messages (handleTaskStep answers them).

import { CORE_ERRORS, renderMessage } from '../common/error-table.js';
import { tableError, usageError, VigilError } from '../common/errors.js';
import { TAG_RE, type Switchback } from '../lcd/schema.js';
import { timeLimitOverrideProblem } from '../kits/action-time-limit.js';
import { DependencyGraph } from './graph.js';
import { errorNumberOf } from '../kits/kit.js';
import { kitInstance, kitName, parseInfo, splitKitName } from './lcd-view.js';
import type { HierarchyService } from './service.js';
import { isInService } from './states.js';

// Seed error numbers (001, "common", "create" and "extend" tables), from the one error table.
export const E_USAGE = CORE_ERRORS.USAGE.number;
export const E_TEMPLATE_MISSING = CORE_ERRORS.TEMPLATE_MISSING.number;
export const E_ALREADY_EXTENDED = CORE_ERRORS.ALREADY_EXTENDED.number;
export const E_CANEXTEND_UNAVAILABLE = CORE_ERRORS.CANEXTEND_UNAVAILABLE.number;
export const E_CANNOT_EXTEND = CORE_ERRORS.CANNOT_EXTEND.number;
export const E_TEMPLATE_ARGS = CORE_ERRORS.TEMPLATE_ARGS.number;
export const E_CREATE_USAGE = CORE_ERRORS.CREATE_USAGE.number;
export const E_TAG_OR_ID_EXISTS = CORE_ERRORS.TAG_OR_ID_EXISTS.number;
export const E_INS_CREATE_FAILED = CORE_ERRORS.INS_CREATE_FAILED.number;
export const E_NOT_FOUND = CORE_ERRORS.NOT_FOUND.number;
export const E_CREATE_ERROR = CORE_ERRORS.CREATE_ERROR.number;
export const E_REMOVING_AFTER_ERROR = CORE_ERRORS.REMOVING_AFTER_ERROR.number;
export const E_IN_SERVICE_FAILED = CORE_ERRORS.IN_SERVICE_FAILED.number;
export const E_RESTORE_ON_CREATE = CORE_ERRORS.RESTORE_ON_CREATE.number;
export const E_CREATE_FAILED = CORE_ERRORS.CREATE_FAILED.number;
export const E_REMOVING_DEPENDENCY = CORE_ERRORS.REMOVING_DEPENDENCY.number;
export const E_REMOVING_CHILD_HIERARCHY = CORE_ERRORS.REMOVING_CHILD_HIERARCHY.number;
export const E_SWITCHBACK_MISMATCH = CORE_ERRORS.SWITCHBACK_MISMATCH.number;
export const E_TAG_MISSING = CORE_ERRORS.TAG_MISSING.number;
/** A refusal the seeds give no number for (a rule, not a malformed command line). */
const E_NONE = 0;

interface ResourceSpec {
  tag: string;
  id: string;
  kit: string;
  switchback: Switchback;
  info: Record<string, string>;
}

export type TaskStep =
  | { kind: 'extend-target'; template: string; resources: ResourceSpec[]; deps: Array<{ parent: string; child: string }>; equivalents: Array<{ system: string; priority: number }>; targetPriority: number }
  | { kind: 'add-eqv'; tags: string[]; otherSystem: string; otherPriority: number }
  | { kind: 'remove-eqv'; tags: string[]; otherSystem: string }
  | { kind: 'unextend-target'; tags: string[] }
  | { kind: 'dep'; op: 'create' | 'delete'; parent: string; child: string }
  | { kind: 'set-switchback'; tags: string[]; switchback: Switchback };

export interface TaskOutput {
  lines: string[];
  data?: unknown;
}

function stamp(): string {
  return new Date().toISOString().replace('T', ' ').slice(0, 19);
}

function requireTag(tag: string | undefined, what: 'create' | 'extend'): string {
  if (!tag) throw tableError(E_TAG_MISSING, { task: what });
  if (!TAG_RE.test(tag)) throw usageError(`invalid tag "${tag}": use 1-256 letters, digits and - _ . /`);
  return tag;
}

function parsePriority(v: string | number | undefined, what: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 999) throw usageError(`${what} must be a whole number from 1 to 999, not "${v}"`);
  return n;
}

function parseSwitchback(v: string | undefined, fallback: Switchback): Switchback {
  if (v === undefined || v === '') return fallback;
  const s = v.toLowerCase();
  if (s !== 'intelligent' && s !== 'automatic') throw usageError(`switchback type must be intelligent or automatic, not "${v}"`);
  return s;
}

/**
 * A kit that cannot follow automatic switchback (scsi/netraid) refuses it, for the whole
 * hierarchy above it. The command line is well formed, so this is not a usage error (000002):
 * `refuse` gives the task's own number for a kit turning the resource down (create 000018,
 * extend 000008; properties has none).
 */
function refuseAutomatic(svc: HierarchyService, apps: string[], switchback: Switchback, refuse: (reason: string) => VigilError): void {
  if (switchback !== 'automatic') return;
  for (const app of apps) {
    const why = svc.kits.get(app)?.refusesAutomaticSwitchback;
    if (why) throw refuse(`switchback type automatic is refused: ${why}`);
  }
}

/** Tags of the hierarchy containing `tag`, children first. */
function hierarchyOf(svc: HierarchyService, tag: string): { key: string; tags: string[]; graph: DependencyGraph } {
  const g = new DependencyGraph();
  for (const i of svc.lcd.instances({ system: svc.local })) g.addNode(i.tag);
  for (const d of svc.lcd.dependencies({ system: svc.local })) g.addDependency(d.parentTag, d.childTag);
  return { key: g.hierarchyKey(tag), tags: g.restoreWaves(g.component(tag)).flat(), graph: g };
}

async function withLock<T>(svc: HierarchyService, tag: string, purpose: string, fn: () => Promise<T>): Promise<T> {
  const lock = await svc.lock(tag, purpose);
  try {
    return await fn();
  } finally {
    svc.unlock(lock);
  }
}

// ---------------------------------------------------------------- create

export interface CreateArgs {
  kit?: string;
  tag?: string;
  id?: string;
  switchback?: string;
  info: Record<string, string>;
}

/** 000014 for a resource whose tag (`tagUsed`) or else id is already used; the seeds' text names the tag, the detail says which. */
function tagOrIdExists(tag: string, id: string, tagUsed: boolean, server?: string): VigilError {
  return tableError(E_TAG_OR_ID_EXISTS, { tag, server, detail: tagUsed ? 'the tag is in use' : `ID ${id} is in use` }, { tag, id });
}

/** create's usage errors carry the seeds' create number (000012), the other tasks' 000002. */
export async function createHierarchy(svc: HierarchyService, a: CreateArgs): Promise<TaskOutput> {
  try {
    return await createChecked(svc, a);
  } catch (e) {
    if (e instanceof VigilError && e.number === E_USAGE) throw tableError(E_CREATE_USAGE, { usage: String(e.details.usage ?? e.message) }, e.details, { cause: e });
    throw e;
  }
}

async function createChecked(svc: HierarchyService, a: CreateArgs): Promise<TaskOutput> {
  const sys = svc.local;
  if (!a.kit) throw usageError('the recovery kit (-a gen/app, gen/filesys, ...) is not specified');
  const { app, type } = splitKitName(a.kit);
  const tag = requireTag(a.tag, 'create');
  if (!a.id) throw usageError('the resource id (-i, e.g. the mount point) is not specified');
  const badLimit = timeLimitOverrideProblem(a.info);
  if (badLimit) throw usageError(badLimit, { tag });
  const switchback = parseSwitchback(a.switchback, 'intelligent');
  const kit = svc.kits.get(a.kit);
  if (!kit) throw usageError(`no recovery kit named ${a.kit} (kits: ${svc.kits.apps().join(', ')})`);
  const tagUsed = svc.lcd.getInstance(tag) !== undefined;
  if (tagUsed || svc.lcd.instances({ system: sys, app, type, id: a.id }).length) throw tagOrIdExists(tag, a.id, tagUsed);
  const createRefused = (reason: string) => tableError(E_CREATE_ERROR, { tag, server: sys, reason }, { tag });
  refuseAutomatic(svc, [a.kit], switchback, createRefused);
  const inst = { tag, id: a.id, app: a.kit, info: a.info };
  const v = kit.validate(inst);
  if (!v.ok) throw new VigilError(errorNumberOf(v.reason) ?? E_CREATE_ERROR, renderMessage(E_CREATE_ERROR, { tag, server: sys, reason: v.reason }), { tag });
  const children = kit.childrenForCreate?.(inst) ?? [];
  const parents = kit.parentsForCreate?.(inst) ?? [];
  const related = [...children, ...parents];
  for (const c of related) {
    const ck = svc.kits.get(c.app);
    if (!ck) throw usageError(`no recovery kit named ${c.app} for ${c.tag} (kits: ${svc.kits.apps().join(', ')})`);
    const { app: capp, type: ctype } = splitKitName(c.app);
    const childTagUsed = c.tag === tag || related.some((o) => o !== c && o.tag === c.tag) || svc.lcd.getInstance(c.tag) !== undefined;
    if (childTagUsed || svc.lcd.instances({ system: sys, app: capp, type: ctype, id: c.id }).length) throw tagOrIdExists(c.tag, c.id, childTagUsed);
    const cv = ck.validate(c);
    if (!cv.ok) throw new VigilError(errorNumberOf(cv.reason) ?? E_CREATE_ERROR, renderMessage(E_CREATE_ERROR, { tag: c.tag, server: sys, reason: cv.reason }), { tag: c.tag });
  }
  refuseAutomatic(svc, parents.map((p) => p.app), switchback, createRefused);
  return withLock(svc, tag, 'create', async () => {
    const lines: string[] = [];
    const made: string[] = [];
    /** Resources whose kit create succeeded, in creation order (undone in reverse). */
    const kitCreated: Array<typeof inst> = [];
    const learned = new Map<string, Record<string, string>>();
    // Children first (the seeds' NAS flow: the export resource, then the file system on it).
    for (const c of children) {
      lines.push(`Creating ${c.app} resource...`, `${stamp()} create: BEGIN creation of "${c.tag}" on server "${sys}"`);
      const cc = await svc.runKit(c, 'create');
      if (!cc.ok) {
        throw new VigilError(errorNumberOf(cc.reason) ?? E_CREATE_FAILED, renderMessage(E_CREATE_FAILED, { tag: c.tag, server: sys, reason: cc.reason }), { tag: c.tag, lines });
      }
      kitCreated.push(c);
      if (cc.reason) lines.push(`  ${cc.reason}`);
      if (cc.info) learned.set(c.tag, cc.info);
    }
    lines.push(`${stamp()} create: BEGIN creation of "${tag}" on server "${sys}"`);
    const c = await svc.runKit(inst, 'create');
    if (!c.ok) throw new VigilError(errorNumberOf(c.reason) ?? E_CREATE_FAILED, renderMessage(E_CREATE_FAILED, { tag, server: sys, reason: c.reason }), { tag, lines });
    kitCreated.push(inst);
    if (c.reason) lines.push(...c.reason.split('\n').map((l) => `  ${l}`));
    const info = { ...a.info, ...(c.info ?? {}) };
    // Everything undone in the reverse order it was done: out of service (parents first), the
    // LCD rows, then each kit's own undo of its create (undoCreate, else delete: it puts the
    // system back as it was, e.g. a file system remounted on its partition, its fstab line back).
    const backOut = async (why: string, number: number): Promise<never> => {
      for (const ch of children) {
        if (made.includes(tag) && made.includes(ch.tag)) {
          lines.push(`${renderMessage(E_REMOVING_DEPENDENCY, { 'parent tag': tag, 'child tag': ch.tag, server: sys })} (${E_REMOVING_DEPENDENCY})`);
        }
      }
      for (const p of [...parents].reverse()) {
        if (!made.includes(p.tag)) continue;
        lines.push(`${renderMessage(E_REMOVING_AFTER_ERROR, { tag: p.tag, 'child tag': tag, server: sys })} (${E_REMOVING_AFTER_ERROR})`);
        await svc.admin({ type: 'adminAction', tag: p.tag, action: 'remove' });
      }
      if (made.includes(tag)) {
        lines.push(`${renderMessage(E_REMOVING_AFTER_ERROR, { tag, server: sys })} (${E_REMOVING_AFTER_ERROR})`);
        await svc.admin({ type: 'adminAction', tag, action: 'remove' });
      }
      for (const ch of [...children].reverse()) {
        if (!made.includes(ch.tag)) continue;
        lines.push(`${renderMessage(E_REMOVING_CHILD_HIERARCHY, { 'filesys tag': ch.tag, 'parent tag': tag, server: sys })} (${E_REMOVING_CHILD_HIERARCHY})`);
        await svc.admin({ type: 'adminAction', tag: ch.tag, action: 'remove' });
      }
      await svc.lcd.removeInstances(made.map((t) => ({ system: sys, tag: t })));
      svc.reconfigureNow();
      for (const k of [...kitCreated].reverse()) {
        const u = await svc.undoCreate(k);
        if (!u.ok) lines.push(`warning: undoing the creation of ${k.tag} on server ${sys}: ${u.reason}`);
        else if (u.reason) lines.push(...u.reason.split('\n').map((l) => `  ${l}`));
      }
      throw new VigilError(number, why, { tag, lines });
    };
    for (const p of parents) {
      lines.push(`Creating Resource Instance "${p.tag}" with id "${p.id}" on machine "${sys}"`);
      const pc = await svc.runKit(p, 'create');
      if (!pc.ok) return backOut(renderMessage(E_CREATE_FAILED, { tag: p.tag, server: sys, reason: pc.reason }), errorNumberOf(pc.reason) ?? E_CREATE_FAILED);
      kitCreated.push(p);
      if (pc.reason) lines.push(`  ${pc.reason}`);
      if (pc.info) learned.set(p.tag, pc.info);
    }
    try {
      for (const ch of children) {
        const { app: capp, type: ctype } = splitKitName(ch.app);
        await svc.lcd.createInstance({ tag: ch.tag, id: ch.id, app: capp, type: ctype, switchback, state: 'OSU', info: JSON.stringify({ ...ch.info, ...(learned.get(ch.tag) ?? {}) }) });
        made.push(ch.tag);
        lines.push(`${stamp()} create: END successful creation of "${ch.tag}" on server "${sys}"`);
      }
      await svc.lcd.createInstance({ tag, id: a.id!, app, type, switchback, state: 'OSU', info: JSON.stringify(info) });
      made.push(tag);
      for (const ch of children) {
        await svc.lcd.createDependency({ parentTag: tag, childTag: ch.tag });
        lines.push(`Dependency ${tag}-"${ch.tag}" Successfully Created on machine "${sys}"`);
      }
      for (const p of parents) {
        const { app: papp, type: ptype } = splitKitName(p.app);
        await svc.lcd.createInstance({ tag: p.tag, id: p.id, app: papp, type: ptype, switchback, state: 'OSU', info: JSON.stringify({ ...p.info, ...(learned.get(p.tag) ?? {}) }) });
        made.push(p.tag);
        lines.push(`Resource "${p.tag}" Successfully Created on machine "${sys}"`);
        lines.push(`Creating Dependency "${p.tag}"- "${tag}" on machine "${sys}":`);
        await svc.lcd.createDependency({ parentTag: p.tag, childTag: tag });
        lines.push(`Dependency "${p.tag}"- "${tag}" Successfully Created on machine "${sys}"`);
      }
    } catch (e) {
      return backOut(renderMessage(E_INS_CREATE_FAILED, { server: sys, reason: (e as Error).message }), e instanceof VigilError && e.number ? e.number : E_INS_CREATE_FAILED);
    }
    lines.push(`${stamp()} create: END successful creation of "${tag}" on server "${sys}"`);
    await svc.reconfigureSettled();
    for (const t of [...children.map((ch) => ch.tag), tag, ...parents.map((p) => p.tag)]) {
      lines.push(`${stamp()} restore: BEGIN restore of "${t}" on server "${sys}"`);
      const r = await svc.admin({ type: 'adminAction', tag: t, action: 'restore' });
      if (!r.ok) return backOut(renderMessage(E_RESTORE_ON_CREATE, { tag: t, server: sys, reason: r.message }), E_RESTORE_ON_CREATE);
      lines.push(`${stamp()} restore: END successful restore of "${t}" on server "${sys}"`);
    }
    const top = parents.length ? parents.map((p) => p.tag).join(', ') : tag;
    lines.push(`Resource ${top} successfully created on "${sys}"; it is in service but unprotected (ISU) until it is extended to another server`);
    return { lines, data: { tag, system: sys, state: svc.engine.state(tag), children: children.map((ch) => ch.tag), parents: parents.map((p) => p.tag) } };
  });
}

// ---------------------------------------------------------------- extend

export interface ExtendArgs {
  tag?: string;
  target?: string;
  templatePriority?: string | number;
  targetPriority?: string | number;
  switchback?: string;
}

/** Defaults the wizard would offer, for the interactive CLI and --accept-defaults. */
export function extendDefaults(svc: HierarchyService, tag: string): { templatePriority: number; targetPriority: number; switchback: Switchback; firstExtend: boolean; targets: string[] } {
  const inst = svc.lcd.getInstance(tag);
  if (!inst) throw tableError(E_TEMPLATE_MISSING, { tag, server: svc.local }, { tag });
  const { key } = hierarchyOf(svc, tag);
  const eq = svc.lcd.equivalencies({ system: svc.local, tag: key });
  const used = new Set([eq[0]?.priority ?? 1, ...eq.map((e) => e.otherPriority)]);
  let targetPriority = 10;
  while (used.has(targetPriority)) targetPriority += 10;
  const have = new Set([svc.local, ...eq.map((e) => e.otherSystem)]);
  const targets = svc.engine.aliveSystems().filter((s) => !have.has(s));
  return { templatePriority: eq[0]?.priority ?? 1, targetPriority, switchback: svc.lcd.getInstance(key)!.switchback, firstExtend: eq.length === 0, targets };
}

export async function extendHierarchy(svc: HierarchyService, a: ExtendArgs): Promise<TaskOutput> {
  const sys = svc.local;
  const tag = requireTag(a.tag, 'extend');
  if (!a.target) throw tableError(E_TEMPLATE_ARGS, { templatesys: 'the target server (-s)', templatetag: 'the tag (-t)' });
  if (!svc.lcd.getInstance(tag)) throw tableError(E_TEMPLATE_MISSING, { tag, server: sys }, { tag });
  const target = a.target;
  const { key, tags } = hierarchyOf(svc, tag);
  const eq = svc.lcd.equivalencies({ system: sys, tag: key });
  if (target === sys || eq.some((e) => e.otherSystem === target)) {
    throw tableError(E_ALREADY_EXTENDED, { tag, server: target }, { tag, target });
  }
  const notUp = tags.filter((t) => !isInService(svc.engine.state(t) ?? 'OSU'));
  if (notUp.length) {
    const reason = `the template server ${sys} must have the hierarchy in service (not in service here: ${notUp.join(', ')})`;
    throw tableError(E_CANNOT_EXTEND, { tag, server: target, reason }, { tag, target });
  }
  if (!svc.engine.aliveSystems().includes(target)) {
    throw tableError(E_CANNOT_EXTEND, { tag, server: target, reason: `no live comm path to ${target}` }, { tag, target });
  }
  const defaults = extendDefaults(svc, tag);
  let templatePriority = defaults.templatePriority;
  const tp = parsePriority(a.templatePriority, 'template priority');
  if (tp !== undefined) {
    if (!defaults.firstExtend && tp !== templatePriority) {
      throw new VigilError(E_NONE, `the template priority is set on the first extend only; ${tag} has priority ${templatePriority} on ${sys}`);
    }
    templatePriority = tp;
  }
  const targetPriority = parsePriority(a.targetPriority, 'target priority') ?? defaults.targetPriority;
  const used = new Map<number, string>([[templatePriority, sys], ...eq.map((e) => [e.otherPriority, e.otherSystem] as [number, string])]);
  if (used.has(targetPriority)) {
    throw new VigilError(E_NONE, `priority ${targetPriority} is already used by ${used.get(targetPriority)} for ${key}; choose an unused priority from 1 to 999`);
  }
  const switchback = parseSwitchback(a.switchback, defaults.switchback);

  return withLock(svc, tag, 'extend', async () => {
    const lines = ['Executing the pre-extend script...', 'Checking existence of extend and canextend scripts'];
    const resources: ResourceSpec[] = tags.map((t) => {
      const i = svc.lcd.getInstance(t)!;
      return { tag: t, id: i.id, kit: kitName(i), switchback: t === key ? switchback : i.switchback, info: parseInfo(i.info) };
    });
    for (const r of resources) {
      if (!svc.kits.get(r.kit)) throw tableError(E_CANNOT_EXTEND, { tag: r.tag, server: target, reason: `no kit ${r.kit}` });
    }
    refuseAutomatic(svc, resources.map((r) => r.kit), switchback, (reason) => tableError(E_CANNOT_EXTEND, { tag: key, server: target, reason }, { tag: key, target }));
    lines.push('Building independent resource list');
    for (const r of resources) lines.push(`Checking extendability for ${r.tag}`);
    const deps = svc.lcd.dependencies({ system: sys }).filter((d) => tags.includes(d.parentTag)).map((d) => ({ parent: d.parentTag, child: d.childTag }));
    const equivalents = [{ system: sys, priority: templatePriority }, ...eq.map((e) => ({ system: e.otherSystem, priority: e.otherPriority }))];
    const reply = (await svc.remote(target, { kind: 'extend-target', template: sys, resources, deps, equivalents, targetPriority } satisfies TaskStep)) as TaskOutput;
    lines.push('Pre Extend checks were successful', ...reply.lines);
    // The template and every other system with the hierarchy learn the new equivalent.
    for (const t of tags) {
      if (svc.lcd.equivalencies({ system: sys, tag: t, otherSystem: target }).length === 0) {
        await svc.lcd.createEquivalency({ tag: t, otherSystem: target, otherTag: t, type: 'SHARED', priority: templatePriority, otherPriority: targetPriority });
      }
    }
    for (const e of eq) await svc.remote(e.otherSystem, { kind: 'add-eqv', tags, otherSystem: target, otherPriority: targetPriority } satisfies TaskStep);
    await svc.reconfigureSettled();
    if (switchback !== defaults.switchback) {
      for (const s of [sys, ...eq.map((e) => e.otherSystem)]) await svc.remote(s, { kind: 'set-switchback', tags: [key], switchback } satisfies TaskStep);
    }
    lines.push(`Hierarchy ${key} extended to ${target} (priority ${targetPriority}; ${sys} has ${templatePriority})`);
    return { lines, data: { tag: key, target, templatePriority, targetPriority } };
  });
}

// ---------------------------------------------------------------- unextend

export async function unextendHierarchy(svc: HierarchyService, a: { tag?: string; target?: string }): Promise<TaskOutput> {
  const sys = svc.local;
  // 000030 names create and extend only; unextend's missing arguments are usage errors (000002).
  if (!a.tag) throw usageError('the tag (-t) is not specified');
  const tag = a.tag;
  if (!a.target) throw usageError('the target server (-s) is not specified');
  if (!svc.lcd.getInstance(tag)) throw tableError(E_NOT_FOUND, { tag, server: sys }, { tag });
  const target = a.target;
  const { key, tags } = hierarchyOf(svc, tag);
  if (target === sys) throw new VigilError(E_NONE, `run unextend from another server than the target; to remove ${key} everywhere use delete`);
  const eq = svc.lcd.equivalencies({ system: sys, tag: key });
  if (!eq.some((e) => e.otherSystem === target)) throw tableError(E_NOT_FOUND, { tag: key, server: sys, detail: `not extended to server ${target}` }, { tag: key, target });
  if (svc.engine.runningOn(key) === target) {
    throw new VigilError(E_NONE, `${key} is in service on ${target}; the server where a hierarchy is in service cannot be unextended`);
  }
  return withLock(svc, tag, 'unextend', async () => {
    const lines = ['You have specified the following resource hierarchy for unextend.', `Target Server = ${target}`, `Target Tag = ${key}`];
    const reply = (await svc.remote(target, { kind: 'unextend-target', tags } satisfies TaskStep)) as TaskOutput;
    lines.push(...reply.lines);
    for (const s of [sys, ...eq.map((e) => e.otherSystem).filter((s) => s !== target)]) {
      await svc.remote(s, { kind: 'remove-eqv', tags, otherSystem: target } satisfies TaskStep);
    }
    await svc.reconfigureSettled();
    lines.push(`Hierarchy ${key} unextended from ${target}`);
    return { lines };
  });
}

// ---------------------------------------------------------------- delete

export async function deleteHierarchy(svc: HierarchyService, a: { tag?: string }): Promise<TaskOutput> {
  const sys = svc.local;
  if (!a.tag) throw usageError('the tag (-t) is not specified');
  if (!svc.lcd.getInstance(a.tag)) throw tableError(E_NOT_FOUND, { tag: a.tag, server: sys }, { tag: a.tag });
  const { key, tags } = hierarchyOf(svc, a.tag);
  const at = svc.engine.runningOn(key);
  if (at && at !== sys) throw new VigilError(E_NONE, `${key} is in service on ${at}; run delete there (vigil delete -d ${at}) or take it out of service first`);
  const eq = svc.lcd.equivalencies({ system: sys, tag: key });
  return withLock(svc, a.tag, 'delete', async () => {
    const lines: string[] = [];
    if (tags.some((t) => isInService(svc.engine.state(t) ?? 'OSU'))) {
      const r = await svc.admin({ type: 'adminOutOfService', tag: key });
      if (!r.ok) throw new VigilError(0, r.message);
      lines.push(`Took ${key} out of service on ${sys}`);
    }
    for (const e of eq) {
      const reply = (await svc.remote(e.otherSystem, { kind: 'unextend-target', tags } satisfies TaskStep)) as TaskOutput;
      lines.push(...reply.lines);
    }
    for (const t of [...tags].reverse()) {
      const r = await svc.runKit(kitInstance(svc.lcd.getInstance(t)!), 'delete');
      if (!r.ok) lines.push(`warning: ${t}: ${r.reason}`);
      else if (r.reason) lines.push(r.reason);
    }
    await svc.lcd.removeInstances(tags.map((t) => ({ system: sys, tag: t })));
    await svc.reconfigureSettled();
    lines.push(`Hierarchy ${key} (${tags.join(', ')}) deleted from ${[sys, ...eq.map((e) => e.otherSystem)].join(', ')}`);
    return { lines };
  });
}

// ---------------------------------------------------------------- dependencies

export async function dependency(svc: HierarchyService, op: 'create' | 'delete', a: { parent?: string; child?: string }): Promise<TaskOutput> {
  const sys = svc.local;
  if (!a.parent || !a.child) throw usageError(`both the parent (-p) and the child (-c) tag are needed`);
  const { parent, child } = a as { parent: string; child: string };
  for (const t of [parent, child]) if (!svc.lcd.getInstance(t)) throw tableError(E_NOT_FOUND, { tag: t, server: sys }, { tag: t });
  const systemsOf = (t: string) => svc.lcd.equivalencies({ system: sys, tag: t }).map((e) => e.otherSystem).sort();
  const lines: string[] = [];
  if (op === 'create') {
    const g = hierarchyOf(svc, parent).graph;
    g.addDependency(parent, child); // throws on a cycle, nothing changed
    if (systemsOf(parent).join() !== systemsOf(child).join()) {
      throw new VigilError(E_NONE, `${parent} (extended to ${systemsOf(parent).join(', ') || 'no server'}) and ${child} (extended to ${systemsOf(child).join(', ') || 'no server'}) must be extended to the same servers`);
    }
    const pAt = svc.engine.runningOn(parent);
    const cAt = svc.engine.runningOn(child);
    if (pAt !== undefined && pAt !== cAt) {
      throw new VigilError(E_NONE, `${parent} is in service on ${pAt} but ${child} is ${cAt ? `in service on ${cAt}` : 'not in service'}; bring them in service on the same server first`);
    }
    const ps = svc.lcd.getInstance(parent)!.switchback;
    const cs = svc.lcd.getInstance(child)!.switchback;
    if (ps !== cs) lines.push(`warning ${String(E_SWITCHBACK_MISMATCH).padStart(6, '0')}: ${renderMessage(E_SWITCHBACK_MISMATCH, { parent, child, server: sys })}`);
  } else if (svc.lcd.dependencies({ system: sys, parentTag: parent, childTag: child }).length === 0) {
    throw tableError(E_NOT_FOUND, { tag: `${parent} -> ${child}`, server: sys, detail: 'no such dependency' }, { parent, child });
  }
  return withLock(svc, parent, `dep ${op}`, async () => {
    for (const s of [sys, ...systemsOf(parent)]) {
      await svc.remote(s, { kind: 'dep', op, parent, child } satisfies TaskStep);
      lines.push(`Dependency ${parent}-${child} ${op === 'create' ? 'created' : 'deleted'} on "${s}"`);
    }
    await svc.reconfigureSettled();
    return { lines };
  });
}

// ---------------------------------------------------------------- properties

export async function properties(svc: HierarchyService, a: { tag?: string; switchback?: string }): Promise<TaskOutput> {
  const sys = svc.local;
  if (!a.tag) throw usageError('the tag (-t) is not specified');
  const inst = svc.lcd.getInstance(a.tag);
  if (!inst) throw tableError(E_NOT_FOUND, { tag: a.tag, server: sys }, { tag: a.tag });
  if (a.switchback !== undefined) {
    const sb = parseSwitchback(a.switchback, inst.switchback);
    const { tags } = hierarchyOf(svc, a.tag);
    refuseAutomatic(svc, tags.map((t) => kitName(svc.lcd.getInstance(t)!)), sb, (reason) => new VigilError(E_NONE, reason, { tag: a.tag }));
    await withLock(svc, a.tag, 'properties', async () => {
      const systems = [sys, ...svc.lcd.equivalencies({ system: sys, tag: a.tag }).map((e) => e.otherSystem)];
      for (const s of systems) await svc.remote(s, { kind: 'set-switchback', tags, switchback: sb } satisfies TaskStep);
      await svc.reconfigureSettled();
    });
  }
  const i = svc.lcd.getInstance(a.tag)!;
  const { key } = hierarchyOf(svc, a.tag);
  const eq = svc.lcd.equivalencies({ system: sys, tag: a.tag });
  const data = {
    tag: i.tag,
    id: i.id,
    app: kitName(i),
    switchback: i.switchback,
    state: i.state,
    reason: i.reason,
    hierarchy: key,
    inServiceOn: svc.engine.runningOn(a.tag) ?? null,
    priority: eq[0]?.priority ?? 1,
    equivalents: eq.map((e) => ({ system: e.otherSystem, tag: e.otherTag, priority: e.otherPriority })),
    parents: svc.lcd.dependencies({ system: sys, childTag: a.tag }).map((d) => d.parentTag),
    children: svc.lcd.dependencies({ system: sys, parentTag: a.tag }).map((d) => d.childTag),
    info: parseInfo(i.info),
  };
  const lines = [
    `Tag:          ${data.tag}`,
    `ID:           ${data.id}`,
    `Kit:          ${data.app}`,
    `State:        ${data.state}${data.reason ? ` (${data.reason})` : ''}`,
    `Switchback:   ${data.switchback}`,
    `Hierarchy:    ${data.hierarchy}${data.inServiceOn ? `, in service on ${data.inServiceOn}` : ', not in service'}`,
    `Priority:     ${data.priority} on ${sys}${data.equivalents.map((e) => `, ${e.priority} on ${e.system}`).join('')}`,
    `Parents:      ${data.parents.join(' ') || '-'}`,
    `Children:     ${data.children.join(' ') || '-'}`,
    ...Object.entries(data.info).map(([k, v]) => `Info ${k}: ${v}`),
  ];
  return { lines, data };
}

// ---------------------------------------------------------------- steps on other systems

export async function handleTaskStep(svc: HierarchyService, from: string, body: unknown): Promise<TaskOutput> {
  const step = body as TaskStep;
  const sys = svc.local;
  const lcd = svc.lcd;
  switch (step.kind) {
    case 'extend-target': {
      for (const r of step.resources) {
        if (lcd.getInstance(r.tag)) {
          const conflict = svc.kits.get(r.kit)?.tagConflictError;
          throw tableError(conflict ?? E_ALREADY_EXTENDED, { tag: r.tag, server: sys }, { tag: r.tag });
        }
        const { app, type } = splitKitName(r.kit);
        if (lcd.instances({ system: sys, app, type, id: r.id }).length) throw tagOrIdExists(r.tag, r.id, false, sys);
        const kit = svc.kits.get(r.kit);
        // The seeds' kits keep canextend in the kit's directory: no kit here is their 000005.
        if (!kit) throw tableError(E_CANEXTEND_UNAVAILABLE, { server: sys, reason: `no recovery kit ${r.kit} here for ${r.tag}` }, { tag: r.tag });
      }
      for (const r of step.resources) {
        const c = await svc.runKit({ tag: r.tag, id: r.id, app: r.kit, info: r.info }, 'canExtend');
        if (!c.ok) throw new VigilError(errorNumberOf(c.reason) ?? E_CANNOT_EXTEND, renderMessage(E_CANNOT_EXTEND, { tag: r.tag, server: sys, reason: c.reason }));
      }
      const lines: string[] = [];
      const created: string[] = [];
      try {
        for (const r of step.resources) {
          const e = await svc.runKit({ tag: r.tag, id: r.id, app: r.kit, info: r.info }, 'extend');
          if (!e.ok) throw new VigilError(errorNumberOf(e.reason) ?? E_CANNOT_EXTEND, renderMessage(E_CANNOT_EXTEND, { tag: r.tag, server: sys, reason: e.reason }));
          const { app, type } = splitKitName(r.kit);
          await lcd.createInstance({ tag: r.tag, id: r.id, app, type, switchback: r.switchback, state: 'OSU', info: JSON.stringify(r.info) });
          created.push(r.tag);
          for (const q of step.equivalents) {
            await lcd.createEquivalency({ tag: r.tag, otherSystem: q.system, otherTag: r.tag, type: 'SHARED', priority: step.targetPriority, otherPriority: q.priority });
          }
          if (e.reason) lines.push(...e.reason.split('\n'));
          lines.push(`Extended ${r.tag} (${r.kit}) to ${sys}`);
        }
        for (const d of step.deps) await lcd.createDependency({ parentTag: d.parent, childTag: d.child });
      } catch (err) {
        // Back out what this step created, so a failed extend leaves the target as it was.
        if (created.length) await lcd.removeInstances(created.map((tag) => ({ system: sys, tag })));
        for (const t of created) {
          const r = step.resources.find((x) => x.tag === t)!;
          await svc.runKit({ tag: r.tag, id: r.id, app: r.kit, info: r.info }, 'unextend');
        }
        throw err;
      }
      await svc.reconfigureSettled();
      return { lines };
    }
    case 'add-eqv': {
      for (const t of step.tags) {
        const mine = lcd.equivalencies({ system: sys, tag: t })[0]?.priority ?? 1;
        if (!lcd.equivalencies({ system: sys, tag: t, otherSystem: step.otherSystem }).length) {
          await lcd.createEquivalency({ tag: t, otherSystem: step.otherSystem, otherTag: t, type: 'SHARED', priority: mine, otherPriority: step.otherPriority });
        }
      }
      await svc.reconfigureSettled();
      return { lines: [] };
    }
    case 'remove-eqv': {
      for (const t of step.tags) {
        if (lcd.equivalencies({ system: sys, tag: t, otherSystem: step.otherSystem }).length) await lcd.removeEquivalencies({ system: sys, tag: t, otherSystem: step.otherSystem });
      }
      await svc.reconfigureSettled();
      return { lines: [] };
    }
    case 'unextend-target': {
      const present = step.tags.filter((t) => lcd.getInstance(t));
      const up = present.filter((t) => isInService(svc.engine.state(t) ?? 'OSU'));
      if (up.length) throw new VigilError(E_NONE, `${up.join(', ')} in service on ${sys}`);
      const lines: string[] = [];
      for (const t of [...present].reverse()) {
        const r = await svc.runKit(kitInstance(lcd.getInstance(t)!), 'unextend');
        if (!r.ok) throw new VigilError(0, `unextend of ${t} on ${sys} failed: ${r.reason}`);
        if (r.reason) lines.push(r.reason);
      }
      if (present.length) await lcd.removeInstances(present.map((tag) => ({ system: sys, tag })));
      await svc.reconfigureSettled();
      lines.push(`Removed ${present.join(', ') || 'nothing'} from ${sys}`);
      return { lines };
    }
    case 'dep': {
      if (step.op === 'create') {
        if (!lcd.getInstance(step.parent) || !lcd.getInstance(step.child)) throw tableError(E_NOT_FOUND, { tag: lcd.getInstance(step.parent) ? step.child : step.parent, server: sys, detail: `a dependency of ${step.parent} on ${step.child} is being created` });
        if (!lcd.dependencies({ system: sys, parentTag: step.parent, childTag: step.child }).length) {
          const g = hierarchyOf(svc, step.parent).graph;
          g.addDependency(step.parent, step.child);
          await lcd.createDependency({ parentTag: step.parent, childTag: step.child });
        }
      } else if (lcd.dependencies({ system: sys, parentTag: step.parent, childTag: step.child }).length) {
        await lcd.removeDependency(step.parent, step.child);
      }
      await svc.reconfigureSettled();
      return { lines: [] };
    }
    case 'set-switchback': {
      for (const t of step.tags) if (lcd.getInstance(t)) await lcd.setSwitchback(t, step.switchback);
      await svc.reconfigureSettled();
      return { lines: [] };
    }
  }
  // A peer running another version of Vigil: no seed number fits (000010 is about a resource's stored information).
  throw new VigilError(E_NONE, `unknown task step ${(step as { kind?: string }).kind ?? '?'} from ${from}: run the same Vigil version on every system`);
}
