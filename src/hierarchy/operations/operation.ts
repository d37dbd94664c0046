// An operation on one hierarchy (bring it in service, take it out, check it, recover one
// resource, run one administrator's action) and its continuation: a discriminated union that
// says what happens when the operation ends. The continuation is fixed when the operation is
// created, so reading where an operation is started tells what it leads to.

import type { ActionResult } from '../../kits/kit.js';
import type { OpOrigin } from '../engine-types.js';

/** A move that a restore completes, reported when the hierarchy is in service here. */
export interface MovedReport {
  kind: 'failover' | 'switchover';
  from: string;
  reason: string;
}

/** Restore: the hierarchy is in service here, and these follow. */
export interface Serve {
  kind: 'serve';
  /** Systems that already failed to run the hierarchy in this chain of hand-overs. */
  tried: string[];
  /** Attempts here that failed with retry-here and were rolled back. */
  retries: number;
  /** When the move began (a switchover: when the administrator asked), for its duration. */
  since: number;
  moved?: MovedReport;
  /** A peer asked this system to take the hierarchy over and is told the outcome. */
  replyTo?: string;
}

/** Remove: what follows once the hierarchy is out of service here. */
export type AfterRemove =
  /** Nothing: an administrator's request, the cleanup at agent start, or the worse copy of a hierarchy found in service twice. */
  | { kind: 'stay-out' }
  /** Switchback: the better system is asked to take the hierarchy over. */
  | { kind: 'hand-over'; to: string; tried: string[] }
  /** A peer's switchover asked for the hierarchy: the peer is answered. */
  | { kind: 'answer-release'; to: string; request: string }
  /** A resource failed here: it ends OSF and the next system takes the hierarchy. */
  | { kind: 'fail-over'; failedTag: string; reason: string }
  /** This system gave it up (lost quorum, stood still): the peers are told to take it over (hier-state takeOver). */
  | { kind: 'yield'; reason: string }
  /** A resource failed fatally: it ends OSF and the hierarchy stays out of service. */
  | { kind: 'stay-failed'; failedTag: string; reason: string }
  /** The rollback of a failed restore: restore again here, pass it on, or give up. */
  | { kind: 'after-rollback'; next: 'retry-here' | 'pass-on' | 'give-up'; serve: Serve; reason: string };

interface Progress {
  key: string;
  origin: OpOrigin;
  /** The administrator's request answered when it ends. */
  request?: string;
  waves: string[][];
  wave: number;
  /** actionId -> tag of the actions of the current wave still running. */
  pending: Map<number, string>;
  failures: Array<{ tag: string; result: ActionResult }>;
  /** Tags whose action succeeded. */
  done: string[];
}

export type RestoreOp = Progress & { kind: 'restore'; then: Serve };
export type RemoveOp = Progress & { kind: 'remove'; then: AfterRemove };
/** A check's failure leads to local recovery or failover (monitoring.ts). */
export type CheckOp = Progress & { kind: 'check'; then: { kind: 'watch' } };
/** A recover that works returns the resource to monitoring; one that fails moves the hierarchy. */
export type RecoverOp = Progress & { kind: 'recover'; then: { kind: 'resume-watching'; tag: string } };
/** perform_action: the administrator is told the result of the one action. */
export type SingleOp = Progress & { kind: 'single'; then: { kind: 'report-action'; tag: string; action: 'restore' | 'remove' } };

export type Operation = RestoreOp | RemoveOp | CheckOp | RecoverOp | SingleOp;
export type Continuation = Operation['then'];

function progress(key: string, origin: OpOrigin, request?: string, waves: string[][] = []): Progress {
  return { key, origin, request, waves, wave: 0, pending: new Map(), failures: [], done: [] };
}

/**
 * The Serve continuation of a restore with this origin. `from` is the system the hierarchy
 * comes from when known (a switchover's holder, the peer that asked for the takeover); a
 * failover names the first system that had it (`tried[0]`).
 */
export function serve(origin: OpOrigin, since: number, o: { tried?: string[]; from?: string; replyTo?: string } = {}): Serve {
  const tried = o.tried ?? [];
  let moved: MovedReport | undefined;
  if (origin === 'failover' || origin === 'local-failure') {
    moved = { kind: 'failover', from: tried[0] ?? o.from ?? 'unknown', reason: origin === 'failover' ? 'system-down' : 'local-failure' };
  } else if ((origin === 'switchover' || origin === 'switchback') && o.from !== undefined) {
    moved = { kind: 'switchover', from: o.from, reason: origin };
  }
  return { kind: 'serve', tried, retries: 0, since, moved, replyTo: o.replyTo };
}

export function restoreOp(key: string, origin: OpOrigin, then: Serve, request?: string): RestoreOp {
  return { ...progress(key, origin, request), kind: 'restore', then };
}

export function removeOp(key: string, origin: OpOrigin, then: AfterRemove, request?: string): RemoveOp {
  return { ...progress(key, origin, request), kind: 'remove', then };
}

export function checkOp(key: string, waves: string[][]): CheckOp {
  return { ...progress(key, 'local-failure', undefined, waves), kind: 'check', then: { kind: 'watch' } };
}

export function recoverOp(key: string, tag: string): RecoverOp {
  return { ...progress(key, 'local-failure', undefined, [[tag]]), kind: 'recover', then: { kind: 'resume-watching', tag } };
}

export function singleOp(key: string, tag: string, action: 'restore' | 'remove', request: string): SingleOp {
  return { ...progress(key, 'admin', request, [[tag]]), kind: 'single', then: { kind: 'report-action', tag, action } };
}

/** The resource whose failure a remove answers; it ends OSF, not OSU. */
export function failedTagOf(op: Operation): string | undefined {
  return op.kind === 'remove' && (op.then.kind === 'fail-over' || op.then.kind === 'stay-failed') ? op.then.failedTag : undefined;
}
