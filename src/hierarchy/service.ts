// The hierarchy service of one agent: the engine (decisions), the executor (kit actions with
// time limits), the LCD (configuration in, resource states out) and the transport to the other
// agents, joined together. vigild wires it in src/daemon/wire-hierarchy.ts; integration tests
// can run several services in one process over an in-memory transport.

import { performance } from 'node:perf_hooks';

import { VigilError } from '../common/errors.js';
import type { Lcd } from '../lcd/lcd.js';
import type { ActionContext, ActionResult, KitAction, KitRegistry, ResourceInstance } from '../kits/kit.js';
import { HierarchyEngine, type EngineEvent, type PeerMessage } from './engine.js';
import { HierarchyExecutor, kitFactsOf, runKitAction } from './executor.js';
import { actionTimeLimitMs } from '../kits/action-time-limit.js';
import { engineConfig, kitInstance } from './lcd-view.js';
import type { RecoveryPolicy } from './recovery-policy.js';
import { StallWatch } from './stall-watch.js';
import type { ResourceState } from './states.js';

/** Message types on the cluster's request/response messaging. */
export const HIER_MESSAGE = 'hier.msg';
export const HIER_TASK = 'hier.task';

export interface HierarchyTransport {
  /** Sends to another system's hierarchy service and resolves with its answer. */
  request(system: string, type: typeof HIER_MESSAGE | typeof HIER_TASK, body: unknown, timeoutMs: number): Promise<unknown>;
}

export type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface HierarchyServiceOptions {
  lcd: Lcd;
  kits: KitRegistry;
  log: Log;
  /** LKCHECKINTERVAL in milliseconds. */
  checkIntervalMs: number;
  checkIntervalByApp?: Record<string, number>;
  recovery?: RecoveryPolicy;
  /** How often the engine is ticked (time limits and checks are resolved at this grain). */
  tickMs?: number;
  quorum?: () => boolean;
  /** See EngineOptions.quorumWaiting. */
  quorumWaiting?: () => boolean;
  /**
   * A gap longer than this between two looks of the engine at the monotonic clock is a stall of
   * this agent (stall-watch.ts): the peers' detection time with a margin. Unset: not watched.
   */
  stallLimitMs?: number;
  /** The monotonic clock of the stall watch (performance.now by default). */
  monotonic?: () => number;
  /** Called when a kit asks for this node to be halted. */
  haltNode: (reason: string) => void;
  now?: () => number;
  /** Told of every failover and switchover that completes here (metrics). */
  events?: {
    failover(tag: string, fromSystem: string, toSystem: string, durationSeconds: number, reason: string): void;
    switchover(tag: string, fromSystem: string, toSystem: string, durationSeconds: number): void;
  };
}

export interface TimelineEntry {
  at: number;
  level: 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

type AdminEvent =
  | { type: 'adminInService'; tag: string }
  | { type: 'adminOutOfService'; tag: string; yieldReason?: string }
  | { type: 'adminAction'; tag: string; action: 'restore' | 'remove' }
  | { type: 'lockRequest'; tag: string; purpose: string };

export class HierarchyService {
  readonly engine: HierarchyEngine;
  readonly executor: HierarchyExecutor;
  readonly lcd: Lcd;
  readonly kits: KitRegistry;
  readonly local: string;
  /** Recent engine log lines with their times (kept for status output and tests). */
  readonly timeline: TimelineEntry[] = [];
  private transport: HierarchyTransport | undefined;
  private readonly waiting = new Map<string, (r: { ok: boolean; message: string }) => void>();
  private seq = 0;
  private unsubscribe: (() => void) | undefined;
  private reconfigPending = false;
  private readonly now: () => number;
  private readonly log: Log;
  /** Task-step handler (tasks.ts installs it; remote systems call it through HIER_TASK). */
  taskHandler: ((from: string, body: unknown) => Promise<unknown>) | undefined;

  constructor(private readonly opts: HierarchyServiceOptions) {
    this.lcd = opts.lcd;
    this.kits = opts.kits;
    this.local = opts.lcd.localSystem;
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
    this.engine = new HierarchyEngine({
      localSystem: this.local,
      kitFacts: (app) => {
        const k = opts.kits.get(app);
        return k ? kitFactsOf(k) : undefined;
      },
      checkIntervalMs: opts.checkIntervalMs,
      checkIntervalByApp: opts.checkIntervalByApp,
      recovery: opts.recovery,
      quorum: opts.quorum,
      quorumWaiting: opts.quorumWaiting,
      canFailoverNow: (tag) => {
        const i = this.instance(tag);
        const k = i ? opts.kits.get(i.app) : undefined;
        return k && i ? k.canFailoverNow(i) : { ok: true, reason: '' };
      },
    });
    this.executor = new HierarchyExecutor(this.engine, opts.kits, this.local, {
      // The engine's actions act on the configuration it decided with (no search and copy of
      // the LCD per action: hundreds of checks a second at 1,000 resources).
      instance: (tag) => {
        const cfg = this.engine.resourceConfig(tag);
        return cfg ? { tag: cfg.tag, id: cfg.id, app: cfg.app, info: { ...cfg.info } } : this.instance(tag);
      },
      send: async (to, msg) => {
        if (!this.transport) throw new Error('no cluster transport');
        await this.transport.request(to, HIER_MESSAGE, msg, 30_000);
      },
      persistState: (tag, state, reason) => this.persistState(tag, state, reason),
      adminDone: (request, ok, message) => {
        const w = this.waiting.get(request);
        if (w) {
          this.waiting.delete(request);
          w({ ok, message });
        }
      },
      haltNode: (reason) => opts.haltNode(reason),
      moved: (m) => {
        if (m.kind === 'failover') opts.events?.failover(m.key, m.from, m.to, m.durationMs / 1000, m.reason);
        else opts.events?.switchover(m.key, m.from, m.to, m.durationMs / 1000);
      },
      log: (level, msg, fields) => {
        // Routine check results (debug) are not events: they would push every change of state
        // out of the timeline within seconds at 1,000 resources.
        if (level !== 'debug') {
          this.timeline.push({ at: this.now(), level, msg, fields });
          if (this.timeline.length > 1200) this.timeline.splice(0, this.timeline.length - 1000);
        }
        this.log(level, msg, fields);
      },
      now: this.now,
      stall: opts.stallLimitMs === undefined ? undefined : { watch: new StallWatch(opts.stallLimitMs), monotonic: opts.monotonic ?? (() => performance.now()) },
    });
  }

  start(): void {
    this.executor.feed({ type: 'config', config: engineConfig(this.lcd) });
    // Resources recorded in service were left by an unclean stop: the engine cleans them up.
    const states: Record<string, ResourceState> = {};
    for (const i of this.lcd.instances({ system: this.local })) states[i.tag] = i.state;
    this.executor.apply(this.engine.loadStates(states, this.now()));
    this.unsubscribe = this.lcd.onChange((c) => {
      if (c.kind !== 'config' || c.what.startsWith('ins_setstate')) return;
      this.reconfigureSoon();
    });
    this.executor.start(this.opts.tickMs ?? 200);
  }

  /**
   * Takes every hierarchy that is in service here out of service (parents first), waiting at
   * most `limitMs`; used when the agent stops, so that nothing it protects keeps running
   * unwatched (like lkstop). Returns the hierarchies that did not finish in time or failed.
   * With `yieldReason` (quorum lost) the hierarchies are given up, not just taken out: the peers
   * that see it are told to take them over (hier-state takeOver).
   */
  async takeAllOutOfService(limitMs: number, yieldReason?: string): Promise<string[]> {
    const keys = new Set<string>();
    for (const i of this.lcd.instances({ system: this.local })) {
      const st = this.engine.state(i.tag);
      if (st === 'ISP' || st === 'ISU') keys.add(this.engine.hierarchyKey(i.tag) ?? i.tag);
    }
    if (keys.size === 0) return [];
    let timer: NodeJS.Timeout | undefined;
    const left = new Set(keys);
    const all = Promise.all(
      [...keys].map(async (key) => {
        const r = await this.admin({ type: 'adminOutOfService', tag: key, yieldReason });
        if (r.ok) left.delete(key);
        else this.log('error', `could not take ${key} out of service while stopping: ${r.message}`, { key });
      }),
    );
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, limitMs)))]);
    clearTimeout(timer);
    return [...left];
  }

  /**
   * Whether anything is in service here (ISP, ISU) or an operation runs or waits on a hierarchy
   * here (a restore may have started its service already; a remove has not ended it yet): what
   * the self-fence lease bounds (daemon/wire-watchdog.ts).
   */
  servesAnything(): boolean {
    for (const i of this.lcd.instances({ system: this.local })) {
      const st = this.engine.state(i.tag);
      if (st === 'ISP' || st === 'ISU' || this.engine.busy(i.tag)) return true;
    }
    return false;
  }

  stop(): void {
    this.unsubscribe?.();
    this.executor.stop();
    for (const w of this.waiting.values()) w({ ok: false, message: 'agent stopping' });
    this.waiting.clear();
  }

  setTransport(t: HierarchyTransport | undefined): void {
    this.transport = t;
  }

  hasTransport(): boolean {
    return this.transport !== undefined;
  }

  /** Sends a task step to another system (create/extend/unextend/delete parts). */
  async remote(system: string, body: unknown, timeoutMs = 120_000): Promise<unknown> {
    if (system === this.local) {
      if (!this.taskHandler) throw new Error('no task handler');
      return this.taskHandler(this.local, body);
    }
    if (!this.transport) throw new VigilError(0, `cannot reach system ${system}: the cluster layer is not running`);
    return this.transport.request(system, HIER_TASK, body, timeoutMs);
  }

  /** A TCP/TTY path to a member came up: the state sync both ways again (engine 'peerReachable'). */
  peerReachable(system: string): void {
    this.executor.feed({ type: 'peerReachable', system });
  }

  systemUp(system: string): void {
    this.executor.feed({ type: 'systemUp', system });
  }

  systemDown(system: string): void {
    this.executor.feed({ type: 'systemDown', system });
  }

  quorumChanged(): void {
    this.executor.feed({ type: 'quorumChanged' });
  }

  handlePeerMessage(from: string, msg: PeerMessage): void {
    this.executor.feed({ type: 'message', from, msg });
  }

  /** Applies LCD configuration changes to the engine (batched). */
  reconfigureSoon(): void {
    if (this.reconfigPending) return;
    this.reconfigPending = true;
    queueMicrotask(() => {
      this.reconfigPending = false;
      try {
        this.executor.feed({ type: 'config', config: engineConfig(this.lcd) });
      } catch (err) {
        this.log('error', 'hierarchy: configuration from the LCD was refused', { error: (err as Error).message });
      }
    });
  }

  /** Applies the LCD configuration now (tasks call this before acting on a new instance). */
  reconfigureNow(): void {
    this.executor.feed({ type: 'config', config: engineConfig(this.lcd) });
  }

  /**
   * Applies the LCD configuration now and waits until what it changed has settled: the states
   * the engine moves to at once (ISU -> ISP on extend, ISP -> ISU when the last equivalent goes)
   * are written to the LCD, so a command returning after this is seen by the next one.
   */
  async reconfigureSettled(): Promise<void> {
    this.reconfigureNow();
    await this.lcd.idle();
  }

  /** Runs an administrative engine operation and waits for its outcome. */
  admin(ev: AdminEvent): Promise<{ ok: boolean; message: string; request: string }> {
    const request = `${this.local}:${++this.seq}:${this.now()}`;
    return new Promise((resolve) => {
      // The engine records states without waiting (persistState); whoever asked for this
      // operation waits until those records are written, so the LCD shows its outcome.
      this.waiting.set(request, (r) => void this.lcd.idle().then(() => resolve({ ...r, request })));
      this.executor.feed({ ...ev, request } as EngineEvent);
    });
  }

  /** Takes the cluster-wide admin lock of the hierarchy of `tag`; throws with the holder named. */
  async lock(tag: string, purpose: string): Promise<string> {
    const r = await this.admin({ type: 'lockRequest', tag, purpose });
    if (!r.ok) throw new VigilError(0, r.message, { tag });
    return r.request;
  }

  unlock(request: string): void {
    this.executor.feed({ type: 'lockRelease', request, tag: '' });
  }

  instance(tag: string): ResourceInstance | undefined {
    const i = this.lcd.getInstance(tag);
    return i ? kitInstance(i) : undefined;
  }

  /** Runs one kit action directly (create/extend/... steps of tasks), with its time limit. */
  async runKit(inst: ResourceInstance, action: KitAction, instead?: (ctx: ActionContext) => Promise<ActionResult>): Promise<ActionResult> {
    const kit = this.kits.get(inst.app);
    if (!kit) return { ok: false, recoveryClass: 'fatal', reason: `no recovery kit named ${inst.app} on ${this.local} (kits: ${this.kits.apps().join(', ')})` };
    if (action === 'validate') return kit.validate(inst);
    const controller = new AbortController();
    const limit = actionTimeLimitMs(inst.info, action, kit.timeLimits[action]);
    const ctx: ActionContext = {
      system: this.local,
      signal: controller.signal,
      log: (level, msg, fields) => this.log(level, msg, { tag: inst.tag, action, ...fields }),
    };
    return runKitAction(kit, inst, { type: 'runAction', actionId: 0, tag: inst.tag, action, timeLimitMs: limit }, ctx, controller, instead && (() => instead(ctx)));
  }

  /** The create task's undo of `inst`'s create: the kit's undoCreate, else delete (with delete's time limit). */
  undoCreate(inst: ResourceInstance): Promise<ActionResult> {
    const kit = this.kits.get(inst.app);
    const undo = kit?.undoCreate?.bind(kit);
    return this.runKit(inst, 'delete', undo && ((ctx) => undo(inst, ctx)));
  }

  // Fire and forget: the engine never waits on the disk (a failover must go on while the disk
  // holding the LCD stalls). The LCD's queue keeps these writes in order and decides "changed?"
  // against the committed state when each one's turn comes; a write that fails is logged.
  private persistState(tag: string, state: ResourceState, reason: string): void {
    this.lcd.setInstanceState(tag, state, reason.slice(0, 4000), this.local, { ifChanged: true }).catch((err: unknown) => {
      this.log('error', `could not record state ${state} of ${tag} in the LCD`, { error: (err as Error).message });
    });
  }
}
