// WITNESS_MODE=remote_verify as an I/O-free state machine driven by step() and tick(). When the
// membership declares a system dead, the hierarchy engine is not told at once: first every
// other system still visible is asked whether it sees the suspect too (WITNESS_QUERY, an
// authenticated cluster request answered by witness-answer.ts). The death is confirmed when
// each asked system answered "not alive" or let the time limit pass without answering (a
// system that cannot answer cannot vouch for the suspect). One "still alive" answer vetoes the
// takeover: nothing is taken over while another system sees the suspect; the question is asked
// again every `retryMs` until all agree, or the suspect comes back.
//
// The systems of a cluster declare a death at different moments (each counts missed heartbeats
// on its own clock; up to a heartbeat interval apart, more on a loaded host), so the first to
// declare it is usually vetoed by one that has not yet. A vetoer asks the same question itself
// the moment it declares the death (`peer-suspects`): once every system that vetoed a round has
// asked, the question is asked again at once instead of `retryMs` later. The new round's answers
// still decide; this only spares waiting for a retry whose answer is already known.

export interface WitnessConfig {
  /** Time limit of one round of questions (QUORUM_TIMEOUT_SECS). */
  timeLimitMs: number;
  /** After a veto, the next round starts this much later. */
  retryMs: number;
}

export type WitnessEvent =
  /** The membership declared `system` dead; `visible` are the other systems seen alive now. */
  | { type: 'suspect'; system: string; visible: readonly string[]; nowMs: number }
  /** `from` answered whether it sees `system` alive. */
  | { type: 'answer'; system: string; from: string; round: number; seesAlive: boolean; nowMs: number }
  /** The question to `from` failed (unreachable, timed out, refused). */
  | { type: 'no-answer'; system: string; from: string; round: number; nowMs: number }
  /** `from` asked this system about `system` (its own membership declared it dead). */
  | { type: 'peer-suspects'; system: string; from: string; nowMs: number }
  /** The suspect is alive again (or left the cluster): forget it. */
  | { type: 'cleared'; system: string; nowMs: number };

export type WitnessOutput =
  | { type: 'ask'; to: string; system: string; round: number }
  | { type: 'confirmed-dead'; system: string; asked: string[] }
  | { type: 'vetoed'; system: string; by: string[] }
  /** Asked again before retryMs: every system that vetoed (`by`) has declared the death itself since. */
  | { type: 'vetoes-withdrawn'; system: string; by: string[] };

interface Suspect {
  round: number;
  visible: string[];
  pending: Set<string>;
  seesAlive: string[];
  /** Systems that asked about the suspect themselves since this round started. */
  suspectedBy: Set<string>;
  deadlineMs: number;
  /** While vetoed: when to ask again. */
  retryAtMs: number | undefined;
}

export class WitnessVerifier {
  private readonly suspects = new Map<string, Suspect>();
  private rounds = 0;

  constructor(readonly config: WitnessConfig) {}

  step(ev: WitnessEvent): WitnessOutput[] {
    const out: WitnessOutput[] = [];
    switch (ev.type) {
      case 'suspect': {
        const visible = ev.visible.filter((s) => s !== ev.system);
        const s: Suspect = { round: 0, visible, pending: new Set(), seesAlive: [], suspectedBy: new Set(), deadlineMs: 0, retryAtMs: undefined };
        this.suspects.set(ev.system, s);
        this.ask(ev.system, s, ev.nowMs, out);
        break;
      }
      case 'answer':
      case 'no-answer': {
        const s = this.suspects.get(ev.system);
        if (!s || s.round !== ev.round || !s.pending.delete(ev.from)) break;
        if (ev.type === 'answer' && ev.seesAlive) s.seesAlive.push(ev.from);
        if (s.pending.size === 0) this.conclude(ev.system, s, ev.nowMs, out);
        break;
      }
      case 'peer-suspects': {
        const s = this.suspects.get(ev.system);
        if (!s) break;
        s.suspectedBy.add(ev.from);
        if (s.retryAtMs !== undefined && this.vetoesWithdrawn(s)) this.askAgain(ev.system, s, ev.nowMs, out);
        break;
      }
      case 'cleared':
        this.suspects.delete(ev.system);
        break;
    }
    return out;
  }

  tick(nowMs: number): WitnessOutput[] {
    const out: WitnessOutput[] = [];
    for (const [system, s] of [...this.suspects]) {
      if (s.retryAtMs !== undefined) {
        if (nowMs >= s.retryAtMs) this.ask(system, s, nowMs, out);
      } else if (nowMs >= s.deadlineMs) {
        s.pending.clear();
        this.conclude(system, s, nowMs, out);
      }
    }
    return out;
  }

  /** Systems whose death is being verified (for status and tests). */
  pending(): string[] {
    return [...this.suspects.keys()].sort();
  }

  /** A system now seen dead, or now seen alive again, changes who can be asked. */
  setVisible(system: string, visible: readonly string[]): void {
    const s = this.suspects.get(system);
    if (s) s.visible = visible.filter((v) => v !== system);
  }

  private ask(system: string, s: Suspect, nowMs: number, out: WitnessOutput[]): void {
    s.round = ++this.rounds;
    s.pending = new Set(s.visible);
    s.seesAlive = [];
    s.suspectedBy = new Set();
    s.deadlineMs = nowMs + this.config.timeLimitMs;
    s.retryAtMs = undefined;
    if (s.pending.size === 0) {
      // Nobody else to ask (a two-system cluster, or every other system gone too).
      this.conclude(system, s, nowMs, out);
      return;
    }
    for (const to of [...s.pending].sort()) out.push({ type: 'ask', to, system, round: s.round });
  }

  /** Every system that vetoed the last round has asked about the suspect itself since. */
  private vetoesWithdrawn(s: Suspect): boolean {
    return s.seesAlive.every((v) => s.suspectedBy.has(v));
  }

  private askAgain(system: string, s: Suspect, nowMs: number, out: WitnessOutput[]): void {
    out.push({ type: 'vetoes-withdrawn', system, by: [...s.seesAlive].sort() });
    this.ask(system, s, nowMs, out);
  }

  private conclude(system: string, s: Suspect, nowMs: number, out: WitnessOutput[]): void {
    if (s.seesAlive.length) {
      s.retryAtMs = nowMs + this.config.retryMs;
      out.push({ type: 'vetoed', system, by: [...s.seesAlive].sort() });
      // Each vetoer already declared the death itself while the round ran (answered before).
      if (this.vetoesWithdrawn(s)) this.askAgain(system, s, nowMs, out);
      return;
    }
    this.suspects.delete(system);
    out.push({ type: 'confirmed-dead', system, asked: [...s.visible].sort() });
  }
}
