// The dependency graph of resource instances on one system: parent depends on child. Pure data,
// no I/O. Answers the questions the engine asks: which resources form one hierarchy, in which
// order (as parallel "waves") they come in service and go out of service, and whether a new
// dependency would close a cycle.

import { VigilError } from '../common/errors.js';

export class DependencyGraph {
  private readonly nodes = new Set<string>();
  /** parent -> children */
  private readonly children = new Map<string, Set<string>>();
  /** child -> parents */
  private readonly parents = new Map<string, Set<string>>();

  addNode(tag: string): void {
    if (this.nodes.has(tag)) return;
    this.nodes.add(tag);
    this.children.set(tag, new Set());
    this.parents.set(tag, new Set());
  }

  removeNode(tag: string): void {
    if (!this.nodes.has(tag)) return;
    for (const c of this.children.get(tag)!) this.parents.get(c)!.delete(tag);
    for (const p of this.parents.get(tag)!) this.children.get(p)!.delete(tag);
    this.nodes.delete(tag);
    this.children.delete(tag);
    this.parents.delete(tag);
  }

  has(tag: string): boolean {
    return this.nodes.has(tag);
  }

  tags(): string[] {
    return [...this.nodes].sort();
  }

  /** Adds parent -> child. Refuses unknown tags, self-dependencies and cycles; changes nothing then. */
  addDependency(parent: string, child: string): void {
    if (!this.nodes.has(parent)) throw new VigilError(0, `unknown resource tag "${parent}"`, { tag: parent });
    if (!this.nodes.has(child)) throw new VigilError(0, `unknown resource tag "${child}"`, { tag: child });
    if (parent === child) throw new VigilError(0, `a resource cannot depend on itself ("${parent}")`, { tag: parent });
    if (this.reachesDown(child, parent)) {
      throw new VigilError(0, `dependency ${parent} -> ${child} would create a cycle`, { parent, child });
    }
    this.children.get(parent)!.add(child);
    this.parents.get(child)!.add(parent);
  }

  removeDependency(parent: string, child: string): boolean {
    const had = this.children.get(parent)?.delete(child) ?? false;
    this.parents.get(child)?.delete(parent);
    return had;
  }

  childrenOf(tag: string): string[] {
    return [...(this.children.get(tag) ?? [])].sort();
  }

  parentsOf(tag: string): string[] {
    return [...(this.parents.get(tag) ?? [])].sort();
  }

  dependencies(): Array<{ parent: string; child: string }> {
    const out: Array<{ parent: string; child: string }> = [];
    for (const p of this.tags()) for (const c of this.childrenOf(p)) out.push({ parent: p, child: c });
    return out;
  }

  /** True when `to` is `from` or a descendant of `from`. */
  private reachesDown(from: string, to: string): boolean {
    const stack = [from];
    const seen = new Set<string>();
    while (stack.length) {
      const t = stack.pop()!;
      if (t === to) return true;
      if (seen.has(t)) continue;
      seen.add(t);
      for (const c of this.children.get(t) ?? []) stack.push(c);
    }
    return false;
  }

  /** All tags connected to `tag` through dependencies in either direction: one hierarchy. */
  component(tag: string): string[] {
    if (!this.nodes.has(tag)) return [];
    const seen = new Set<string>([tag]);
    const stack = [tag];
    while (stack.length) {
      const t = stack.pop()!;
      for (const n of [...this.children.get(t)!, ...this.parents.get(t)!]) {
        if (!seen.has(n)) {
          seen.add(n);
          stack.push(n);
        }
      }
    }
    return [...seen].sort();
  }

  /** The hierarchy's name: its smallest root tag (roots have no parents). */
  hierarchyKey(tag: string): string {
    const roots = this.component(tag).filter((t) => this.parents.get(t)!.size === 0);
    return roots.sort()[0] ?? tag;
  }

  /** Every hierarchy, by key. */
  hierarchies(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const done = new Set<string>();
    for (const t of this.tags()) {
      if (done.has(t)) continue;
      const comp = this.component(t);
      comp.forEach((c) => done.add(c));
      out.set(this.hierarchyKey(t), comp);
    }
    return out;
  }

  /**
   * Restore order for a set of tags: waves where every member's children (within the set) are
   * in earlier waves. Members of one wave do not depend on each other and can run in parallel.
   */
  restoreWaves(tags: string[]): string[][] {
    return this.waves(tags, (t) => this.children.get(t)!);
  }

  /** Remove order: parents before children, the mirror image of restoreWaves. */
  removeWaves(tags: string[]): string[][] {
    return this.waves(tags, (t) => this.parents.get(t)!);
  }

  private waves(tags: string[], mustPrecede: (t: string) => Set<string>): string[][] {
    const set = new Set(tags);
    const done = new Set<string>();
    const out: string[][] = [];
    while (done.size < set.size) {
      const wave = [...set].filter((t) => !done.has(t) && [...mustPrecede(t)].every((d) => !set.has(d) || done.has(d)));
      if (wave.length === 0) throw new Error('dependency cycle in graph (addDependency should have refused it)');
      wave.sort();
      wave.forEach((t) => done.add(t));
      out.push(wave);
    }
    return out;
  }
}
