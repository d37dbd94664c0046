// Automatic switchback: when a system returns and it is now the best live system for a
// hierarchy running here with switchback `automatic`, this system takes the hierarchy out of
// service and hands it over. `intelligent` hierarchies stay until an administrator moves them.

import type { EngineContext } from '../engine-context.js';
import { chooseSystem } from './choose-system.js';
import { removeOp, type Operation } from '../operations/operation.js';
import { moveVeto } from './veto.js';

export function considerSwitchback(ctx: EngineContext, runsHere: (key: string) => boolean, start: (op: Operation) => void, returned: string): void {
  for (const key of ctx.graph.hierarchies().keys()) {
    if (!runsHere(key)) continue;
    const root = ctx.resources.get(key)!;
    if (root.cfg.switchback !== 'automatic') continue;
    const best = chooseSystem(ctx.candidates(key), ctx.alive);
    if (best !== returned) continue;
    const veto = moveVeto(ctx, key);
    if (veto) {
      ctx.log('warn', `automatic switchback of ${key} to ${returned} deferred: ${veto}`, { key });
      continue;
    }
    ctx.log('info', `automatic switchback of ${key} to ${returned}`, { key, target: returned });
    start(removeOp(key, 'switchback', { kind: 'hand-over', to: returned, tried: [] }));
  }
}
