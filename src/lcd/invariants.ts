// Whole-database consistency rules, checked after every mutation (on a copy) and after every
// load. Records are individually valid by the zod schemas; these are the rules that span
// records: uniqueness, references between records, priorities, dependency cycles.
import { CORE_ERRORS } from '../common/error-table.js';
import { tableError, VigilError } from '../common/errors.js';
import { commPathKey, type LcdDocument, type ResourceInstance } from './schema.js';

/** Product error numbers from the seeds used by the LCD. */
export const ERR_RESOURCE_EXISTS = CORE_ERRORS.TAG_OR_ID_EXISTS.number;

function dupes<T>(items: T[], key: (t: T) => string): string | undefined {
  const seen = new Set<string>();
  for (const it of items) {
    const k = key(it);
    if (seen.has(k)) return k;
    seen.add(k);
  }
  return undefined;
}

/**
 * For a change that touched only resource instances of a consistent document: true when the
 * rules that involve instances still hold, in work proportional to the records changed (field
 * comparisons, no index of the whole document). False means "not confirmed": run
 * checkInvariants, which also gives the error message. `changed`: records added or replaced;
 * `removed`: records no longer present (replaced ones included).
 */
export function instanceChangesKeepInvariants(next: LcdDocument, changed: ResourceInstance[], removed: ResourceInstance[]): boolean {
  for (const r of changed) {
    if (!next.systems.some((s) => s.name === r.system)) return false;
    let sameTag = 0;
    let sameId = 0;
    for (const i of next.instances) {
      if (i.system !== r.system) continue;
      if (i.tag === r.tag) sameTag++;
      if (i.id === r.id) sameId++;
    }
    if (sameTag !== 1 || sameId !== 1) return false;
  }
  const gone = removed.filter((r) => !changed.some((c) => c.system === r.system && c.tag === r.tag));
  if (!gone.length) return true;
  const isGone = (system: string, tag: string) => gone.some((g) => g.system === system && g.tag === tag);
  if (next.dependencies.some((d) => isGone(d.system, d.parentTag) || isGone(d.system, d.childTag))) return false;
  return !next.equivalencies.some((e) => e.system === next.localSystem && isGone(e.system, e.tag));
}

/** The last of `items` that `match` (the record a mutation appended, when two clash); one exists. */
function lastOf<T>(items: T[], match: (t: T) => boolean): T {
  return items.filter(match).at(-1)!;
}

/** Throw a VigilError describing the first broken rule; return normally when the document is consistent. */
export function checkInvariants(doc: LcdDocument): void {
  const systems = new Set(doc.systems.map((s) => s.name));
  const d = dupes(doc.systems, (s) => s.name);
  if (d) throw new VigilError(0, `system "${d}" is listed twice`, { system: d });
  if (!systems.has(doc.localSystem)) {
    throw new VigilError(0, `the local system "${doc.localSystem}" is not registered`, { system: doc.localSystem });
  }

  for (const p of doc.commPaths) {
    if (p.system === p.otherSystem) {
      throw new VigilError(0, `a comm path must join two different systems (both ends are "${p.system}")`);
    }
  }
  const dp = dupes(doc.commPaths, commPathKey);
  if (dp) throw new VigilError(0, `comm path ${dp.split('|').join(' ')} already exists`);
  const pp = dupes(doc.commPaths, (p) => `${p.system} ${p.otherSystem} priority ${p.priority}`);
  if (pp) throw new VigilError(0, `comm path priority already used between ${pp}`);

  const it = dupes(doc.instances, (i) => `${i.system}|${i.tag}`);
  if (it) {
    const [sys, tag] = it.split('|');
    throw tableError(ERR_RESOURCE_EXISTS, { tag, server: sys, detail: 'the tag is in use' }, { tag, system: sys });
  }
  const ii = dupes(doc.instances, (i) => `${i.system}|${i.id}`);
  if (ii) {
    const [sys, id] = ii.split('|');
    throw tableError(ERR_RESOURCE_EXISTS, { tag: lastOf(doc.instances, (i) => i.system === sys && i.id === id).tag, server: sys, detail: `ID ${id} is in use` }, { id, system: sys });
  }
  const instanceKeys = new Set(doc.instances.map((i) => `${i.system}|${i.tag}`));
  for (const i of doc.instances) {
    if (!systems.has(i.system)) throw new VigilError(0, `resource "${i.tag}" belongs to unknown system "${i.system}"`);
  }

  for (const dep of doc.dependencies) {
    if (dep.parentTag === dep.childTag) throw new VigilError(0, `resource "${dep.parentTag}" cannot depend on itself`);
    for (const tag of [dep.parentTag, dep.childTag]) {
      if (!instanceKeys.has(`${dep.system}|${tag}`)) {
        throw new VigilError(0, `resource "${tag}" does not exist on system "${dep.system}"`, { tag, system: dep.system });
      }
    }
  }
  const dd = dupes(doc.dependencies, (x) => `${x.system} ${x.parentTag} -> ${x.childTag}`);
  if (dd) throw new VigilError(0, `dependency ${dd} already exists`);
  checkAcyclic(doc);

  for (const e of doc.equivalencies) {
    if (e.system === e.otherSystem) throw new VigilError(0, `an equivalency must join two different systems ("${e.system}")`);
    if (e.system === doc.localSystem && !instanceKeys.has(`${e.system}|${e.tag}`)) {
      throw new VigilError(0, `resource "${e.tag}" does not exist on system "${e.system}"`, { tag: e.tag, system: e.system });
    }
    if (!systems.has(e.otherSystem)) throw new VigilError(0, `system "${e.otherSystem}" is not registered`, { system: e.otherSystem });
  }
  const de = dupes(doc.equivalencies, (e) => `${e.system}|${e.tag}|${e.otherSystem}|${e.type}`);
  if (de) {
    const [s, t, o] = de.split('|');
    throw new VigilError(0, `resource "${t}" on "${s}" already has a SHARED equivalency on "${o}"`);
  }
  // Priorities 1-999, unique per resource: one priority per (system, tag), distinct from the
  // priorities of all its equivalents.
  const byResource = new Map<string, { own: Set<number>; others: Map<number, string> }>();
  for (const e of doc.equivalencies) {
    const k = `${e.system}|${e.tag}`;
    let r = byResource.get(k);
    if (!r) byResource.set(k, (r = { own: new Set(), others: new Map() }));
    r.own.add(e.priority);
    const prev = r.others.get(e.otherPriority);
    if (prev !== undefined && prev !== e.otherSystem) {
      throw new VigilError(0, `priority ${e.otherPriority} is already used for resource "${e.tag}" (on "${prev}")`, { tag: e.tag });
    }
    r.others.set(e.otherPriority, e.otherSystem);
  }
  for (const [k, r] of byResource) {
    const tag = k.split('|')[1];
    if (r.own.size > 1) throw new VigilError(0, `resource "${tag}" has more than one priority on its own system (${[...r.own].join(', ')})`, { tag });
    const own = [...r.own][0]!;
    if (r.others.has(own)) throw new VigilError(0, `priority ${own} is already used for resource "${tag}" (on "${r.others.get(own)}")`, { tag });
  }
}

function checkAcyclic(doc: LcdDocument): void {
  const children = new Map<string, string[]>();
  for (const d of doc.dependencies) {
    const k = `${d.system}|${d.parentTag}`;
    children.set(k, [...(children.get(k) ?? []), `${d.system}|${d.childTag}`]);
  }
  const state = new Map<string, 1 | 2>(); // 1 visiting, 2 done
  const visit = (n: string): void => {
    const s = state.get(n);
    if (s === 2) return;
    if (s === 1) throw new VigilError(0, `dependency cycle through resource "${n.split('|')[1]}"`);
    state.set(n, 1);
    for (const c of children.get(n) ?? []) visit(c);
    state.set(n, 2);
  };
  for (const n of children.keys()) visit(n);
}
