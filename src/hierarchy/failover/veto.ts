// A kit's veto on moving a hierarchy now (a replication kit during a resync): asked before a
// local failure moves it away, before an automatic switchback and before a switchover.

import type { EngineContext } from '../engine-context.js';

/** The first resource of the hierarchy whose kit refuses a move, with its reason; else undefined. */
export function moveVeto(ctx: EngineContext, key: string): string | undefined {
  if (!ctx.opts.canFailoverNow) return undefined;
  for (const t of ctx.graph.component(key)) {
    const v = ctx.opts.canFailoverNow(t);
    if (!v.ok) return `${t}: ${v.reason}`;
  }
  return undefined;
}
