// Reads the hierarchy engine's configuration out of the LCD: this system's instances, their
// dependencies and equivalencies. The LCD stores an instance's app and type separately
// ('gen' + 'filesys') and its kit settings as a JSON object in `info`; the engine and kits use
// the kit name 'gen/filesys' and a string map.

import { usageError } from '../common/errors.js';
import type { Lcd } from '../lcd/lcd.js';
import type { ResourceInstance as LcdInstance } from '../lcd/schema.js';
import type { ResourceInstance as KitInstance } from '../kits/kit.js';
import type { HierarchyConfig, ResourceConfig } from './engine.js';

export function kitName(i: Pick<LcdInstance, 'app' | 'type'>): string {
  return `${i.app}/${i.type}`;
}

export function splitKitName(kit: string): { app: string; type: string } {
  const m = /^([A-Za-z0-9_-]+)\/([A-Za-z0-9_-]+)$/.exec(kit);
  if (!m) throw usageError(`a kit name looks like gen/app or gen/filesys, not "${kit}"`);
  return { app: m[1]!, type: m[2]! };
}

export function parseInfo(info: string): Record<string, string> {
  if (info.trim() === '') return {};
  try {
    const v = JSON.parse(info) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, String(x)]));
    }
  } catch {
    // Not ours: an instance created with ins_create -v and free text.
  }
  return { text: info };
}

export function kitInstance(i: LcdInstance): KitInstance {
  return { tag: i.tag, id: i.id, app: kitName(i), info: parseInfo(i.info) };
}

/** The local priority of a tag: from its equivalencies, or 1 when it has none. */
export function localPriority(lcd: Lcd, tag: string): number {
  return lcd.equivalencies({ system: lcd.localSystem, tag })[0]?.priority ?? 1;
}

/**
 * The engine's view of each instance, per LCD record: the LCD's committed records are frozen
 * and replaced on change, so a record seen before with the same equivalency records gives the
 * same ResourceConfig, and a change costs building only the configurations it touched. The
 * engine keeps what it is given and never changes it.
 */
const configOf = new WeakMap<object, { eq: readonly object[]; cfg: ResourceConfig }>();

function sameRecords(a: readonly object[], b: readonly object[]): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

/**
 * What the last engineConfig() of an LCD read and built. The LCD copies its arrays on every
 * change but keeps the unchanged records, so comparing records by identity, position by
 * position, finds what changed without looking inside: the equivalency index and the
 * dependency list are reused as they are (the same array tells applyConfig that the graph did
 * not change), and unchanged instances give the configuration object built before.
 */
interface ViewMemo {
  instances: readonly object[];
  configs: (ResourceConfig | undefined)[];
  equivalencies: readonly object[];
  eqByTag: Map<string, readonly object[]>;
  dependencyRecords: readonly object[];
  dependencies: HierarchyConfig['dependencies'];
}
const memoOf = new WeakMap<Lcd, ViewMemo>();

export function engineConfig(lcd: Lcd): HierarchyConfig {
  const local = lcd.localSystem;
  const doc = lcd.current(); // read in place: this runs after every configuration change
  type Eq = (typeof doc.equivalencies)[number];
  const memo = memoOf.get(lcd);
  let eqByTag: Map<string, readonly object[]>;
  const sameEquivalencies = memo !== undefined && sameRecords(memo.equivalencies, doc.equivalencies);
  if (sameEquivalencies) {
    eqByTag = memo.eqByTag;
  } else {
    eqByTag = new Map<string, Eq[]>();
    for (const e of doc.equivalencies) {
      if (e.system !== local) continue;
      const list = eqByTag.get(e.tag) as Eq[] | undefined;
      if (list) list.push(e);
      else eqByTag.set(e.tag, [e]);
    }
  }
  const none: readonly Eq[] = [];
  const aligned = sameEquivalencies && memo.instances.length === doc.instances.length;
  const configs: (ResourceConfig | undefined)[] = new Array(doc.instances.length);
  const resources: ResourceConfig[] = [];
  for (let k = 0; k < doc.instances.length; k++) {
    const i = doc.instances[k]!;
    if (aligned && memo.instances[k] === i) {
      const same = memo.configs[k];
      configs[k] = same;
      if (same) resources.push(same);
      continue;
    }
    if (i.system !== local) continue;
    const eq = (eqByTag.get(i.tag) ?? none) as readonly Eq[];
    const known = configOf.get(i);
    let cfg: ResourceConfig;
    if (known && sameRecords(known.eq, eq)) {
      cfg = known.cfg;
    } else {
      // Shared between calls (and with the kits): frozen, so a reader that changes it fails
      // loudly instead of changing what every later reader sees.
      cfg = Object.freeze({
        tag: i.tag,
        id: i.id,
        app: kitName(i),
        switchback: i.switchback,
        priority: eq[0]?.priority ?? 1,
        equivalents: eq.map((e) => Object.freeze({ system: e.otherSystem, priority: e.otherPriority })),
        info: Object.freeze(parseInfo(i.info)),
      });
      configOf.set(i, { eq, cfg });
    }
    configs[k] = cfg;
    resources.push(cfg);
  }
  const dependencies =
    memo !== undefined && sameRecords(memo.dependencyRecords, doc.dependencies)
      ? memo.dependencies
      : doc.dependencies.filter((d) => d.system === local).map((d) => ({ parent: d.parentTag, child: d.childTag }));
  memoOf.set(lcd, { instances: doc.instances, configs, equivalencies: doc.equivalencies, eqByTag, dependencyRecords: doc.dependencies, dependencies });
  return { resources, dependencies };
}
