// The quorum gate, as an I/O-free state machine driven by step() and tick(): may this system
// bring anything in service now? It is fed the membership (which systems are seen alive) and
// the answers of the witness probe service, and answers with what to do: start a probe round,
// quorum lost (the loss action runs), the gate opened or closed.
//
// The gate is open when all of these hold:
// - the verdict (votes.ts) says quorum, computed from facts fresh enough: after a system was
//   lost, only witness answers from a probe round started after the loss count (until then the
//   verdict is undecided and the gate closed);
// - quarantine has passed: QUORUM_QUARANTINE_SECS after start, and after quorum came back
//   following a loss (then the survivor hold below applies too: the membership needs that long
//   to find the systems this side lost sight of, which may run what it would take over);
// - the survivor hold has passed: when a system disappears, it may be the losing side of a
//   partition that has not yet noticed. It notices within one probe period plus
//   QUORUM_TIMEOUT_SECS of the cut (a fresh probe round, bounded by that limit), then needs
//   `lossActionMs` to stop serving (0 for fastkill/fastboot); two heartbeat intervals cover the
//   difference between the sides' detection times. Only then may this side take anything over.
// Quorum lost (a decided "yes" becoming a decided "no") is reported once per loss; never
// having had quorum (start alone), or not having it after the set of systems changed (a system
// added), is not a loss.
import { countVotes, type QuorumMode, type Verdict } from './votes.js';

export interface QuorumGateConfig {
  mode: QuorumMode;
  local: string;
  /** Witness host labels (QUORUM_HOSTS). */
  hosts: readonly string[];
  /** QUORUM_TIMEOUT_SECS in ms: a probe of one host answers (or fails) within it. */
  probeTimeoutMs: number;
  /** Time between two probe rounds. */
  probePeriodMs: number;
  /** QUORUM_QUARANTINE_SECS in ms. */
  quarantineMs: number;
  /** Time a losing system takes to stop serving once it decided (QUORUM_LOSS_ACTION). */
  lossActionMs: number;
  /** LCMHBEATTIME in ms (the two sides may detect a cut up to about two of these apart). */
  heartbeatMs: number;
}

export type QuorumGateEvent =
  | { type: 'membership'; systems: readonly string[]; alive: readonly string[]; nowMs: number }
  | { type: 'probe-result'; host: string; reachable: boolean; roundStartMs: number; nowMs: number };

export type QuorumGateOutput =
  /** Start a probe round now; report each host's answer with this roundStartMs. */
  | { type: 'probe'; roundStartMs: number }
  | { type: 'verdict'; verdict: Verdict | undefined }
  | { type: 'quorum-lost'; verdict: Verdict }
  | { type: 'gate'; open: boolean; reason: string };

export interface QuorumGateStatus {
  mode: QuorumMode;
  /** undefined: undecided (waiting for a fresh probe round). */
  quorum: boolean | undefined;
  votes: number;
  total: number;
  reason: string;
  open: boolean;
  /** Why the gate is closed ('' when open). */
  closedReason: string;
  holdUntilMs: number;
  quarantineUntilMs: number;
  /** Each witness host with its latest answer (undefined before the first). */
  witnesses: Array<{ host: string; reachable: boolean | undefined }>;
}

export class QuorumGate {
  private systems: string[] = [];
  private alive = new Set<string>();
  private readonly results = new Map<string, { reachable: boolean; roundStartMs: number }>();
  /** Witness answers from rounds started before this do not count. */
  private freshSinceMs: number;
  private lastRoundMs = -Infinity;
  private verdict: Verdict | undefined;
  private hadQuorum = false;
  private lostSinceRegain = false;
  private holdUntilMs = 0;
  private quarantineUntilMs: number;
  private open = false;
  /** Why the gate is closed ('' when open). */
  private closedReason = 'starting';

  constructor(
    readonly config: QuorumGateConfig,
    startMs: number,
  ) {
    if (config.mode === 'tcp_remote' && config.hosts.length === 0) throw new RangeError('tcp_remote quorum needs at least one quorum host');
    this.freshSinceMs = startMs;
    this.quarantineUntilMs = startMs + config.quarantineMs;
  }

  /** Whether witness hosts take part in the verdict. */
  private get usesHosts(): boolean {
    return this.config.mode !== 'none' && this.config.hosts.length > 0;
  }

  /** Whether this mode can ever lose quorum (and so a peer of ours can be a loser to wait for). */
  private get canLose(): boolean {
    const { mode, hosts } = this.config;
    if (mode === 'none') return false;
    if (mode === 'majority' && hosts.length === 0) return new Set([...this.systems, this.config.local]).size > 2;
    return true;
  }

  /** How long a survivor waits after losing sight of a system before taking anything over. */
  survivorHoldMs(): number {
    if (!this.canLose) return 0;
    const c = this.config;
    return (this.usesHosts ? c.probePeriodMs + c.probeTimeoutMs : 0) + c.lossActionMs + 2 * c.heartbeatMs;
  }

  step(ev: QuorumGateEvent): QuorumGateOutput[] {
    const out: QuorumGateOutput[] = [];
    switch (ev.type) {
      case 'membership': {
        const nextAlive = new Set(ev.alive.filter((s) => s !== this.config.local));
        const lost = [...this.alive].some((s) => !nextAlive.has(s));
        const sameSystems = ev.systems.length === this.systems.length && ev.systems.every((s) => this.systems.includes(s));
        // A changed configuration (a system added or removed) is a new count, not a partition:
        // quorum it does not have yet is not a loss.
        if (!sameSystems) this.hadQuorum = false;
        this.systems = [...ev.systems];
        this.alive = nextAlive;
        if (lost) {
          this.holdUntilMs = Math.max(this.holdUntilMs, ev.nowMs + this.survivorHoldMs());
          if (this.usesHosts) {
            // Witness answers from before the loss may describe a network that no longer exists.
            this.freshSinceMs = ev.nowMs;
            this.startRound(ev.nowMs, out);
          }
        }
        break;
      }
      case 'probe-result': {
        if (!this.config.hosts.includes(ev.host)) break;
        const prev = this.results.get(ev.host);
        if (!prev || prev.roundStartMs <= ev.roundStartMs) this.results.set(ev.host, { reachable: ev.reachable, roundStartMs: ev.roundStartMs });
        break;
      }
    }
    this.evaluate(ev.nowMs, out);
    return out;
  }

  tick(nowMs: number): QuorumGateOutput[] {
    const out: QuorumGateOutput[] = [];
    if (this.usesHosts && nowMs - this.lastRoundMs >= this.config.probePeriodMs) this.startRound(nowMs, out);
    this.evaluate(nowMs, out);
    return out;
  }

  isOpen(): boolean {
    return this.open;
  }

  status(): QuorumGateStatus {
    return {
      mode: this.config.mode,
      quorum: this.verdict?.quorum,
      votes: this.verdict?.votes ?? 0,
      total: this.verdict?.total ?? 0,
      reason: this.verdict?.reason ?? 'undecided: waiting for a probe round of the quorum hosts',
      open: this.open,
      closedReason: this.closedReason,
      holdUntilMs: this.holdUntilMs,
      quarantineUntilMs: this.quarantineUntilMs,
      witnesses: this.config.hosts.map((host) => ({ host, reachable: this.results.get(host)?.reachable })),
    };
  }

  private startRound(nowMs: number, out: QuorumGateOutput[]): void {
    this.lastRoundMs = nowMs;
    out.push({ type: 'probe', roundStartMs: nowMs });
  }

  /** The verdict from fresh facts, or undefined while a host has no fresh answer yet. */
  private currentVerdict(): Verdict | undefined {
    const reachable = new Set<string>();
    if (this.usesHosts) {
      for (const h of this.config.hosts) {
        const r = this.results.get(h);
        if (!r || r.roundStartMs < this.freshSinceMs) return undefined;
        if (r.reachable) reachable.add(h);
      }
    }
    return countVotes({ mode: this.config.mode, local: this.config.local, systems: this.systems, alive: this.alive, hosts: this.config.hosts, reachable });
  }

  private evaluate(nowMs: number, out: QuorumGateOutput[]): void {
    const v = this.currentVerdict();
    const before = this.verdict;
    if (v?.quorum !== before?.quorum || v?.votes !== before?.votes || v?.total !== before?.total) out.push({ type: 'verdict', verdict: v });
    this.verdict = v;
    if (v?.quorum === true) {
      if (this.lostSinceRegain) {
        // Back from a loss: quorum must hold for the quarantine before anything comes in
        // service, and the membership gets the survivor hold to find the systems this side
        // lost sight of while cut off: a failover it withheld then may concern a hierarchy
        // that the other side has taken over and still runs.
        this.lostSinceRegain = false;
        this.quarantineUntilMs = Math.max(this.quarantineUntilMs, nowMs + this.config.quarantineMs);
        this.holdUntilMs = Math.max(this.holdUntilMs, nowMs + this.survivorHoldMs());
      }
      this.hadQuorum = true;
    } else if (v?.quorum === false && this.hadQuorum) {
      this.hadQuorum = false;
      this.lostSinceRegain = true;
      out.push({ type: 'quorum-lost', verdict: v });
    }
    let reason = '';
    if (!v) reason = 'waiting for a fresh probe round of the quorum hosts';
    else if (!v.quorum) reason = `no quorum (${v.reason})`;
    else if (nowMs < this.quarantineUntilMs) reason = `quarantine until ${Math.ceil((this.quarantineUntilMs - nowMs) / 1000)} s from now`;
    else if (nowMs < this.holdUntilMs) reason = `giving a lost system ${Math.ceil((this.holdUntilMs - nowMs) / 1000)} s more to notice its loss of quorum`;
    const open = reason === '';
    if (open !== this.open) out.push({ type: 'gate', open, reason: open ? `quorum: ${v!.reason}` : reason });
    this.open = open;
    this.closedReason = reason;
  }
}
