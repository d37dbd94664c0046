// Who is alive, as an I/O-free state machine. It is fed what the paths observed (an authenticated
// frame arrived on path P from system S) and the passage of time, and answers with state changes.
// A path is DEAD after `missedHeartbeats` heartbeat intervals of silence; a system is DEAD only
// when every path to it is DEAD; losing some of its paths is a warning, never a failover.
// A path that has never carried a frame is UNKNOWN, not DEAD (its peer may not be started yet:
// a 32-node cluster takes a while to form); after `neverConnectedGraceMs` it is reported once
// with a warning, and it stays UNKNOWN until it connects. A system never heard from is never
// declared dead: nothing of it was known to run.

export type LinkState = 'ALIVE' | 'DEAD' | 'UNKNOWN';

export interface MembershipConfig {
  /** LCMHBEATTIME, in milliseconds. */
  heartbeatIntervalMs: number;
  /** LCMNUMHBEATS. */
  missedHeartbeats: number;
  /** How long a path may stay unconnected before a warning (default: interval x misses). */
  neverConnectedGraceMs?: number;
}

export type MembershipEvent =
  | { type: 'path-added'; pathId: string; system: string; nowMs: number }
  | { type: 'path-removed'; pathId: string; nowMs: number }
  | { type: 'heartbeat'; pathId: string; system: string; epoch: bigint; nowMs: number };

export type MembershipOutput =
  | { type: 'path-up'; pathId: string; system: string }
  | { type: 'path-down'; pathId: string; system: string; remaining: number }
  | { type: 'system-alive'; system: string }
  | { type: 'system-dead'; system: string }
  | { type: 'system-restarted'; system: string }
  | { type: 'warning'; system: string; pathId: string; remaining: number; message: string };

interface PathEntry {
  system: string;
  state: LinkState;
  /** Last time a frame was heard on this path, or when the path was added. */
  lastHeardMs: number;
  heardEver: boolean;
  /** When the path was added (the grace of a path never heard from runs from here). */
  addedMs: number;
  warnedUnconnected: boolean;
}

interface SystemEntry {
  state: LinkState;
  epoch: bigint | undefined;
  paths: Set<string>;
}

export class Membership {
  private readonly paths = new Map<string, PathEntry>();
  private readonly systems = new Map<string, SystemEntry>();
  private readonly deadAfterMs: number;
  private readonly graceMs: number;

  constructor(readonly config: MembershipConfig) {
    if (!(config.heartbeatIntervalMs > 0) || !Number.isInteger(config.missedHeartbeats) || config.missedHeartbeats < 1) {
      throw new RangeError('heartbeat interval must be > 0 and missed heartbeats an integer >= 1');
    }
    this.deadAfterMs = config.heartbeatIntervalMs * config.missedHeartbeats;
    this.graceMs = config.neverConnectedGraceMs ?? this.deadAfterMs;
  }

  step(ev: MembershipEvent): MembershipOutput[] {
    const out: MembershipOutput[] = [];
    switch (ev.type) {
      case 'path-added': {
        if (this.paths.has(ev.pathId)) return out;
        this.paths.set(ev.pathId, { system: ev.system, state: 'UNKNOWN', lastHeardMs: ev.nowMs, heardEver: false, addedMs: ev.nowMs, warnedUnconnected: false });
        const sys = this.systemEntry(ev.system);
        sys.paths.add(ev.pathId);
        return out;
      }
      case 'path-removed': {
        const p = this.paths.get(ev.pathId);
        if (!p) return out;
        this.paths.delete(ev.pathId);
        const sys = this.systems.get(p.system)!;
        sys.paths.delete(ev.pathId);
        if (sys.paths.size === 0) {
          this.systems.delete(p.system);
          return out;
        }
        if (p.state === 'ALIVE') {
          this.pathWentDown(ev.pathId, p, out);
        } else if (sys.state !== 'DEAD' && this.alivePathsTo(p.system).length === 0 && [...sys.paths].every((id) => this.paths.get(id)!.state === 'DEAD')) {
          // The removed path was the last one still undecided: the others are all dead.
          sys.state = 'DEAD';
          out.push({ type: 'system-dead', system: p.system });
        }
        return out;
      }
      case 'heartbeat': {
        const p = this.paths.get(ev.pathId);
        if (!p || p.system !== ev.system) return out;
        // Delayed or reordered deliveries never move the clock of a path backwards.
        p.lastHeardMs = Math.max(p.lastHeardMs, ev.nowMs);
        p.heardEver = true;
        const sys = this.systems.get(ev.system)!;
        if (sys.epoch !== undefined && sys.epoch !== ev.epoch && sys.state === 'ALIVE') {
          out.push({ type: 'system-restarted', system: ev.system });
        }
        sys.epoch = ev.epoch;
        if (p.state !== 'ALIVE') {
          p.state = 'ALIVE';
          out.push({ type: 'path-up', pathId: ev.pathId, system: ev.system });
          if (sys.state !== 'ALIVE') {
            sys.state = 'ALIVE';
            out.push({ type: 'system-alive', system: ev.system });
          }
        }
        return out;
      }
    }
  }

  /** Declares paths whose silence exceeded the limit dead, then systems with no path left. */
  /**
   * When tick() next can find something: the earliest moment a path's silence passes the limit
   * (or a never-connected path's grace ends). Undefined: no such moment (every path dead).
   * A heartbeat only moves it later, so a caller that arms a timer for it re-asks after each step.
   */
  nextDueMs(): number | undefined {
    let due: number | undefined;
    for (const p of this.paths.values()) {
      const at = !p.heardEver ? (p.warnedUnconnected ? undefined : p.addedMs + this.graceMs) : p.state !== 'DEAD' ? p.lastHeardMs + this.deadAfterMs : undefined;
      if (at !== undefined && (due === undefined || at < due)) due = at;
    }
    return due;
  }

  tick(nowMs: number): MembershipOutput[] {
    const out: MembershipOutput[] = [];
    for (const [id, p] of this.paths) {
      if (!p.heardEver) {
        if (!p.warnedUnconnected && nowMs - p.addedMs > this.graceMs) {
          p.warnedUnconnected = true;
          const seconds = Math.round((nowMs - p.addedMs) / 100) / 10;
          const remaining = this.alivePathsTo(p.system).length;
          out.push({ type: 'warning', system: p.system, pathId: id, remaining, message: `comm path ${id} to system ${p.system} has not connected in ${seconds} s` });
        }
        continue;
      }
      if (p.state !== 'DEAD' && nowMs - p.lastHeardMs > this.deadAfterMs) this.pathWentDown(id, p, out);
    }
    return out;
  }

  pathState(pathId: string): LinkState | undefined {
    return this.paths.get(pathId)?.state;
  }

  systemState(system: string): LinkState | undefined {
    return this.systems.get(system)?.state;
  }

  /** Milliseconds since the path last heard its peer (or since it was added). */
  silenceMs(pathId: string, nowMs: number): number | undefined {
    const p = this.paths.get(pathId);
    return p ? nowMs - p.lastHeardMs : undefined;
  }

  /** Milliseconds since any path to `system` last heard it (undefined: never heard on any path). */
  freshestSilenceMs(system: string, nowMs: number): number | undefined {
    const sys = this.systems.get(system);
    if (!sys) return undefined;
    let best: number | undefined;
    for (const id of sys.paths) {
      const p = this.paths.get(id)!;
      if (p.heardEver) best = Math.min(best ?? Infinity, nowMs - p.lastHeardMs);
    }
    return best;
  }

  alivePathsTo(system: string): string[] {
    const sys = this.systems.get(system);
    if (!sys) return [];
    return [...sys.paths].filter((id) => this.paths.get(id)!.state === 'ALIVE');
  }

  systemNames(): string[] {
    return [...this.systems.keys()];
  }

  private systemEntry(name: string): SystemEntry {
    let s = this.systems.get(name);
    if (!s) {
      s = { state: 'UNKNOWN', epoch: undefined, paths: new Set() };
      this.systems.set(name, s);
    }
    return s;
  }

  private pathWentDown(id: string, p: PathEntry, out: MembershipOutput[]): void {
    const wasAlive = p.state === 'ALIVE';
    p.state = 'DEAD';
    const sys = this.systems.get(p.system)!;
    const remaining = this.alivePathsTo(p.system).length;
    out.push({ type: 'path-down', pathId: id, system: p.system, remaining });
    if (remaining > 0) {
      if (wasAlive) {
        out.push({
          type: 'warning', system: p.system, pathId: id, remaining,
          message: `system ${p.system} lost comm path ${id}, ${remaining} ${remaining === 1 ? 'path remains' : 'paths remain'}`,
        });
      }
      return;
    }
    // With no path alive, a system that was alive is dead now; one never heard from yet is dead
    // once none of its paths is still waiting for its first word (the start-up grace).
    const undecided = [...sys.paths].some((pid) => this.paths.get(pid)!.state === 'UNKNOWN');
    if (sys.state === 'ALIVE' || (sys.state === 'UNKNOWN' && !undecided)) {
      sys.state = 'DEAD';
      out.push({ type: 'system-dead', system: p.system });
    }
  }
}
