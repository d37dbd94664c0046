// Walking the dependency graph of one system in the LCD (used by ins_list -R, ins_remove -R,
// dep_list -C/-P): plain breadth-first traversal over Dependency records.
import type { Dependency } from '../../lcd/schema.js';

/** Tags reachable from `tag` following parent->child edges (excluding `tag`). */
export function descendants(deps: Dependency[], tag: string): Set<string> {
  return reach(deps, tag, (d) => [d.parentTag, d.childTag]);
}

/** Tags reachable from `tag` following child->parent edges (excluding `tag`). */
export function ancestors(deps: Dependency[], tag: string): Set<string> {
  return reach(deps, tag, (d) => [d.childTag, d.parentTag]);
}

function reach(deps: Dependency[], start: string, edge: (d: Dependency) => [string, string]): Set<string> {
  const seen = new Set<string>();
  const queue = [start];
  while (queue.length) {
    const cur = queue.shift()!;
    for (const d of deps) {
      const [from, to] = edge(d);
      if (from === cur && !seen.has(to) && to !== start) {
        seen.add(to);
        queue.push(to);
      }
    }
  }
  return seen;
}

/**
 * The hierarchy rooted at `root` that can be removed as a unit: the root, then every child all
 * of whose parents are already in the set (a child shared with another hierarchy stays).
 */
export function removableHierarchy(deps: Dependency[], root: string): Set<string> {
  const set = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const d of deps) {
      if (!set.has(d.parentTag) || set.has(d.childTag)) continue;
      const parents = deps.filter((x) => x.childTag === d.childTag).map((x) => x.parentTag);
      if (parents.every((p) => set.has(p))) {
        set.add(d.childTag);
        grew = true;
      }
    }
  }
  return set;
}
