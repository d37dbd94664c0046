// The two per-resource families, rendered straight into the exposition text: with thousands of
// resources these are most of a scrape, and going through prom-client's labelled metrics
// (label hashing and validation on set, an object per sample on render) took most of the scrape
// time and produced most of its garbage. Everything else stays in prom-client.
//
//   vigil_resource_state{tag,app,type,system,state}  1 per resource (its current state)
//   vigil_resource_transitions_total{tag,from,to}   per resource; deleted with the resource

import { RESOURCE_STATES, normaliseState } from './naming.js';
import type { ResourceSnapshot } from './sources.js';

const SAFE_LABEL_VALUE = /^[A-Za-z0-9_.:/ -]*$/;

/** Escape a label value per the text exposition format (backslash, double quote, newline). */
export function escapeLabelValue(value: string): string {
  if (SAFE_LABEL_VALUE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export class ResourceFamilies {
  /** tag -> "from\u0000to" -> count */
  private readonly transitions = new Map<string, Map<string, number>>();

  recordTransition(tag: string, from: string, to: string): void {
    const key = `${normaliseState(from, RESOURCE_STATES)}\u0000${normaliseState(to, RESOURCE_STATES)}`;
    let byTag = this.transitions.get(tag);
    if (!byTag) {
      byTag = new Map();
      this.transitions.set(tag, byTag);
    }
    byTag.set(key, (byTag.get(key) ?? 0) + 1);
  }

  /** Forget the transition counts of resources that no longer exist. */
  prune(liveTags: ReadonlySet<string>): void {
    for (const tag of this.transitions.keys()) if (!liveTags.has(tag)) this.transitions.delete(tag);
  }

  trackedTags(): Iterable<string> {
    return this.transitions.keys();
  }

  /** Exposition text of both families ('' for the state family when there is no resource source). */
  render(resources: ResourceSnapshot[] | undefined): string {
    const out: string[] = [];
    if (resources) {
      out.push(
        '# HELP vigil_resource_state Resource instance, labelled with its current state ISP, ISU, OSU or OSF (always 1).',
        '# TYPE vigil_resource_state gauge',
      );
      for (const r of resources) {
        out.push(
          `vigil_resource_state{tag="${escapeLabelValue(r.tag)}",app="${escapeLabelValue(r.app)}",type="${escapeLabelValue(r.type)}",system="${escapeLabelValue(r.system)}",state="${normaliseState(r.state, RESOURCE_STATES)}"} 1`,
        );
      }
    }
    out.push('# HELP vigil_resource_transitions_total Resource state transitions, by resource and from/to state.', '# TYPE vigil_resource_transitions_total counter');
    for (const [tag, byTag] of this.transitions) {
      const t = escapeLabelValue(tag);
      for (const [key, count] of byTag) {
        const sep = key.indexOf('\u0000');
        out.push(`vigil_resource_transitions_total{tag="${t}",from="${key.slice(0, sep)}",to="${key.slice(sep + 1)}"} ${count}`);
      }
    }
    return `${out.join('\n')}\n`;
  }
}
