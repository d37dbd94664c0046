// The local resources as configured (from the LCD) and their states: a new configuration adds
// resources OSU, forgets the ones gone, and moves in-service ones between ISP and ISU when
// their protection changes; the states recorded when the agent stopped are taken back at start,
// where anything recorded in service is treated as failed until it has been cleaned up.

import type { EngineContext } from './engine-context.js';
import type { HierarchyConfig, ResourceConfig } from './engine-types.js';
import { DependencyGraph } from './graph.js';
import { inServiceState, isInService, type ResourceState } from './states.js';

/**
 * The graph for a configuration. When its dependencies are those of the current graph (most
 * changes: a resource added, removed or edited), the current graph is updated in place, which
 * keeps its hierarchy index for everything but the resources added or removed; otherwise a new
 * graph is built, checked (cycles, unknown tags) before anything changes.
 */
function graphFor(current: DependencyGraph, cfg: HierarchyConfig, tags: Set<string>): DependencyGraph {
  const sameDependencies =
    cfg.dependencies.length === current.dependencyCount() &&
    cfg.dependencies.every((d) => tags.has(d.parent) && tags.has(d.child) && current.hasDependency(d.parent, d.child));
  if (sameDependencies) {
    for (const t of tags) current.addNode(t);
    if (current.size() > tags.size) for (const t of current.tags()) if (!tags.has(t)) current.removeNode(t);
    return current;
  }
  const g = new DependencyGraph();
  for (const t of tags) g.addNode(t);
  for (const d of cfg.dependencies) g.addDependency(d.parent, d.child);
  return g;
}

/**
 * Applies a configuration; returns the (new) keys of the hierarchies with a resource in service
 * here. The cost follows what changed: a resource whose configuration object is the one already
 * held (lcd-view.ts hands out the same object for an unchanged LCD record) is passed over.
 */
export function applyConfig(ctx: EngineContext, cfg: HierarchyConfig): Set<string> {
  const prev = lastApplied.get(ctx);
  const changed = prev && sameShape(prev, cfg);
  if (changed) {
    // The same resources in the same order and the same dependencies: only the configurations
    // that were replaced are looked at, and the graph stays as it is.
    for (const r of changed) update(ctx, r);
  } else {
    const seen = new Set<string>();
    for (const r of cfg.resources) seen.add(r.tag);
    ctx.graph = graphFor(ctx.graph, cfg, seen);
    for (const r of cfg.resources) update(ctx, r);
    if (ctx.resources.size > seen.size) for (const tag of [...ctx.resources.keys()]) if (!seen.has(tag)) ctx.resources.delete(tag);
  }
  lastApplied.set(ctx, cfg); // only once applied: a refused configuration (a cycle) is no base
  const here = new Set<string>();
  for (const [tag, r] of ctx.resources) if (isInService(r.state)) here.add(ctx.graph.hierarchyKey(tag));
  return here;
}

/** The configuration each engine applied last (lcd-view.ts reuses unchanged objects and arrays). */
const lastApplied = new WeakMap<EngineContext, HierarchyConfig>();

/**
 * When `next` has the resources of `prev` (same tags, same order) and the very same dependency
 * list: the resource configurations that were replaced. Undefined when anything else changed.
 */
function sameShape(prev: HierarchyConfig, next: HierarchyConfig): ResourceConfig[] | undefined {
  if (prev.dependencies !== next.dependencies || prev.resources.length !== next.resources.length) return undefined;
  const changed: ResourceConfig[] = [];
  for (let k = 0; k < next.resources.length; k++) {
    const a = prev.resources[k]!;
    const b = next.resources[k]!;
    if (a === b) continue;
    if (a.tag !== b.tag) return undefined;
    changed.push(b);
  }
  return changed;
}

function update(ctx: EngineContext, r: ResourceConfig): void {
  const cur = ctx.resources.get(r.tag);
  if (cur) {
    if (cur.cfg === r) return;
    cur.cfg = r;
    if (isInService(cur.state)) {
      const want = inServiceState(r.equivalents.length > 0);
      if (want !== cur.state) ctx.setState(r.tag, want, 'protection-changed', want === 'ISP' ? 'extended' : 'no equivalent left');
    }
  } else {
    ctx.resources.set(r.tag, { cfg: r, state: 'OSU', reason: 'agent start', nextCheck: ctx.now });
  }
}

/**
 * Takes back the states recorded when the agent stopped. Returns the hierarchies left in
 * service by an unclean stop (a mount or a process may have survived it, and a peer may have
 * taken the hierarchy over meanwhile): their resources are OSF until they are cleaned up.
 */
export function loadRecordedStates(ctx: EngineContext, states: Record<string, ResourceState>): Set<string> {
  const unclean = new Set<string>();
  for (const [tag, st] of Object.entries(states)) {
    const r = ctx.resources.get(tag);
    if (!r) continue;
    if (isInService(st)) {
      r.state = 'OSF';
      r.reason = 'cleaning up after an unclean stop';
      unclean.add(ctx.graph.hierarchyKey(tag));
    } else {
      r.state = st;
      r.reason = 'agent start';
    }
    ctx.emit({ type: 'persistState', tag, state: r.state, reason: r.reason });
  }
  return unclean;
}
