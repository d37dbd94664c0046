// The thin, I/O-doing side of the hierarchy engine: runs the engine's commands against kits
// (with each action's time limit enforced by an AbortSignal), sends peer messages through the
// transport it is given, persists states, and feeds results back into the engine. All decisions
// stay in the engine (engine.ts and the parts it routes to); this file only carries them out.

import type { ActionContext, ActionResult, Kit, KitRegistry, ResourceInstance } from '../kits/kit.js';
import type { EngineCommand, EngineEvent, HierarchyEngine, KitFacts, PeerMessage } from './engine.js';
import type { StallWatch } from './stall-watch.js';
import type { ResourceState } from './states.js';

export interface ExecutorHooks {
  /** Instance row for a tag (from the LCD). */
  instance(tag: string): ResourceInstance | undefined;
  /** Delivers a message to a peer's engine; rejects when it cannot be delivered. */
  send(to: string, msg: PeerMessage): Promise<void>;
  persistState(tag: string, state: ResourceState, reason: string): void;
  adminDone(request: string, ok: boolean, message: string): void;
  haltNode(reason: string): void;
  /** A failover or switchover completed here (for metrics). */
  moved?(m: Extract<EngineCommand, { type: 'moved' }>): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void;
  now(): number;
  /** Notices this agent's own stalls (stall-watch.ts) on the monotonic clock it reads. */
  stall?: { watch: StallWatch; monotonic: () => number };
}

/** The plain facts the engine needs about a kit. */
export function kitFactsOf(kit: Kit): KitFacts {
  return { timeLimits: kit.timeLimits, supportsRecover: kit.supportsRecover, maxCheckDepth: kit.maxCheckDepth };
}

/** Runs one kit action with a time limit; never rejects (a throw is a failure with a reason). */
export async function runKitAction(
  kit: Kit,
  inst: ResourceInstance,
  cmd: Extract<EngineCommand, { type: 'runAction' }>,
  ctx: ActionContext,
  controller: AbortController,
  /** Runs instead of the action's method, under the action's time limit (the create task's undo). */
  instead?: () => Promise<ActionResult>,
): Promise<ActionResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ActionResult>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error('time limit'));
      resolve({ ok: false, recoveryClass: 'move-elsewhere', reason: `${cmd.action} of ${cmd.tag} timed out after ${cmd.timeLimitMs} ms` });
    }, cmd.timeLimitMs);
  });
  const work = (async (): Promise<ActionResult> => {
    if (instead) return instead();
    switch (cmd.action) {
      case 'restore':
        return kit.restore(inst, ctx);
      case 'remove':
        return kit.remove(inst, ctx);
      case 'quickCheck':
        return kit.quickCheck(inst, cmd.depth ?? 0, ctx);
      case 'recover':
        return kit.recover(inst, ctx);
      case 'create':
        return kit.create(inst, ctx);
      case 'canExtend':
        return kit.canExtend(inst, ctx);
      case 'extend':
        return kit.extend(inst, ctx);
      case 'unextend':
        return kit.unextend(inst, ctx);
      case 'delete':
        return kit.delete(inst, ctx);
      case 'validate':
        return kit.validate(inst);
    }
  })().catch((e: unknown): ActionResult => ({ ok: false, recoveryClass: 'move-elsewhere', reason: `${cmd.action} threw: ${e instanceof Error ? e.message : String(e)}` }));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The longest an idle engine goes without a tick (also how soon a stall is noticed without events). */
const IDLE_TICK_MS = 1000;

export class HierarchyExecutor {
  private readonly running = new Map<number, AbortController>();
  private timer: NodeJS.Timeout | undefined;
  /** When the armed tick fires (hooks.now() time). */
  private timerAt = 0;
  /** The finest and the coarsest tick interval; unset until start(). */
  private fastMs: number | undefined;
  private idleMs = IDLE_TICK_MS;
  private stopped = false;

  constructor(
    private readonly engine: HierarchyEngine,
    private readonly kits: KitRegistry,
    private readonly system: string,
    private readonly hooks: ExecutorHooks,
  ) {}

  /**
   * Starts ticking the engine: when it next has something to do (engine.nextDueMs), at most every
   * `tickMs` and at least every IDLE_TICK_MS. An idle agent so wakes for its checks and little
   * else: fixed fine ticks were most of its idle CPU on small (and emulated) machines.
   */
  start(tickMs = 200): void {
    this.fastMs = tickMs;
    // The stall watch needs looks at the clock well inside its limit, or idleness would read as a stall.
    const stallLimit = this.hooks.stall?.watch.limitMs;
    this.idleMs = Math.max(tickMs, Math.min(IDLE_TICK_MS, stallLimit === undefined ? IDLE_TICK_MS : stallLimit / 4));
    this.schedule();
  }

  /** Stops ticking and aborts running actions. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const c of this.running.values()) c.abort(new Error('agent stopping'));
    this.running.clear();
  }

  /** Feeds an event to the engine and carries out what it answers. */
  feed(ev: EngineEvent): void {
    if (this.stopped) return;
    this.noticeStall();
    this.apply(this.engine.step(ev, this.hooks.now()));
  }

  /**
   * Every tick and event first looks at the clock: after a stall the engine hears of it before
   * anything else (a peer's message, an administrator's request), whichever comes first.
   */
  private noticeStall(): void {
    const s = this.hooks.stall;
    const gapMs = s?.watch.observe(s.monotonic());
    if (gapMs !== undefined) this.apply(this.engine.step({ type: 'stalled', gapMs: Math.round(gapMs) }, this.hooks.now()));
  }

  apply(cmds: EngineCommand[]): void {
    for (const c of cmds) this.execute(c);
    this.schedule();
  }

  private onTick(): void {
    this.timer = undefined;
    this.noticeStall();
    this.apply(this.engine.tick(this.hooks.now()));
  }

  /** Arms the tick for when the engine next has something to do, unless an earlier one is armed. */
  private schedule(): void {
    if (this.stopped || this.fastMs === undefined) return;
    const now = this.hooks.now();
    // No tick comes sooner than fastMs from now: one armed within that stays, and the engine is
    // not asked (with many resources, events are many and the question is a pass over them all).
    if (this.timer !== undefined && this.timerAt <= now + this.fastMs) return;
    const due = this.engine.nextDueMs();
    const waitMs = due === undefined ? this.idleMs : Math.min(this.idleMs, Math.max(this.fastMs, due - now));
    if (this.timer !== undefined && this.timerAt <= now + waitMs) return;
    clearTimeout(this.timer);
    this.timerAt = now + waitMs;
    this.timer = setTimeout(() => this.onTick(), waitMs);
    this.timer.unref?.();
  }

  private execute(c: EngineCommand): void {
    switch (c.type) {
      case 'runAction':
        return this.runAction(c);
      case 'cancelAction': {
        const ctl = this.running.get(c.actionId);
        ctl?.abort(new Error(c.reason));
        this.running.delete(c.actionId);
        return;
      }
      case 'send':
        this.hooks.send(c.to, c.msg).catch(() => this.feed({ type: 'sendFailed', to: c.to, msg: c.msg }));
        return;
      case 'persistState':
        return this.hooks.persistState(c.tag, c.state, c.reason);
      case 'adminDone':
        return this.hooks.adminDone(c.request, c.ok, c.message);
      case 'haltNode':
        return this.hooks.haltNode(c.reason);
      case 'moved':
        return this.hooks.moved?.(c);
      case 'log':
        return this.hooks.log(c.level, c.msg, c.fields);
    }
  }

  private runAction(c: Extract<EngineCommand, { type: 'runAction' }>): void {
    const inst = this.hooks.instance(c.tag);
    const kit = inst ? this.kits.get(inst.app) : undefined;
    if (!inst || !kit) {
      queueMicrotask(() =>
        this.feed({ type: 'actionResult', actionId: c.actionId, result: { ok: false, recoveryClass: 'fatal', reason: inst ? `no kit for ${inst.app}` : `no instance ${c.tag}` } }),
      );
      return;
    }
    const controller = new AbortController();
    this.running.set(c.actionId, controller);
    const ctx: ActionContext = {
      system: this.system,
      signal: controller.signal,
      log: (level, msg, fields) => this.hooks.log(level, msg, { tag: c.tag, action: c.action, ...fields }),
    };
    void runKitAction(kit, inst, c, ctx, controller).then((result) => {
      this.running.delete(c.actionId);
      this.feed({ type: 'actionResult', actionId: c.actionId, result });
    });
  }
}
