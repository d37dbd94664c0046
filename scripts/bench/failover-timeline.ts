// Reads a failover's moments from one vigild's own log (pino JSON lines, `time` in ms since the
// epoch; every vigild of a bench runs on this host, so all share one clock): when it declared
// the dead system dead, when the witness confirmed it, and per hierarchy when the engine heard
// of the death, started the restore, ran the kit's restore and had it in service. These are the
// moments themselves, not when a poller happened to look (a poll of 31 busy vigilds on 2 cores
// may take a second). A moment that is not in the log is left out (undefined).
import * as fs from 'node:fs';

export interface HierarchyMoments {
  /** "system X died with hierarchy K in service": the engine was told (after the witness). */
  engineHeard?: number;
  /** "restoring hierarchy K (failover)": the takeover started (after the quorum gate). */
  restoring?: number;
  /** "restore TAG begins" / "restore TAG succeeded": the kit's restore action. */
  actionBegins?: number;
  actionEnds?: number;
  /** "hierarchy K in service on SYSTEM (failover)": the engine's ISP. */
  inService?: number;
}

export interface FailoverTimeline {
  /** "cluster: system dead": this system's membership declared the system dead. */
  detected?: number;
  /** "quorum: remote_verify: X is dead": every asked peer agreed. */
  witnessConfirmed?: number;
  /** remote_verify rounds vetoed (a peer still saw the system alive), with the first and last. */
  witnessVetoes: number;
  /** When witness questions went out (the first round and each retry after a veto). */
  witnessAsked: number[];
  hierarchies: Map<string, HierarchyMoments>;
}

interface Line {
  time: number;
  msg: string;
  system?: string;
  key?: string;
  tag?: string;
  action?: string;
  origin?: string;
}

function lines(file: string): Line[] {
  const out: Line[] = [];
  for (const text of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      const l = JSON.parse(text) as Line;
      if (typeof l.time === 'number' && typeof l.msg === 'string') out.push(l);
    } catch {
      // a line cut by the kill of the process at the end
    }
  }
  return out;
}

/** The first time of each moment after `since` in `file` for the death of `dead` and the hierarchies `keys`. */
export function failoverTimeline(file: string, dead: string, keys: readonly string[], since: number): FailoverTimeline {
  const wanted = new Set(keys);
  const t: FailoverTimeline = { witnessVetoes: 0, witnessAsked: [], hierarchies: new Map(keys.map((k) => [k, {}])) };
  const first = <K extends keyof HierarchyMoments>(key: string | undefined, field: K, time: number) => {
    const h = key !== undefined && wanted.has(key) ? t.hierarchies.get(key) : undefined;
    if (h && h[field] === undefined) h[field] = time;
  };
  for (const l of lines(file)) {
    if (l.time < since) continue;
    const m = l.msg;
    if (m === 'cluster: system dead' && l.system === dead) t.detected ??= l.time;
    else if (m.startsWith(`quorum: remote_verify: asking`) && l.system === dead) t.witnessAsked.push(l.time);
    else if (m.startsWith(`quorum: remote_verify: ${dead} is dead`)) t.witnessConfirmed ??= l.time;
    else if (m.startsWith('quorum: remote_verify: ') && m.includes(` still see ${dead} alive`)) t.witnessVetoes++;
    else if (m.startsWith(`system ${dead} died with hierarchy `)) first(l.key, 'engineHeard', l.time);
    else if (m.startsWith('restoring hierarchy ') && l.origin === 'failover') first(l.key, 'restoring', l.time);
    else if (l.action === 'restore' && m.startsWith(`restore ${l.tag} begins`)) first(l.tag, 'actionBegins', l.time);
    else if (l.action === 'restore' && m.startsWith(`restore ${l.tag} succeeded`)) first(l.tag, 'actionEnds', l.time);
    else if (m.startsWith('hierarchy ') && l.origin === 'failover' && m.includes(' in service on ')) first(l.key, 'inService', l.time);
  }
  return t;
}
