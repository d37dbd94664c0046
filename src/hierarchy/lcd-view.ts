// Reads the hierarchy engine's configuration out of the LCD: this system's instances, their
// dependencies and equivalencies. The LCD stores an instance's app and type separately
// ('gen' + 'filesys') and its kit settings as a JSON object in `info`; the engine and kits use
// the kit name 'gen/filesys' and a string map.

import { ERROR_TABLE } from '../common/error-table.js';
import { VigilError } from '../common/errors.js';
import type { Lcd } from '../lcd/lcd.js';
import type { ResourceInstance as LcdInstance } from '../lcd/schema.js';
import type { ResourceInstance as KitInstance } from '../kits/kit.js';
import type { HierarchyConfig, ResourceConfig } from './engine.js';

export function kitName(i: Pick<LcdInstance, 'app' | 'type'>): string {
  return `${i.app}/${i.type}`;
}

export function splitKitName(kit: string): { app: string; type: string } {
  const m = /^([A-Za-z0-9_-]+)\/([A-Za-z0-9_-]+)$/.exec(kit);
  if (!m) throw new VigilError(ERROR_TABLE.USAGE.number, `a kit name looks like gen/app or gen/filesys, not "${kit}"`);
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
 * Settings parsed out of each instance's `info`, per LCD record: the LCD's committed records are
 * frozen and replaced on change, so a record seen before has the same settings, and a change
 * costs parsing only the records it touched, not all of them.
 */
const infoOf = new WeakMap<object, Record<string, string>>();

function cachedInfo(i: { readonly info: string }): Record<string, string> {
  let info = infoOf.get(i);
  if (!info) infoOf.set(i, (info = parseInfo(i.info)));
  return { ...info };
}

export function engineConfig(lcd: Lcd): HierarchyConfig {
  const local = lcd.localSystem;
  const doc = lcd.current(); // read in place: this runs after every configuration change
  const eqByTag = new Map<string, (typeof doc.equivalencies)[number][]>();
  for (const e of doc.equivalencies) {
    if (e.system !== local) continue;
    const list = eqByTag.get(e.tag);
    if (list) list.push(e);
    else eqByTag.set(e.tag, [e]);
  }
  const resources: ResourceConfig[] = [];
  for (const i of doc.instances) {
    if (i.system !== local) continue;
    const eq = eqByTag.get(i.tag) ?? [];
    resources.push({
      tag: i.tag,
      id: i.id,
      app: kitName(i),
      switchback: i.switchback,
      priority: eq[0]?.priority ?? 1,
      equivalents: eq.map((e) => ({ system: e.otherSystem, priority: e.otherPriority })),
      info: cachedInfo(i),
    });
  }
  const dependencies = doc.dependencies.filter((d) => d.system === local).map((d) => ({ parent: d.parentTag, child: d.childTag }));
  return { resources, dependencies };
}
