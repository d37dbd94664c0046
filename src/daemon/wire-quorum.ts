// Attaches quorum and witness to vigild (docs/quorum.md). It owns the quorum gate
// (cluster/quorum/gate.ts), the probe of QUORUM_HOSTS, the remote_verify witness
// (cluster/witness-verify.ts) and the loss action, and joins them to the rest:
// - the hierarchy engine asks mayBringInService() before anything comes in service; the
//   answer first brings the gate up to date with the membership, so a failover decided on a
//   system-dead event never sees a gate older than that event;
// - the hierarchy hands every system-dead to confirmDeath(), which tells the engine only once
//   the witness agrees (at once with WITNESS_MODE=none);
// - a loss of quorum runs QUORUM_LOSS_ACTION; the gate opening again wakes the failovers that
//   were withheld (hierarchy quorumChanged()).
// The peers' question "do you see system S alive?" (WITNESS_QUERY) is answered here from this
// system's membership.
// With QUORUM_MODE=storage or WITNESS_MODE=storage it also runs the storage heartbeat on
// QUORUM_DISK (cluster/quorum/storage-heartbeat.ts), feeds its rounds to the gate and to the
// storage witness, and carries out the gate's evictions with the SCSI fence.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import { readKeyFile } from '../cluster/cluster-key.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { quorumRecordKey } from '../cluster/disk-record.js';
import { probePeriodMs, QuorumGate, type QuorumGateOutput } from '../cluster/quorum/gate.js';
import { lossActionAllowanceMs, runLossAction } from '../cluster/quorum/loss-action.js';
import { evidenceTiming } from '../cluster/quorum/self-fence-lease.js';
import { hostLabel, ReachabilityProbe } from '../cluster/quorum/reachability-probe.js';
import { StorageHeartbeat, type StorageRound } from '../cluster/quorum/storage-heartbeat.js';
import { PeerRecordWatch, staleMs, type StorageTiming } from '../cluster/quorum/storage-watch.js';
import { StorageWitness, type StorageWitnessOutput } from '../cluster/quorum/storage-witness.js';
import { storageStatus, type QuorumStatus } from '../cluster/quorum/storage-status.js';
import { ScsiFence } from '../fencing/scsi-fence.js';
import { WitnessVerifier, type WitnessOutput } from '../cluster/witness-verify.js';
import type { Agent, Subsystem } from './agent.js';
import type { ClusterSubsystem } from './wire-cluster.js';
import { evidenceTimingInput } from './evidence-timing-input.js';

/** Cluster message type of the remote_verify question. */
export const WITNESS_QUERY = 'witness.sees';
const TICK_MS = 100;

export interface HierarchyHooks {
  takeAllOutOfService(limitMs: number): Promise<string[]>;
  quorumChanged(): void;
}

export interface QuorumSubsystem extends Subsystem {
  /** The gate: may this system bring anything in service now? */
  mayBringInService(): boolean;
  /** The gate is closed only for a while (a hold, quarantine), not for a lost quorum. */
  closedOnlyForAWhile(): boolean;
  /** `system` was declared dead; `confirmed` runs once the witness agrees it is. */
  confirmDeath(system: string, confirmed: () => void): void;
  /** `system` is alive again: any pending verification of its death is dropped. */
  systemAlive(system: string): void;
  bindHierarchy(h: HierarchyHooks): void;
  /** The gate's status, with the storage heartbeat's when one runs (lcdstatus, metrics). */
  status(): QuorumStatus | undefined;
  /**
   * The time (performance.now()) of the oldest fact the quorum "yes" rests on now, or undefined
   * without one: what the self-fence lease is renewed from (wire-watchdog.ts).
   */
  evidenceAtMs(): number | undefined;
}

/** What the quorum needs of the watchdog: the survivor hold the lost systems' watchdogs need (0: none). */
export interface SelfFenceHold {
  selfFenceHoldMs(): number;
}

class WiredQuorum implements QuorumSubsystem {
  readonly name = 'quorum';
  private gate: QuorumGate | undefined;
  private probe: ReachabilityProbe | undefined;
  private witness: WitnessVerifier | undefined;
  private timer: NodeJS.Timeout | undefined;
  private hierarchy: HierarchyHooks | undefined;
  private attachedTo: ClusterNode | undefined;
  private lastMembership = '';
  private readonly waitingDeath = new Map<string, Array<() => void>>();
  /** Who last vetoed each suspect's death (to log a veto once, not at every retry). */
  private readonly lastVeto = new Map<string, string>();
  private lossRunning = false;
  /** What this system's DISK path records say (setDiskPresence). */
  private diskPresence: 'running' | 'yielding' = 'running';
  /** The send time of the latest heartbeat `system` echoed (the evidence of a peer, quorum-evidence.ts). */
  private readonly echoedAt = (system: string): number | undefined => this.cluster?.node?.echoedAtMs(system);
  /** A takeover was held back because the quorum facts were stale (evidenceStale). */
  private waitingFreshEvidence = false;
  private stopped = false;
  private storage: StorageHeartbeat | undefined;
  private storageTiming: StorageTiming | undefined;
  private fence: ScsiFence | undefined;
  private readonly recordWatch: PeerRecordWatch;
  private storageWitness: StorageWitness | undefined;
  /** When a peer last came alive (wall clock): a fenced system registers again only after that. */
  private memberSince = Date.now();
  private storageKeyError: string | undefined;
  private storageRetry: NodeJS.Timeout | undefined;
  /** The storage heartbeat's last successful write (monotonic) and its last round, for status(). */
  private lastWroteAtMs: number | undefined;
  private lastRound: { fenced: string | undefined; error: string | undefined } | undefined;

  constructor(
    private readonly agent: Agent,
    private readonly cluster: ClusterSubsystem | undefined,
    private readonly selfFence: SelfFenceHold | undefined,
  ) {
    this.recordWatch = new PeerRecordWatch(agent.localSystem);
  }

  start(): void {
    const { agent } = this;
    const c = agent.config;
    const hosts = c.QUORUM_HOSTS ?? [];
    const timeoutMs = c.QUORUM_TIMEOUT_SECS * 1000;
    const heartbeatMs = c.LCMHBEATTIME * 1000;
    const now = performance.now();
    const usesStorage = c.QUORUM_MODE === 'storage' || c.WITNESS_MODE === 'storage';
    if (usesStorage) this.storageTiming = { intervalMs: c.QWK_STORAGE_HBEATTIME * 1000, numHbeats: c.QWK_STORAGE_NUMHBEATS };
    this.gate = new QuorumGate(
      {
        mode: c.QUORUM_MODE,
        local: agent.localSystem,
        hosts: c.QUORUM_MODE === 'none' ? [] : hosts.map(hostLabel),
        probeTimeoutMs: timeoutMs,
        probePeriodMs: probePeriodMs(heartbeatMs, timeoutMs),
        quarantineMs: c.QUORUM_QUARANTINE_SECS * 1000,
        lossActionMs: lossActionAllowanceMs(c.QUORUM_LOSS_ACTION, timeoutMs),
        heartbeatMs,
        storage: c.QUORUM_MODE === 'storage' ? this.storageTiming : undefined,
        // A lost system's watchdog (the same settings as ours) resets it by then.
        selfFenceHoldMs: this.selfFence?.selfFenceHoldMs() ?? 0,
        evidenceMaxAgeMs: (({ evidenceAgeMs, graceMs }) => evidenceAgeMs + graceMs)(evidenceTiming(evidenceTimingInput(c))),
      },
      now,
    );
    if (c.QUORUM_MODE !== 'none' && hosts.length) {
      this.probe = new ReachabilityProbe(
        hosts.map((h) => ({ label: hostLabel(h), host: h.host, port: h.port })),
        timeoutMs,
        (label, reachable, roundStartMs) => this.apply(this.gate!.step({ type: 'probe-result', host: label, reachable, roundStartMs, nowMs: performance.now() })),
      );
    }
    if (c.WITNESS_MODE === 'remote_verify') this.witness = new WitnessVerifier({ timeLimitMs: timeoutMs, retryMs: Math.max(heartbeatMs, 1000) });
    if (c.WITNESS_MODE === 'storage') this.storageWitness = new StorageWitness(staleMs(this.storageTiming!));
    if (c.QUORUM_MODE === 'storage') {
      this.fence = new ScsiFence(agent.platform.scsi, {
        system: agent.localSystem,
        commandTimeoutMs: Math.max(100, this.storageTiming!.intervalMs / 2),
        memberSince: () => this.memberSince,
        log: (level, msg, fields) => agent.log[level]({ ...fields, component: 'fence' }, `quorum: ${msg}`),
      });
    }
    this.logRisks();
    agent.log.info(
      { QUORUM_MODE: c.QUORUM_MODE, QUORUM_HOSTS: hosts.map(hostLabel), WITNESS_MODE: c.WITNESS_MODE, QUORUM_LOSS_ACTION: c.QUORUM_LOSS_ACTION, survivorHoldMs: this.gate.survivorHoldMs(), selfFenceHoldMs: this.gate.config.selfFenceHoldMs, QUORUM_DISK: c.QUORUM_DISK },
      'quorum: started',
    );
    if (usesStorage) this.startStorage();
    this.sync(now);
    this.apply(this.gate.tick(now));
    this.timer = setInterval(() => this.onTick(), TICK_MS);
    agent.context.quorum = this;
  }

  stop(): void {
    this.stopped = true;
    if (this.agent.context.quorum === this) delete this.agent.context.quorum;
    clearInterval(this.timer);
    clearTimeout(this.storageRetry);
    this.probe?.stop();
    this.storage?.stop();
  }

  /** The storage heartbeat needs the cluster key (its records are authenticated): retried until usable. */
  private startStorage(): void {
    if (this.stopped) return;
    const { agent } = this;
    const c = agent.config;
    let secret: Buffer;
    try {
      secret = readKeyFile(c.VIGIL_KEY_FILE);
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.storageKeyError) agent.log.error({ err: message }, 'quorum: the storage heartbeat needs the cluster key; retrying');
      this.storageKeyError = message;
      // Without a round the storage verdict says why (no quorum, undecided at start).
      this.onStorageRound({ wroteAtMs: undefined, readAtMs: undefined, records: [], fenced: undefined, error: `the cluster key cannot be used: ${message}` });
      this.storageRetry = setTimeout(() => this.startStorage(), 1000);
      this.storageRetry.unref();
      return;
    }
    this.storage = new StorageHeartbeat({
      device: c.QUORUM_DISK!,
      localSystem: agent.localSystem,
      bootId: randomBytes(8).readBigUInt64BE(0),
      recordKey: quorumRecordKey(secret),
      platform: agent.platform,
      intervalMs: this.storageTiming!.intervalMs,
      fence: this.fence,
      onRound: (r) => this.onStorageRound(r),
      log: (level, msg, fields) => agent.log[level]({ ...fields }, `quorum: ${msg}`),
    });
    this.storage.start();
  }

  private onStorageRound(r: StorageRound): void {
    if (this.stopped || !this.gate) return;
    const now = performance.now();
    if (r.readAtMs !== undefined) this.recordWatch.observe(r.records, r.readAtMs, Date.now());
    if (r.wroteAtMs !== undefined) this.lastWroteAtMs = r.wroteAtMs;
    this.lastRound = { fenced: r.fenced, error: r.error };
    const systems = this.agent.lcd.systems().map((s) => s.name).filter((s) => s !== this.agent.localSystem);
    this.sync(now);
    if (this.agent.config.QUORUM_MODE === 'storage') {
      this.apply(this.gate.step({ type: 'storage', wroteAtMs: r.wroteAtMs, fenced: r.fenced, error: r.error, unchangedMs: this.recordWatch.snapshot(systems), nowMs: now }));
    }
    if (this.storageWitness) this.applyStorageWitness(this.storageWitness.tick(now, (s) => this.recordWatch.unchangedFor(s)));
  }

  private evict(system: string): void {
    const fence = this.fence;
    const gate = this.gate;
    if (!fence || !gate) return;
    const device = this.agent.config.QUORUM_DISK!;
    this.agent.log.warn({ system, device }, `quorum: ${system} is not seen alive; evicting its key from the quorum disk`);
    fence.evict(device, system).then(
      (r) => {
        if (r.outcome === 'won') this.agent.log.warn({ system, device }, `quorum: evicted ${system} from the quorum disk; taking over once its storage record stood still`);
        else this.agent.log.error({ system, device, reason: r.reason }, `quorum: lost the quorum disk to ${system}: ${r.reason}`);
        if (!this.stopped) this.apply(gate.step({ type: 'evicted', system, outcome: r.outcome, reason: r.outcome === 'won' ? 'evicted' : r.reason, nowMs: performance.now() }));
      },
      (err: Error) => {
        this.agent.log.warn({ system, device, err: err.message }, `quorum: evicting ${system} from the quorum disk failed (tried again): ${err.message}`);
        if (!this.stopped) this.apply(gate.step({ type: 'evicted', system, outcome: 'failed', reason: err.message, nowMs: performance.now() }));
      },
    );
  }

  private applyStorageWitness(outs: StorageWitnessOutput[]): void {
    for (const o of outs) {
      if (o.type === 'vetoed') {
        this.agent.log.warn({ system: o.system, movedAgoMs: Math.round(o.movedAgoMs) }, `quorum: storage witness: ${o.system}'s storage record still moves; it is alive, not taking it over`);
        continue;
      }
      this.agent.log.warn({ system: o.system, stillMs: Math.round(o.stillMs) }, `quorum: storage witness: ${o.system} is dead (its storage record stood still ${(o.stillMs / 1000).toFixed(1)} s)`);
      const waiting = this.waitingDeath.get(o.system) ?? [];
      this.waitingDeath.delete(o.system);
      for (const cb of waiting) cb();
    }
  }

  bindHierarchy(h: HierarchyHooks): void {
    this.hierarchy = h;
  }

  status(): QuorumStatus | undefined {
    const gate = this.gate?.status();
    if (!gate) return undefined;
    const c = this.agent.config;
    if (!this.storageTiming || !c.QUORUM_DISK) return gate;
    const serves: Array<'quorum' | 'witness'> = [];
    if (c.QUORUM_MODE === 'storage') serves.push('quorum');
    if (c.WITNESS_MODE === 'storage') serves.push('witness');
    const storage = storageStatus({
      nowMs: performance.now(),
      device: c.QUORUM_DISK,
      serves,
      io: this.storage?.describe() ?? (this.storageKeyError ? `not running: the cluster key cannot be used: ${this.storageKeyError}` : 'not started'),
      timing: this.storageTiming,
      lastWroteAtMs: this.lastWroteAtMs,
      lastRound: this.lastRound,
      watch: this.recordWatch,
      systems: this.agent.lcd.systems().map((s) => s.name).filter((s) => s !== this.agent.localSystem),
      alive: new Set(this.visiblePeers()),
      suspects: this.storageWitness?.pending() ?? [],
      gate,
    });
    return { ...gate, storage };
  }

  evidenceAtMs(): number | undefined {
    if (!this.gate || this.stopped) return undefined;
    const now = performance.now();
    this.sync(now);
    return this.gate.evidenceAtMs(now, this.echoedAt);
  }

  mayBringInService(): boolean {
    if (!this.gate) return false;
    const now = performance.now();
    this.sync(now);
    return this.gate.isOpen() && !this.evidenceStale(now);
  }

  closedOnlyForAWhile(): boolean {
    if (!this.gate) return false;
    const now = performance.now();
    this.sync(now);
    // Stale facts are renewed (or the verdict revised) within an interval: a deferral, not a refusal.
    return this.gate.closedOnlyForAWhile() || (this.gate.isOpen() && this.evidenceStale(now));
  }

  /**
   * Whether the open gate's "yes" rests on facts too old to act on (gate.ts evidenceStaleMs);
   * said once per episode, and the engine is woken when fresh facts come (onTick).
   */
  private evidenceStale(now: number): boolean {
    const ageMs = this.gate!.evidenceStaleMs(now, this.echoedAt);
    if (ageMs === undefined) return false;
    if (!this.waitingFreshEvidence) {
      this.waitingFreshEvidence = true;
      this.agent.log.warn(
        { evidenceAgeMs: Math.round(ageMs), limitMs: this.gate!.config.evidenceMaxAgeMs },
        `quorum: the facts the quorum rests on are ${(ageMs / 1000).toFixed(1)} s old (was this system stopped or starved?); nothing comes in service here until they are renewed`,
      );
    }
    return true;
  }

  confirmDeath(system: string, confirmed: () => void): void {
    const now = performance.now();
    this.sync(now);
    if (this.storageWitness) {
      const waiting = this.waitingDeath.get(system) ?? [];
      waiting.push(confirmed);
      this.waitingDeath.set(system, waiting);
      this.agent.log.info({ system }, 'quorum: storage witness: taking it over only once its storage record stood still');
      this.storageWitness.step({ type: 'suspect', system, nowMs: now });
      this.applyStorageWitness(this.storageWitness.tick(now, (s) => this.recordWatch.unchangedFor(s)));
      return;
    }
    if (!this.witness) {
      confirmed();
      return;
    }
    const waiting = this.waitingDeath.get(system) ?? [];
    waiting.push(confirmed);
    this.waitingDeath.set(system, waiting);
    this.agent.log.info({ system, ask: this.visiblePeers() }, 'quorum: remote_verify: asking the other systems whether they still see it');
    this.applyWitness(this.witness.step({ type: 'suspect', system, visible: this.visiblePeers(), nowMs: now }));
  }

  systemAlive(system: string): void {
    this.lastVeto.delete(system);
    if (this.waitingDeath.delete(system)) this.agent.log.info({ system }, 'quorum: remote_verify: system alive again, nothing to take over');
    this.witness?.step({ type: 'cleared', system, nowMs: performance.now() });
    this.storageWitness?.step({ type: 'cleared', system, nowMs: performance.now() });
    this.sync(performance.now());
  }

  private onTick(): void {
    if (this.stopped || !this.gate) return;
    const now = performance.now();
    this.attachNode();
    this.sync(now);
    this.apply(this.gate.tick(now));
    if (this.witness) this.applyWitness(this.witness.tick(now));
    if (this.waitingFreshEvidence && this.gate.evidenceStaleMs(now, this.echoedAt) === undefined) {
      this.waitingFreshEvidence = false;
      // A gate that closed meanwhile (the verdict revised) wakes the engine itself when it opens.
      if (this.gate.isOpen()) {
        this.agent.log.info('quorum: the quorum facts are fresh again');
        // What the stale facts held back is tried again.
        setImmediate(() => !this.stopped && this.hierarchy?.quorumChanged());
      }
    }
  }

  /** The other systems of the cluster seen alive now. */
  private visiblePeers(): string[] {
    const node = this.cluster?.node;
    if (!node) return [];
    return this.agent.lcd
      .systems()
      .map((s) => s.name)
      .filter((s) => s !== this.agent.localSystem && node.systemState(s) === 'ALIVE');
  }

  /** Feeds the gate the membership when it changed since the last time. */
  private sync(now: number): void {
    if (!this.gate) return;
    const systems = this.agent.lcd.systems().map((s) => s.name).sort();
    const alive = this.visiblePeers().sort();
    const key = `${systems.join(',')}|${alive.join(',')}`;
    if (key === this.lastMembership) return;
    const before = new Set(this.lastMembership.split('|')[1]?.split(',').filter(Boolean) ?? []);
    if (alive.some((s) => !before.has(s))) this.memberSince = Date.now();
    if (systems.join(',') !== this.lastMembership.split('|')[0]) this.logTwoSystemRisk(systems.length);
    this.lastMembership = key;
    this.apply(this.gate.step({ type: 'membership', systems, alive, nowMs: now }));
  }

  private attachNode(): void {
    const node = this.cluster?.node;
    if (!node || node === this.attachedTo) return;
    this.attachedTo = node;
    node.handle(WITNESS_QUERY, async (body, from) => {
      const system = typeof (body as { system?: unknown })?.system === 'string' ? (body as { system: string }).system : '';
      if (system === '') return { system, seesAlive: false };
      // Answered from the silence as it is now, not as of our last tick (up to a quarter interval old).
      await node.judgeNow();
      // The one asking declared `system` dead itself: if it vetoed our own question about it, ask again now.
      if (this.witness) this.applyWitness(this.witness.step({ type: 'peer-suspects', system, from, nowMs: performance.now() }));
      // Alive here and heard within all but the last of the intervals the asker missed (vouchesFor).
      return { system, seesAlive: node.vouchesFor(system) };
    });
  }

  private apply(outs: QuorumGateOutput[]): void {
    const log = this.agent.log;
    for (const o of outs) {
      switch (o.type) {
        case 'probe':
          this.probe?.round(o.roundStartMs);
          break;
        case 'evict':
          this.evict(o.system);
          break;
        case 'verdict':
          if (o.verdict?.quorum === true) this.setDiskPresence('running');
          log.info({ quorum: o.verdict?.quorum, votes: o.verdict?.votes, total: o.verdict?.total }, `quorum: ${o.verdict ? `${o.verdict.quorum ? 'have quorum' : 'NO QUORUM'}: ${o.verdict.reason}` : 'undecided until a fresh probe round of the quorum hosts'}`);
          break;
        case 'quorum-lost':
          // Next turn of the loop at the latest, for the same reason as the gate opening below.
          setImmediate(() => void this.lose(o.verdict.reason));
          break;
        case 'gate':
          if (o.open) {
            log.info({ reason: o.reason }, 'quorum: gate open, hierarchies may come in service here');
            // Not from inside the call: the gate may open while the engine itself asks it
            // (mayBringInService during a step), and the engine must not be re-entered.
            setImmediate(() => !this.stopped && this.hierarchy?.quorumChanged());
          } else {
            log.warn({ reason: o.reason }, `quorum: gate closed, nothing comes in service here: ${o.reason}`);
          }
          break;
      }
    }
  }

  private async lose(reason: string): Promise<void> {
    if (this.lossRunning) return;
    this.lossRunning = true;
    try {
      const servesNothing = await runLossAction(this.agent.config.QUORUM_LOSS_ACTION, reason, {
        nodePower: this.agent.platform.nodePower,
        // osu's removals get the time the survivors allow for them (lossActionAllowanceMs).
        takeAllOutOfService: () => this.hierarchy?.takeAllOutOfService(lossActionAllowanceMs('osu', this.agent.config.QUORUM_TIMEOUT_SECS * 1000)) ?? Promise.resolve([]),
        endAgent: (why) => {
          this.agent.log.fatal({ reason: why }, 'quorum: ending vigild and its services');
          this.agent.platform.nodePower.endAgent(why);
        },
        log: (level, msg, fields) => this.agent.log[level]({ ...fields }, `quorum: ${msg}`),
      });
      // Still without quorum and serving nothing: say so on the DISK paths, so that a peer that
      // sees this system over them alone (a network-only cut) counts it gone and takes over what
      // it gave up, instead of waiting for the network to come back.
      if (servesNothing && !this.stopped && this.gate?.status().quorum === false) this.setDiskPresence('yielding');
    } finally {
      this.lossRunning = false;
    }
  }

  private setDiskPresence(p: 'running' | 'yielding'): void {
    if (p === this.diskPresence) return;
    this.diskPresence = p;
    const node = this.cluster?.node;
    if (!node) return;
    node.setDiskPresence(p);
    if (p === 'yielding') this.agent.log.warn('quorum: without quorum and serving nothing: the DISK path records say "yielding", so the others may count this system gone and take over');
    else this.agent.log.info('quorum: quorum back: the DISK path records say "running" again');
  }

  private applyWitness(outs: WitnessOutput[]): void {
    const log = this.agent.log;
    for (const o of outs) {
      switch (o.type) {
        case 'ask': {
          const node = this.cluster?.node;
          const w = this.witness!;
          const nowMs = () => performance.now();
          if (!node) {
            this.applyWitness(w.step({ type: 'no-answer', system: o.system, from: o.to, round: o.round, nowMs: nowMs() }));
            break;
          }
          node.request(o.to, WITNESS_QUERY, { system: o.system }, { timeoutMs: this.agent.config.QUORUM_TIMEOUT_SECS * 1000 }).then(
            (reply) => {
              const seesAlive = (reply as { seesAlive?: unknown })?.seesAlive === true;
              this.applyWitness(w.step({ type: 'answer', system: o.system, from: o.to, round: o.round, seesAlive, nowMs: nowMs() }));
            },
            () => this.applyWitness(w.step({ type: 'no-answer', system: o.system, from: o.to, round: o.round, nowMs: nowMs() })),
          );
          break;
        }
        case 'vetoed': {
          // Asked again every second while vetoed: say it when it starts or changes, not each time.
          const seenBy = o.by.join(', ');
          const level = this.lastVeto.get(o.system) === seenBy ? 'debug' : 'warn';
          this.lastVeto.set(o.system, seenBy);
          log[level]({ system: o.system, seenBy: o.by }, `quorum: remote_verify: ${seenBy} still see ${o.system} alive; not taking it over`);
          break;
        }
        case 'vetoes-withdrawn':
          log.info({ system: o.system, by: o.by }, `quorum: remote_verify: ${o.by.join(', ')} declared ${o.system} dead too; asking again`);
          break;
        case 'confirmed-dead': {
          this.lastVeto.delete(o.system);
          log.warn({ system: o.system, asked: o.asked }, `quorum: remote_verify: ${o.system} is dead${o.asked.length ? ` (confirmed by ${o.asked.join(', ')})` : ' (no other system to ask)'}`);
          const waiting = this.waitingDeath.get(o.system) ?? [];
          this.waitingDeath.delete(o.system);
          for (const cb of waiting) cb();
          break;
        }
      }
    }
  }

  /** The documented risk of QUORUM_MODE=none, said at start. */
  private logRisks(): void {
    if (this.agent.config.QUORUM_MODE !== 'none') return;
    this.agent.log.warn(
      { QUORUM_MODE: 'none', risk: 'split-brain' },
      'quorum: QUORUM_MODE=none: RISK: nothing stops both sides of a partition from bringing the same hierarchy in service (split brain, data corruption on shared or replicated storage); use majority or tcp_remote with QUORUM_HOSTS',
    );
  }

  /** The documented risk of a two-system majority cluster without witness hosts, said whenever the cluster becomes one. */
  private logTwoSystemRisk(systems: number): void {
    const c = this.agent.config;
    if (c.QUORUM_MODE !== 'majority' || c.QUORUM_HOSTS?.length || systems !== 2) return;
    this.agent.log.warn(
      { QUORUM_MODE: 'majority', systems, risk: 'split-brain' },
      'quorum: majority with two systems and no QUORUM_HOSTS: RISK: the survivor of a partition keeps quorum on both sides (split brain); add a witness with QUORUM_HOSTS',
    );
  }
}

/** Adds the quorum subsystem (call from compose.ts after attachCluster, before attachHierarchy). */
export function attachQuorum(agent: Agent, cluster: ClusterSubsystem | undefined, selfFence?: SelfFenceHold): QuorumSubsystem {
  const q = new WiredQuorum(agent, cluster, selfFence);
  agent.addSubsystem(q);
  return q;
}
