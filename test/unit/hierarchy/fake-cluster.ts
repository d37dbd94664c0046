// A deterministic fake cluster for engine tests: several HierarchyEngines joined by an in-memory
// network, a fake clock, and kit actions answered by a programmable responder. Each kit action
// takes `actionMs` of fake time (messages arrive at once): settling the cluster moves the clock
// to each answer in turn, ticking every live engine on the way, so failovers and switchovers
// take measurable time.

import type { ActionResult, KitAction } from '../../../src/kits/kit.js';
import { DEFAULT_TIME_LIMITS } from '../../../src/kits/kit.js';
import { HierarchyEngine, type EngineCommand, type EngineEvent, type EngineOptions, type HierarchyConfig, type KitFacts } from '../../../src/hierarchy/engine.js';

export interface ActionRecord {
  system: string;
  tag: string;
  action: KitAction;
  at: number;
  actionId: number;
  timeLimitMs: number;
}

/** Answer for one action: a result, or 'hang' to never answer. */
export type Responder = (system: string, tag: string, action: KitAction) => ActionResult | 'hang';

export const OK: ActionResult = { ok: true, recoveryClass: 'none', reason: '' };

/** How long a kit action takes on the fake clock unless a test says otherwise. */
export const ACTION_MS = 100;

export class FakeCluster {
  now = 1_000;
  readonly engines = new Map<string, HierarchyEngine>();
  readonly down = new Set<string>();
  readonly actions: ActionRecord[] = [];
  readonly admin: Array<{ system: string; request: string; ok: boolean; message: string }> = [];
  readonly cancelled: Array<{ system: string; actionId: number; reason: string }> = [];
  readonly halts: string[] = [];
  readonly moved: Array<{ system: string; kind: string; key: string; from: string; to: string; durationMs: number; reason: string }> = [];
  readonly logs: string[] = [];
  responder: Responder = () => OK;
  /** Links cut by partition(): 'A|B' both ways. */
  readonly cut = new Set<string>();
  /** Systems whose messaging refuses messages (alive but still starting). */
  readonly notReady = new Set<string>();
  quorum = true;
  /**
   * Per-system quorum gate, when a test needs one: open, closed only for a while (a hold,
   * quarantine), or closed for a lost quorum. Unset: `quorum` for every system.
   */
  gateOf: ((system: string) => 'open' | 'waiting' | 'lost') | undefined;
  /** How long each kit action takes on the fake clock. */
  actionMs: (system: string, tag: string, action: KitAction) => number = () => ACTION_MS;
  private queue: Array<{ system: string; ev: EngineEvent }> = [];
  private readonly options = new Map<string, EngineOptions>();
  /** Action results not yet due, in the order they fall due. */
  private later: Array<{ at: number; system: string; ev: EngineEvent }> = [];

  constructor(
    systems: string[],
    config: (system: string) => HierarchyConfig,
    opts: Partial<EngineOptions> & { facts?: Record<string, KitFacts> } = {},
  ) {
    const defaultFacts: KitFacts = { timeLimits: { ...DEFAULT_TIME_LIMITS }, supportsRecover: true, maxCheckDepth: 10 };
    for (const s of systems) {
      const engineOpts: EngineOptions = {
        localSystem: s,
        checkIntervalMs: 5_000,
        kitFacts: (app) => opts.facts?.[app] ?? defaultFacts,
        quorum: () => this.gate(s) === 'open',
        quorumWaiting: () => this.gate(s) === 'waiting',
        ...opts,
      };
      this.options.set(s, engineOpts);
      const e = new HierarchyEngine(engineOpts);
      this.engines.set(s, e);
      this.handle(s, e.step({ type: 'config', config: config(s) }, this.now));
    }
    for (const s of systems) for (const t of systems) if (s !== t) this.queue.push({ system: s, ev: { type: 'systemUp', system: t } });
    this.run();
  }

  private gate(s: string): 'open' | 'waiting' | 'lost' {
    return this.gateOf ? this.gateOf(s) : this.quorum ? 'open' : 'lost';
  }

  engine(s: string): HierarchyEngine {
    return this.engines.get(s)!;
  }

  step(system: string, ev: EngineEvent): void {
    this.queue.push({ system, ev });
    this.run();
  }

  /** Advances the fake clock by `ms` in steps, ticking every live engine at each step. */
  advance(ms: number, stepMs = 500): void {
    const end = this.now + ms;
    while (this.now < end) {
      const to = Math.min(end, this.now + stepMs);
      this.run(to);
      this.clockTo(to);
      this.run(to);
    }
  }

  /** Moves the clock forward and ticks every live engine. */
  private clockTo(t: number): void {
    if (t <= this.now) return;
    this.now = t;
    for (const [s, e] of this.engines) if (!this.down.has(s)) this.handle(s, e.tick(this.now));
  }

  kill(system: string): void {
    this.down.add(system);
    for (const s of this.engines.keys()) if (!this.down.has(s)) this.queue.push({ system: s, ev: { type: 'systemDown', system } });
    this.run();
  }

  /** Feeds the states recorded in an LCD to a (starting) engine. */
  load(system: string, states: Record<string, 'ISP' | 'ISU' | 'OSU' | 'OSF'>): void {
    this.handle(system, this.engine(system).loadStates(states, this.now));
    this.run();
  }

  /** Cuts every link between `a` and the others: each side declares the other dead. */
  partition(a: string): void {
    for (const s of this.engines.keys()) {
      if (s === a) continue;
      this.cut.add(`${a}|${s}`).add(`${s}|${a}`);
      this.queue.push({ system: s, ev: { type: 'systemDown', system: a } });
      this.queue.push({ system: a, ev: { type: 'systemDown', system: s } });
    }
    this.run();
  }

  heal(a: string): void {
    for (const s of this.engines.keys()) {
      if (s === a) continue;
      this.cut.delete(`${a}|${s}`);
      this.cut.delete(`${s}|${a}`);
      this.queue.push({ system: s, ev: { type: 'systemUp', system: a } });
      this.queue.push({ system: a, ev: { type: 'systemUp', system: s } });
    }
    this.run();
  }

  /**
   * The system comes back with a fresh engine state, like a reboot: resources OSU, or the states
   * its LCD recorded (`recorded`), loaded before it hears of any peer, as vigild does.
   */
  revive(system: string, config: HierarchyConfig, recorded?: Record<string, 'ISP' | 'ISU' | 'OSU' | 'OSF'>): void {
    this.down.delete(system);
    const e = new HierarchyEngine(this.options.get(system)!);
    this.engines.set(system, e);
    this.handle(system, e.step({ type: 'config', config }, this.now));
    if (recorded) this.handle(system, e.loadStates(recorded, this.now));
    for (const s of this.engines.keys()) {
      if (s === system || this.down.has(s)) continue;
      this.queue.push({ system, ev: { type: 'systemUp', system: s } });
      this.queue.push({ system: s, ev: { type: 'systemUp', system } });
    }
    this.run();
  }

  /**
   * Delivers everything queued, then each action result as it falls due (moving the clock to it
   * and ticking the engines), up to `until`: by default until nothing is left but hung actions.
   */
  run(until = Number.POSITIVE_INFINITY): void {
    let guard = 0;
    for (;;) {
      while (this.queue.length) {
        if (++guard > 10_000) throw new Error('fake cluster did not settle');
        const { system, ev } = this.queue.shift()!;
        if (this.down.has(system)) continue;
        this.handle(system, this.engines.get(system)!.step(ev, this.now));
      }
      const next = this.later[0];
      if (!next || next.at > until) return;
      this.later.shift();
      this.clockTo(next.at);
      this.queue.push({ system: next.system, ev: next.ev });
    }
  }

  private handle(system: string, cmds: EngineCommand[]): void {
    for (const c of cmds) {
      switch (c.type) {
        case 'runAction': {
          this.actions.push({ system, tag: c.tag, action: c.action, at: this.now, actionId: c.actionId, timeLimitMs: c.timeLimitMs });
          const r = this.responder(system, c.tag, c.action);
          if (r !== 'hang') this.answerAt(this.now + this.actionMs(system, c.tag, c.action), system, { type: 'actionResult', actionId: c.actionId, result: r });
          break;
        }
        case 'send':
          if (this.down.has(c.to) || this.cut.has(`${system}|${c.to}`) || this.notReady.has(c.to)) this.queue.push({ system, ev: { type: 'sendFailed', to: c.to, msg: c.msg } });
          else this.queue.push({ system: c.to, ev: { type: 'message', from: system, msg: c.msg } });
          break;
        case 'adminDone':
          this.admin.push({ system, request: c.request, ok: c.ok, message: c.message });
          break;
        case 'cancelAction':
          this.cancelled.push({ system, actionId: c.actionId, reason: c.reason });
          break;
        case 'haltNode':
          this.halts.push(`${system}: ${c.reason}`);
          break;
        case 'log':
          this.logs.push(`${system} ${c.level} ${c.msg}`);
          break;
        case 'moved':
          this.moved.push({ system, kind: c.kind, key: c.key, from: c.from, to: c.to, durationMs: c.durationMs, reason: c.reason });
          break;
        case 'persistState':
          break;
      }
    }
  }

  private answerAt(at: number, system: string, ev: EngineEvent): void {
    if (at <= this.now) {
      this.queue.push({ system, ev });
      return;
    }
    // Stable: answers due at the same time arrive in the order the actions began.
    const i = this.later.findIndex((l) => l.at > at);
    this.later.splice(i < 0 ? this.later.length : i, 0, { at, system, ev });
  }

  /** Actions of one kind on one system, in order. */
  ran(system: string, action: KitAction): string[] {
    return this.actions.filter((a) => a.system === system && a.action === action).map((a) => a.tag);
  }

  states(system: string, tags: string[]): string[] {
    return tags.map((t) => this.engine(system).state(t) ?? '-');
  }
}

/** app over fs hierarchy on every system, with the given priorities per system. */
export function appOverFs(prios: Record<string, number>, switchback: 'automatic' | 'intelligent' = 'intelligent'): (s: string) => HierarchyConfig {
  return (s) => {
    const equivalents = Object.entries(prios).filter(([o]) => o !== s).map(([system, priority]) => ({ system, priority }));
    const mk = (tag: string, app: string) => ({ tag, id: tag, app, switchback, priority: prios[s]!, equivalents, info: {} });
    return { resources: [mk('app', 'gen/app'), mk('fs', 'gen/filesys')], dependencies: [{ parent: 'app', child: 'fs' }] };
  };
}
