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
//   With a watchdog (WATCHDOG_DEVICE) the hold is never shorter than selfFenceHoldMs, in every
//   mode: the lost system's self-fence lease plus its watchdog timeout, by when its kernel has
//   reset it even if its event loop never ran again (self-fence-lease.ts has the arithmetic).
// With QUORUM_MODE=storage (storage-watch.ts) the verdict is this system's own record on the
// quorum disk (written recently, key still registered), and the survivor hold is per system:
// a system not seen alive keeps the gate closed until this side evicted its key from the LUN
// (the 'evict' output; the first of two systems evicting each other wins, the other is fenced
// and loses quorum) and its record stood still for N x T plus the loss action allowance. A system
// lost from the membership is evicted at once; one never seen alive since start only once its
// record stood still for N x T (a starting system does not fence a peer that merely has not
// connected yet).
// Quorum lost (a decided "yes" becoming a decided "no") is reported once per loss; never
// having had quorum (start alone), or not having it after the set of systems changed (a system
// added), is not a loss.
import { quorumEvidenceAtMs } from './quorum-evidence.js';
import { type StorageTiming, staleMs, storageVerdict } from './storage-watch.js';
import { countVotes, type QuorumMode, type Verdict } from './votes.js';

/** Time between two probe rounds of the witness hosts: one per heartbeat interval, at most one per second and at least one per time limit. */
export function probePeriodMs(heartbeatMs: number, probeTimeoutMs: number): number {
  return Math.min(Math.max(heartbeatMs, 1000), probeTimeoutMs);
}

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
  /** QUORUM_MODE=storage: QWK_STORAGE_HBEATTIME and QWK_STORAGE_NUMHBEATS. */
  storage?: StorageTiming;
  /**
   * With a watchdog (WATCHDOG_DEVICE): how long a lost system may go on serving before its
   * watchdog resets it (self-fence-lease.ts selfFenceTiming holdMs). The survivor hold is never
   * shorter, in every mode. 0 or absent: no watchdog.
   */
  selfFenceHoldMs?: number;
  /**
   * The oldest the facts of a quorum "yes" may be for anything to come in service on it
   * (self-fence-lease.ts evidenceTiming: evidence age + grace). Absent: no limit.
   */
  evidenceMaxAgeMs?: number;
}

export type QuorumGateEvent =
  | { type: 'membership'; systems: readonly string[]; alive: readonly string[]; nowMs: number }
  | { type: 'probe-result'; host: string; reachable: boolean; roundStartMs: number; nowMs: number }
  /**
   * A storage heartbeat round ended: when its write was issued (undefined when it failed or
   * wrote nothing), whether this system is fenced off the LUN, and how long each other system's
   * record has been seen unchanged.
   */
  | { type: 'storage'; wroteAtMs: number | undefined; fenced: string | undefined; error: string | undefined; unchangedMs: ReadonlyMap<string, number>; nowMs: number }
  /** The eviction asked for by an 'evict' output ended. */
  | { type: 'evicted'; system: string; outcome: 'won' | 'lost' | 'failed'; reason: string; nowMs: number };

export type QuorumGateOutput =
  /** Start a probe round now; report each host's answer with this roundStartMs. */
  | { type: 'probe'; roundStartMs: number }
  /** QUORUM_MODE=storage: preempt `system`'s key on the quorum disk, then report 'evicted'. */
  | { type: 'evict'; system: string }
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
  /** How long a takeover waits after a system is lost (survivorHoldMs()). */
  survivorHoldMs: number;
  quarantineUntilMs: number;
  /** Each witness host with its latest answer (undefined before the first). */
  witnesses: Array<{ host: string; reachable: boolean | undefined }>;
  /** QUORUM_MODE=storage: the eviction of each absent system, and the evictions' outcomes since start. */
  evictions?: { bySystem: Record<string, EvictionState>; won: number; lost: number; failed: number };
}

/** Where the eviction of an absent system stands: asked of the fence, won, or failed (asked again later). */
export type EvictionState = 'asked' | 'won' | 'failed';

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
  /** Storage quorum: the facts of the last round. */
  private storageFacts: { wroteAtMs: number | undefined; fenced: string | undefined; error: string | undefined } = { wroteAtMs: undefined, fenced: undefined, error: undefined };
  private unchangedMs: ReadonlyMap<string, number> = new Map();
  /** Storage quorum: systems seen alive since start (a later absence is a loss: evict at once). */
  private readonly everAlive = new Set<string>();
  /** Storage quorum: per system not alive, its eviction: asked (when), or won. */
  private readonly eviction = new Map<string, { state: EvictionState; atMs: number }>();
  /** Storage quorum: outcomes of the evictions since start (for metrics and status). */
  private readonly evictionCounts = { won: 0, lost: 0, failed: 0 };

  constructor(
    readonly config: QuorumGateConfig,
    startMs: number,
  ) {
    if (config.mode === 'tcp_remote' && config.hosts.length === 0) throw new RangeError('tcp_remote quorum needs at least one quorum host');
    if (config.mode === 'storage' && !config.storage) throw new RangeError('storage quorum needs its heartbeat timing');
    this.freshSinceMs = startMs;
    this.quarantineUntilMs = startMs + config.quarantineMs;
  }

  /** Whether witness hosts take part in the verdict. */
  private get usesHosts(): boolean {
    return this.config.mode !== 'none' && this.config.mode !== 'storage' && this.config.hosts.length > 0;
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
    return Math.max(this.quorumHoldMs(), this.config.selfFenceHoldMs ?? 0);
  }

  /** The hold the quorum loss alone needs (the loser notices and runs its loss action). */
  private quorumHoldMs(): number {
    if (!this.canLose) return 0;
    const c = this.config;
    if (c.mode === 'storage') return staleMs(c.storage!) + c.lossActionMs;
    return (this.usesHosts ? c.probePeriodMs + c.probeTimeoutMs : 0) + c.lossActionMs + 2 * c.heartbeatMs;
  }

  /**
   * The time of the oldest fact the current quorum "yes" rests on (quorum-evidence.ts), or
   * undefined without a "yes": what the self-fence lease is renewed from. `echoedAtMs` gives the
   * send time of the latest heartbeat each peer echoed.
   */
  evidenceAtMs(nowMs: number, echoedAtMs: (system: string) => number | undefined): number | undefined {
    if (this.verdict?.quorum !== true) return undefined;
    if (this.config.mode === 'storage') return this.storageFacts.wroteAtMs;
    const reachableSince = new Map<string, number>();
    if (this.usesHosts) {
      for (const h of this.config.hosts) {
        const r = this.results.get(h);
        if (r && r.reachable && r.roundStartMs >= this.freshSinceMs) reachableSince.set(h, r.roundStartMs);
      }
    }
    return quorumEvidenceAtMs({
      mode: this.config.mode,
      local: this.config.local,
      systems: this.systems,
      alive: this.alive,
      hosts: this.usesHosts ? this.config.hosts : [],
      reachableSince,
      echoedAtMs,
      nowMs,
    });
  }

  /**
   * How old the facts of the open gate's "yes" are, when older than evidenceMaxAgeMs; undefined
   * when they are fresh enough, or the gate has no measurable evidence (a peer whose vigild
   * predates the disk echoes, seen over DISK paths only: quorum-evidence.ts). An event loop
   * starved for longer than a heartbeat timeout wakes with a verdict it has not had the chance
   * to revise: the other side may have taken over meanwhile. Its membership and probes catch up within one interval; until then nothing may
   * come in service on the old verdict (the watchdog's lease would not be renewed on it either).
   */
  evidenceStaleMs(nowMs: number, echoedAtMs: (system: string) => number | undefined): number | undefined {
    const limit = this.config.evidenceMaxAgeMs;
    if (!this.open || limit === undefined) return undefined;
    const at = this.evidenceAtMs(nowMs, echoedAtMs);
    if (at === undefined || nowMs - at <= limit) return undefined;
    return nowMs - at;
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
        for (const s of nextAlive) {
          this.everAlive.add(s);
          // Back in the membership: a new loss is a new eviction.
          this.eviction.delete(s);
        }
        if (lost && this.config.mode === 'storage') {
          // The hold is per system here (storageHold), from its record standing still.
        } else if (lost) {
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
      case 'storage': {
        // A later round's write is never older than an earlier one's; a failed round keeps the last.
        const wroteAtMs = ev.wroteAtMs ?? this.storageFacts.wroteAtMs;
        this.storageFacts = { wroteAtMs, fenced: ev.fenced, error: ev.wroteAtMs === undefined ? ev.error : undefined };
        this.unchangedMs = ev.unchangedMs;
        break;
      }
      case 'evicted': {
        const e = this.eviction.get(ev.system);
        if (!e || e.state !== 'asked') break;
        this.evictionCounts[ev.outcome]++;
        if (ev.outcome === 'won') this.eviction.set(ev.system, { state: 'won', atMs: ev.nowMs });
        else if (ev.outcome === 'failed') this.eviction.set(ev.system, { state: 'failed', atMs: ev.nowMs });
        else {
          // Lost the race: this system's own key is gone; the next verdict says so.
          this.eviction.set(ev.system, { state: 'failed', atMs: ev.nowMs });
          this.storageFacts = { ...this.storageFacts, fenced: this.storageFacts.fenced ?? ev.reason };
        }
        break;
      }
    }
    this.askEvictions(ev.nowMs, out);
    this.evaluate(ev.nowMs, out);
    return out;
  }

  /** Storage quorum: the other configured systems not seen alive now. */
  private absent(): string[] {
    return [...new Set(this.systems)].filter((s) => s !== this.config.local && !this.alive.has(s)).sort();
  }

  /**
   * Storage quorum: ask to evict each absent system that needs it — at once when it was lost
   * from the membership, after its record stood still for N x T when it was never seen alive —
   * while this system has quorum (a fenced or cut-off system has nothing to win). A failed
   * eviction is asked again one interval later.
   */
  private askEvictions(nowMs: number, out: QuorumGateOutput[]): void {
    const t = this.config.storage;
    if (this.config.mode !== 'storage' || !t || this.verdict?.quorum !== true) return;
    for (const s of this.absent()) {
      const e = this.eviction.get(s);
      if (e && (e.state !== 'failed' || nowMs - e.atMs < t.intervalMs)) continue;
      if (!this.everAlive.has(s) && (this.unchangedMs.get(s) ?? 0) < staleMs(t)) continue;
      this.eviction.set(s, { state: 'asked', atMs: nowMs });
      out.push({ type: 'evict', system: s });
    }
  }

  /** Storage quorum: why an absent system still keeps the gate closed ('' when none does). */
  private storageHold(): string {
    const t = this.config.storage!;
    // With a watchdog, also the lost system's lease and watchdog timeout after its record stood still.
    const need = Math.max(staleMs(t) + this.config.lossActionMs, this.config.selfFenceHoldMs ?? 0);
    for (const s of this.absent()) {
      const e = this.eviction.get(s);
      const still = this.unchangedMs.get(s) ?? 0;
      if (e?.state !== 'won') {
        return e?.state === 'asked' ? `evicting ${s} from the quorum disk` : `${s} is not seen alive and its storage record moved ${(still / 1000).toFixed(1)} s ago (needs ${staleMs(t) / 1000} s still before evicting it)`;
      }
      if (still < need) return `waiting for ${s}'s storage record to stand still (${(still / 1000).toFixed(1)} s of ${need / 1000} s)`;
    }
    return '';
  }

  tick(nowMs: number): QuorumGateOutput[] {
    const out: QuorumGateOutput[] = [];
    this.askEvictions(nowMs, out);
    if (this.usesHosts && nowMs - this.lastRoundMs >= this.config.probePeriodMs) this.startRound(nowMs, out);
    this.evaluate(nowMs, out);
    return out;
  }

  isOpen(): boolean {
    return this.open;
  }

  /**
   * Whether the gate is closed only for a while: quorum held but a hold, the quarantine or an
   * eviction not over, or the verdict not decided yet (it will be within a probe time limit or a
   * storage round) — not a decided loss. A takeover request is then deferred, not refused.
   */
  closedOnlyForAWhile(): boolean {
    return !this.open && this.verdict?.quorum !== false;
  }

  status(): QuorumGateStatus {
    return {
      mode: this.config.mode,
      quorum: this.verdict?.quorum,
      votes: this.verdict?.votes ?? 0,
      total: this.verdict?.total ?? 0,
      reason: this.verdict?.reason ?? (this.config.mode === 'storage' ? 'undecided: waiting for the first round of the storage heartbeat' : 'undecided: waiting for a probe round of the quorum hosts'),
      open: this.open,
      closedReason: this.closedReason,
      holdUntilMs: this.holdUntilMs,
      survivorHoldMs: this.survivorHoldMs(),
      quarantineUntilMs: this.quarantineUntilMs,
      witnesses: this.config.hosts.map((host) => ({ host, reachable: this.results.get(host)?.reachable })),
      evictions: this.config.mode === 'storage' ? { bySystem: Object.fromEntries([...this.eviction].map(([s, e]) => [s, e.state])), ...this.evictionCounts } : undefined,
    };
  }

  private startRound(nowMs: number, out: QuorumGateOutput[]): void {
    this.lastRoundMs = nowMs;
    out.push({ type: 'probe', roundStartMs: nowMs });
  }

  /** The verdict from fresh facts, or undefined while a host has no fresh answer yet. */
  private currentVerdict(nowMs: number): Verdict | undefined {
    if (this.config.mode === 'storage') {
      const f = this.storageFacts;
      return storageVerdict({ nowMs, wroteAtMs: f.wroteAtMs, fenced: f.fenced, lastError: f.error }, this.config.storage!);
    }
    const reachable = new Set<string>();
    if (this.usesHosts) {
      for (const h of this.config.hosts) {
        const r = this.results.get(h);
        if (!r || r.roundStartMs < this.freshSinceMs) return undefined;
        if (r.reachable) reachable.add(h);
      }
    }
    return countVotes({ mode: this.config.mode as Exclude<QuorumMode, 'storage'>, local: this.config.local, systems: this.systems, alive: this.alive, hosts: this.config.hosts, reachable });
  }

  private evaluate(nowMs: number, out: QuorumGateOutput[]): void {
    const v = this.currentVerdict(nowMs);
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
    if (!v) reason = this.config.mode === 'storage' ? 'waiting for the first round of the storage heartbeat' : 'waiting for a fresh probe round of the quorum hosts';
    else if (!v.quorum) reason = `no quorum (${v.reason})`;
    else if (nowMs < this.quarantineUntilMs) reason = `quarantine until ${Math.ceil((this.quarantineUntilMs - nowMs) / 1000)} s from now`;
    else if (nowMs < this.holdUntilMs) reason = `giving a lost system ${Math.ceil((this.holdUntilMs - nowMs) / 1000)} s more to notice its loss of quorum`;
    else if (this.config.mode === 'storage') reason = this.storageHold();
    const open = reason === '';
    if (open !== this.open) out.push({ type: 'gate', open, reason: open ? `quorum: ${v!.reason}` : reason });
    this.open = open;
    this.closedReason = reason;
  }
}
