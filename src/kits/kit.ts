// The recovery-kit contract: what every kit (gen/app, gen/filesys, nas, netraid, ...) offers the
// hierarchy engine. Modelled on OCF resource agents: every action answers with a result that
// carries a recovery class, so the engine can decide between "try again here", "move the
// hierarchy elsewhere" and "stop, an administrator must look" without knowing the kit.
//
// Rules a kit must keep:
// - restore and remove are idempotent: restoring something already in service, or removing
//   something already out of service, succeeds without side effects.
// - actions honour `ctx.signal`: the engine aborts an action whose time limit passed and treats
//   it as failed with reason "timed out"; a kit must not leave work running after the abort.
// - anything that can block in the kernel (stat on a dead NFS mount, I/O on a dead disk) goes
//   through src/platform with its own time limit, never directly on the event loop.

/** What the engine should do after an action failed. */
export type RecoveryClass =
  /** Nothing to do: the action succeeded. */
  | 'none'
  /** A transient failure: the same action may succeed if repeated on this system. */
  | 'retry-here'
  /** This system cannot run the resource now; bring the hierarchy in service elsewhere. */
  | 'move-elsewhere'
  /** Configuration or data problem: do not retry, do not move; an administrator must act. */
  | 'fatal';

export interface ActionResult {
  ok: boolean;
  recoveryClass: RecoveryClass;
  /** Human-readable reason; always set on failure, optional on success. */
  reason: string;
  /** The kit asks that this node be halted at once (e.g. the NAS kit's LKNASERROR=halt). */
  haltNode?: boolean;
  /** create only: settings the kit learned from the live resource (e.g. the mount options of an
   *  existing mount), merged into the instance's info so extend carries them to other systems. */
  info?: Record<string, string>;
}

export const ok = (reason = ''): ActionResult => ({ ok: true, recoveryClass: 'none', reason });
export const failed = (recoveryClass: Exclude<RecoveryClass, 'none'>, reason: string, haltNode = false): ActionResult =>
  haltNode ? { ok: false, recoveryClass, reason, haltNode } : { ok: false, recoveryClass, reason };

/** Monitor depths, as in OCF: 0 = present (mounted/running), 10 = readable, 20 = writable. */
export type CheckDepth = 0 | 10 | 20;

export type KitAction =
  | 'validate'
  | 'create'
  | 'canExtend'
  | 'extend'
  | 'unextend'
  | 'delete'
  | 'restore'
  | 'remove'
  | 'quickCheck'
  | 'recover';

/** One resource instance as the kit sees it (a row of the LCD's instance table). */
export interface ResourceInstance {
  tag: string;
  /** Unique key within the app type, e.g. the mount point for gen/filesys. */
  id: string;
  /** Kit name, e.g. 'gen/app'. */
  app: string;
  /** Kit-specific settings (device, fstype, options, program paths...), strings only. */
  info: Record<string, string>;
}

export interface ActionContext {
  /** The system this action runs on. */
  system: string;
  /** Aborted by the engine when the action's time limit passes (or the agent stops). */
  signal: AbortSignal;
  /** Structured log lines from the kit. */
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** Per-action time limits in milliseconds. Restore may be long (replication kits). */
export type ActionTimeLimits = Record<KitAction, number>;

export interface Kit {
  /** The app/type name, e.g. 'gen/filesys'. */
  readonly app: string;
  /** Time limits the engine enforces for each action of this kit. */
  readonly timeLimits: ActionTimeLimits;
  /** Whether `recover` does something useful (local recovery is attempted before failover). */
  readonly supportsRecover: boolean;
  /** Deepest monitor depth this kit implements. */
  readonly maxCheckDepth: CheckDepth;

  /** Check the instance's settings without touching the system; synchronous and pure. */
  validate(inst: ResourceInstance): ActionResult;
  /** Put an existing, working resource under protection on the creating system. */
  create(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult>;
  /** Pre-extend check on the target system: can this resource run here? */
  canExtend(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult>;
  /** Prepare the target system to run the resource (the instance row already exists). */
  extend(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult>;
  /** Undo `extend` on a system where the resource is out of service. */
  unextend(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult>;
  /** Take the resource out of protection on its last system (does not destroy data). */
  delete(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult>;
  /** Bring in service; idempotent. */
  restore(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult>;
  /** Take out of service; idempotent. */
  remove(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult>;
  /** Monitor at a depth no deeper than maxCheckDepth. */
  quickCheck(inst: ResourceInstance, depth: CheckDepth, ctx: ActionContext): Promise<ActionResult>;
  /** Local recovery after a failed quickCheck. */
  recover(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult>;
  /**
   * May the hierarchy containing this instance move now? Replication vetoes during resync.
   * Synchronous: answer from state the kit already holds, no I/O.
   */
  canFailoverNow(inst: ResourceInstance): { ok: boolean; reason: string };
  /**
   * Optional: resources the create task makes beneath a new instance, in the same task (the NAS
   * kit's export resource under an NFS file system). Synchronous and pure: derived from the
   * instance's settings only. Each child's own kit runs its create checks first.
   */
  childrenForCreate?(inst: ResourceInstance): ResourceInstance[];
  /**
   * Optional: resources the create task makes above a new instance, each depending on it, in the
   * same task (scsi/netraid's file system on /dev/mdN). Synchronous and pure, like
   * childrenForCreate; each parent's own kit runs its create checks first.
   */
  parentsForCreate?(inst: ResourceInstance): ResourceInstance[];
  /**
   * Optional: the create task failed after this kit's create succeeded; put the system back as
   * it was before create (the instance is already out of service). Without it, delete is run.
   */
  undoCreate?(inst: ResourceInstance, ctx: ActionContext): Promise<ActionResult>;
  /** Optional: why this kit cannot run under automatic switchback (set: create, extend and properties refuse it). */
  readonly refusesAutomaticSwitchback?: string;
  /** Optional: the error number the extend step reports when a tag of this kit already exists on the target (NAS: 107010); its row's message takes <tag> and <server>. */
  readonly tagConflictError?: number;
}

/** The product error number a failure reason starts with ("Error 107012: ..."), if any. */
export function errorNumberOf(reason: string): number | undefined {
  const m = /^Error (\d{6}): /.exec(reason);
  return m ? Number(m[1]) : undefined;
}

/** Kits by app name. */
export class KitRegistry {
  private readonly kits = new Map<string, Kit>();

  register(kit: Kit): void {
    if (this.kits.has(kit.app)) throw new Error(`kit ${kit.app} registered twice`);
    this.kits.set(kit.app, kit);
  }

  get(app: string): Kit | undefined {
    return this.kits.get(app);
  }

  apps(): string[] {
    return [...this.kits.keys()].sort();
  }
}

/** Time limits common to simple kits; kits override what they need. */
export const DEFAULT_TIME_LIMITS: ActionTimeLimits = {
  validate: 1_000,
  create: 60_000,
  canExtend: 30_000,
  extend: 60_000,
  unextend: 60_000,
  delete: 60_000,
  restore: 120_000,
  remove: 120_000,
  quickCheck: 30_000,
  recover: 120_000,
};
