// What the NFS benchmark looks for in each product's own log after a fault on the active node's
// NFS access, and the figures it derives from what it found. The same event names for both
// products, so that the output compares like with like: the first failure each monitor saw, the
// decision to leave the active node, the release of its mount (with the outcome, which says
// whether Pacemaker's stop timed out), the hierarchy starting on the backup, and a blocked
// resource or a fencing request where the product logs one. Pure: the bench reads the logs.
import type { HostEvent } from './product.js';

/** Whose log holds the event: the node that had the hierarchy, the other one, or either (Pacemaker's DC). */
export type Where = 'active' | 'backup' | 'either';

export interface EventSpec {
  on: Where;
  re: RegExp;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Pacemaker: pacemaker-controld's "Result of <op> operation for <rsc> on <node>: <outcome>" (the
 * outcome is ok, not running, error, Timed Out, ...) and the scheduler's decisions. The lines name
 * the node, so each is looked for in both logs.
 */
export function pacemakerNfsEvents(active: string, backup: string): Record<string, EventSpec> {
  const result = (op: string, rsc: string, node: string, outcome = '') => ({ on: 'either' as const, re: new RegExp(`Result of ${op} operation for ${rsc} on ${esc(node)}: ${outcome}`) });
  return {
    appMonitorFailed: result('monitor', 'app', active, '(?!ok|Cancelled)'),
    fsMonitorFailed: result('monitor', 'fs', active, '(?!ok|Cancelled)'),
    leaveDecided: { on: 'either', re: new RegExp(`pacemaker-schedulerd.*\\b(Move|Recover|Stop)\\s+fs\\b`) },
    appStopped: result('stop', 'app', active),
    fsReleased: result('stop', 'fs', active),
    fsStartedOnBackup: result('start', 'fs', backup, 'ok'),
    appStartedOnBackup: result('start', 'app', backup, 'ok'),
    startFailed: { on: 'either', re: /Result of start operation for (fs|app) on \S+: (?!ok|Cancelled)/ },
    blocked: { on: 'either', re: /\bfs\b.*\bblocked\b|requires fencing but fencing is disabled|on-fail=block/ },
    fencing: { on: 'either', re: /will be fenced|Scheduling node \S+ for fencing|Requesting fencing|Requesting peer fencing/ },
  };
}

/**
 * Vigil: vigild's engine lines ("quickCheck of TAG failed: ...", "removing hierarchy ...",
 * "remove TAG succeeded|failed", "restore TAG succeeded", "... cannot be brought in service
 * anywhere"). They do not name the node, so each is looked for in one node's log.
 */
export function vigilNfsEvents(fsTag: string, appTag: string): Record<string, EventSpec> {
  return {
    appMonitorFailed: { on: 'active', re: new RegExp(`quickCheck of ${esc(appTag)} failed`) },
    fsMonitorFailed: { on: 'active', re: new RegExp(`quickCheck of ${esc(fsTag)} failed`) },
    nasProbeFailed: { on: 'active', re: /quickCheck of device-nas-\S+ failed/ },
    leaveDecided: { on: 'active', re: /removing hierarchy \S+/ },
    appStopped: { on: 'active', re: new RegExp(`\\bremove ${esc(appTag)} (succeeded|failed)`) },
    fsReleased: { on: 'active', re: new RegExp(`\\bremove ${esc(fsTag)} (succeeded|failed)`) },
    fsStartedOnBackup: { on: 'backup', re: new RegExp(`\\brestore ${esc(fsTag)} succeeded`) },
    appStartedOnBackup: { on: 'backup', re: new RegExp(`\\brestore ${esc(appTag)} succeeded`) },
    startFailed: { on: 'either', re: /\brestore \S+ failed/ },
    blocked: { on: 'either', re: /cannot be brought in service anywhere/ },
  };
}

/** The patterns to look for in one node's log. */
export function patternsFor(spec: Record<string, EventSpec>, role: 'active' | 'backup'): Record<string, RegExp> {
  return Object.fromEntries(Object.entries(spec).filter(([, s]) => s.on === role || s.on === 'either').map(([k, s]) => [k, s.re]));
}

/** The two nodes' findings merged: for each event, the earlier one. */
export function mergeEvents(...found: Array<Record<string, HostEvent>>): Record<string, HostEvent> {
  const out: Record<string, HostEvent> = {};
  for (const f of found) for (const [k, e] of Object.entries(f)) if (!out[k] || e.atMs < out[k]!.atMs) out[k] = e;
  return out;
}

export interface NfsFigures {
  /** fault -> the first monitor failure of any resource of the hierarchy (ms) and which monitor */
  decisionMs?: number;
  decidedBy?: string;
  /** fault -> the active node's mount released (its stop / remove returned) and how it ended */
  releasedMs?: number;
  releaseOutcome?: string;
  /** fault -> the file system and the application started on the backup (from the product's log) */
  backupMountedMs?: number;
  backupAppStartedMs?: number;
  /** fault -> a blocked resource or a fencing request, if logged */
  blockedMs?: number;
  fencingMs?: number;
}

/** The outcome at the end of a "Result of ..." or "remove TAG ..." line: "ok", "Timed Out", "succeeded: released (lazy)", "failed: ...". */
export function outcomeOf(line: string): string {
  const pcmk = /Result of \w+ operation for \S+ on \S+: (.*?)(?: \|.*)?$/.exec(line);
  if (pcmk) return pcmk[1]!.trim();
  const vigil = /\b(?:remove|restore) \S+ ((?:succeeded|failed).*)$/.exec(line);
  return vigil ? vigil[1]!.trim() : line;
}

export function nfsFigures(events: Record<string, HostEvent>, faultAtMs: number): NfsFigures {
  const rel = (k: string) => (events[k] ? Math.round(events[k]!.atMs - faultAtMs) : undefined);
  const monitors = ['appMonitorFailed', 'fsMonitorFailed', 'nasProbeFailed'].filter((k) => events[k]).sort((a, b) => events[a]!.atMs - events[b]!.atMs);
  const first = monitors[0];
  return {
    decisionMs: first ? rel(first) : undefined,
    decidedBy: first,
    releasedMs: rel('fsReleased'),
    releaseOutcome: events.fsReleased ? outcomeOf(events.fsReleased.line) : undefined,
    backupMountedMs: rel('fsStartedOnBackup'),
    backupAppStartedMs: rel('appStartedOnBackup'),
    blockedMs: rel('blocked'),
    fencingMs: rel('fencing'),
  };
}
