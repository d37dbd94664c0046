// What goes into and out of the hierarchy engine, as plain data: the configuration it is fed,
// the facts it knows of kits, the events it reacts to, the messages engines on different systems
// exchange, and the commands it answers with (carried out by executor.ts).

import type { ActionResult, CheckDepth, KitAction } from '../kits/kit.js';
import type { Candidate } from './failover/choose-system.js';
import type { LockOwner } from './locks.js';
import type { RecoveryPolicy } from './recovery-policy.js';
import type { ResourceState } from './states.js';

export type SwitchbackType = 'intelligent' | 'automatic';

/** One local resource instance with its equivalents (as read from the LCD). */
export interface ResourceConfig {
  tag: string;
  id: string;
  app: string;
  switchback: SwitchbackType;
  /** Priority of this system for the resource (1-999, lower preferred). */
  priority: number;
  /** Equivalents on other systems (same tag there). */
  equivalents: Candidate[];
  info: Record<string, string>;
}

export interface HierarchyConfig {
  resources: ResourceConfig[];
  dependencies: Array<{ parent: string; child: string }>;
}

/** What the engine knows of each kit, as plain data. */
export interface KitFacts {
  timeLimits: Record<KitAction, number>;
  supportsRecover: boolean;
  maxCheckDepth: CheckDepth;
}

export interface EngineOptions {
  localSystem: string;
  kitFacts: (app: string) => KitFacts | undefined;
  /** LKCHECKINTERVAL in ms; per-app overrides in checkIntervalByApp. */
  checkIntervalMs: number;
  checkIntervalByApp?: Record<string, number>;
  recovery?: RecoveryPolicy;
  /** Admin lock lease (a holder that never releases loses the lock after this). */
  lockLeaseMs?: number;
  /** How long to wait for peers to answer a lock request or a release. */
  peerReplyTimeoutMs?: number;
  /** Quorum gate: may this system bring anything in service now? Must not do I/O. */
  quorum?: () => boolean;
  /**
   * While the gate is closed: whether only for a while (a survivor hold, quarantine, an eviction
   * under way, a verdict not decided yet) rather than for a lost quorum. A peer's takeover request
   * then waits for the gate instead of being refused. Must not do I/O. Absent: never.
   */
  quorumWaiting?: () => boolean;
  /** A kit's veto on moving a hierarchy (replication during resync). Must not do I/O. */
  canFailoverNow?: (tag: string) => { ok: boolean; reason: string };
}

/** Messages between engines on different systems. */
export type PeerMessage =
  /**
   * `epoch`: the copy's takeover epoch (placement.ts); absent from agents that predate it.
   * `takeOver` (with inService false): the sender gave the hierarchy up without being asked (it
   * lost quorum, or stood still), so the others decide who takes it over, as after its death.
   */
  | { kind: 'hier-state'; key: string; inService: boolean; epoch?: number; takeOver?: boolean }
  /**
   * `reply`: the receiver answers with its own sync (a system that comes back may not have seen this one go).
   * `busy`: hierarchies with an operation running or waiting on them at the sender; `restarting`:
   * the ones it had in service when its agent stopped uncleanly and has not settled yet
   * (failover/restart-restore.ts). Absent from agents that predate them: nothing under way.
   * `gaveUp`: hierarchies the sender gave up (hier-state takeOver) that nobody has placed since:
   * the give-up itself may have been lost on the link that was failing then.
   */
  | { kind: 'hier-state-sync'; inService: string[]; epochs?: Record<string, number>; reply?: boolean; busy?: string[]; restarting?: string[]; gaveUp?: string[] }
  | { kind: 'takeover'; key: string; tried: string[]; reason: string; origin: OpOrigin }
  | { kind: 'takeover-result'; key: string; ok: boolean; reason: string; tryNext?: string[] }
  | { kind: 'release'; key: string; request: string }
  | { kind: 'release-result'; key: string; request: string; ok: boolean; reason: string }
  | { kind: 'lock'; key: string; owner: LockOwner }
  | { kind: 'lock-result'; key: string; request: string; granted: boolean; holder?: LockOwner }
  | { kind: 'unlock'; key: string; owner: LockOwner };

export type EngineEvent =
  | { type: 'config'; config: HierarchyConfig }
  | { type: 'systemUp'; system: string }
  /** A path that carries messages to `system` came up while it stayed a member: the state sync both ways again (what was sent while only a DISK path joined them was lost). */
  | { type: 'peerReachable'; system: string }
  | { type: 'systemDown'; system: string }
  | { type: 'quorumChanged' }
  /** This agent stood still for gapMs, longer than its peers need to declare it dead (stall-watch.ts). */
  | { type: 'stalled'; gapMs: number }
  | { type: 'actionResult'; actionId: number; result: ActionResult }
  | { type: 'message'; from: string; msg: PeerMessage }
  | { type: 'sendFailed'; to: string; msg: PeerMessage }
  /** Administrator: bring the hierarchy of `tag` in service here (switchover if elsewhere). */
  | { type: 'adminInService'; request: string; tag: string }
  /** Administrator: take the hierarchy of `tag` out of service here. */
  /** `yieldReason`: not an administrator's choice but a loss (of quorum): the others take it over. */
  | { type: 'adminOutOfService'; request: string; tag: string; yieldReason?: string }
  /** Administrator: run one action on one resource only (perform_action). */
  | { type: 'adminAction'; request: string; tag: string; action: 'restore' | 'remove' }
  /** Administrative task wants the cluster-wide lock of a hierarchy. */
  | { type: 'lockRequest'; request: string; tag: string; purpose: string }
  | { type: 'lockRelease'; request: string; tag: string };

export type EngineCommand =
  | { type: 'runAction'; actionId: number; tag: string; action: KitAction; depth?: CheckDepth; timeLimitMs: number }
  | { type: 'cancelAction'; actionId: number; reason: string }
  | { type: 'send'; to: string; msg: PeerMessage }
  | { type: 'persistState'; tag: string; state: ResourceState; reason: string }
  | { type: 'adminDone'; request: string; ok: boolean; message: string }
  | { type: 'haltNode'; reason: string }
  /** A hierarchy moved here: after a failure elsewhere (failover) or by request (switchover). */
  | { type: 'moved'; kind: 'failover' | 'switchover'; key: string; from: string; to: string; durationMs: number; reason: string }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; fields: Record<string, unknown> };

/** 'agent-restart': brought in service again after this agent's unclean stop (failover/restart-restore.ts). */
export type OpOrigin = 'failover' | 'switchover' | 'switchback' | 'admin' | 'local-failure' | 'agent-start' | 'agent-restart';
