// Decorators that measure what kits and probes do without the kits knowing about metrics:
// - instrumentKit: each quickCheck (kit, depth, result, latency) and each recover (a local
//   recovery attempt: result and duration) of a kit is recorded;
// - instrumentTimedStat: each time-limited probe's latency and outcome.
// The composition wraps kits and the platform's timedStat with these before handing them to the
// hierarchy service; the wrapped objects behave exactly like the originals.

import type { ActionContext, Kit } from '../kits/kit.js';
import { ProbeCapacityError, ProbeTimeoutError } from '../platform/errors.js';
import type { TimedStat } from '../platform/platform.js';
import type { MetricsRecorder } from './recorder.js';

type KitEvents = Pick<MetricsRecorder, 'quickCheck' | 'localRecovery'>;

export function instrumentKit(kit: Kit, events: KitEvents): Kit {
  const quickCheck: Kit['quickCheck'] = async (inst, depth, ctx) => {
    const t0 = performance.now();
    let result = 'error';
    try {
      const r = await kit.quickCheck(inst, depth, ctx);
      result = r.ok ? 'ok' : aborted(ctx) ? 'timeout' : 'failed';
      return r;
    } finally {
      if (result === 'error' && aborted(ctx)) result = 'timeout';
      events.quickCheck(kit.app, depth, result, (performance.now() - t0) / 1000);
    }
  };
  const recover: Kit['recover'] = async (inst, ctx) => {
    const t0 = performance.now();
    let ok = false;
    try {
      const r = await kit.recover(inst, ctx);
      ok = r.ok;
      return r;
    } finally {
      events.localRecovery(inst.tag, ok, (performance.now() - t0) / 1000);
    }
  };
  // Everything else (properties and actions) goes to the kit itself, bound to it.
  return new Proxy(kit, {
    get(target, prop) {
      if (prop === 'quickCheck') return quickCheck;
      if (prop === 'recover') return recover;
      // Read with the kit itself as `this`, so getters over private (#) fields work.
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function aborted(ctx: ActionContext): boolean {
  return ctx.signal.aborted;
}

export function instrumentTimedStat(timedStat: TimedStat, events: Pick<MetricsRecorder, 'probe'>): TimedStat {
  return {
    async stat(path, timeoutMs, options) {
      const t0 = performance.now();
      let outcome = 'ok';
      try {
        return await timedStat.stat(path, timeoutMs, options);
      } catch (err) {
        // A refused probe never ran: no latency to record.
        if (err instanceof ProbeCapacityError) {
          outcome = 'refused';
        } else {
          outcome = err instanceof ProbeTimeoutError ? 'timeout' : 'error';
        }
        throw err;
      } finally {
        if (outcome !== 'refused') events.probe((performance.now() - t0) / 1000, outcome);
      }
    },
    counters: () => timedStat.counters(),
    configure: (limits) => timedStat.configure(limits),
  };
}
