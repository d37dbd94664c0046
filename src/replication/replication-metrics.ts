// The vigil_replication_* families, read at scrape time from what this system knows about each
// replicated resource: on the primary the mirror's state, resync progress as md last reported
// it and md's own resync rate; on either system the generation, whether the backup copy is out
// of date and whether this system's data_corrupt flag is set; on the primary the link holds
// (outdate-gate.ts): whether one is on, and each one's duration by how it ended; and the
// resyncs of the backup half, counted by the kind Vigil asked md for (partial: re-added from the
// bitmap; full: added and copied whole) when each starts, with its duration when md reports it
// done.
// Label values are bounded: tags are resources of this system, states, kinds and endings fixed sets.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

import type { MirrorState, ResyncKind } from './mirror-state.js';
import type { HoldEnd } from './outdate-gate.js';

export interface ReplicationSample {
  tag: string;
  role: 'primary' | 'backup';
  generation: number;
  /**
   * Primary only: the mirror's state, resync progress (0-100) and md's rate of the running resync
   * in bytes/s (0 or absent when none runs).
   */
  mirror?: { state: MirrorState; percent: number; resyncRate?: number };
  /** 1 when the backup copy is known not to hold every acknowledged write. */
  backupOutOfDate: boolean;
  /** Primary only: the kernel holds the mirror's writes now (its replication link died). */
  linkHeld?: boolean;
  /** This system's <TAG>_data_corrupt flag file exists (set while it runs the mirror, kept by a crash); undefined when unreadable. */
  dataCorrupt?: boolean;
}

export interface ReplicationRecorder {
  /** A link hold ended after heldMs, and how. */
  holdEnded(tag: string, how: HoldEnd, heldMs: number): void;
  /** A resync of the backup half started, of this kind. */
  resyncStarted(tag: string, kind: ResyncKind): void;
  /** A resync of this kind completed (md reported the backup in sync) ms after its start. */
  resyncDone(tag: string, kind: ResyncKind, ms: number): void;
}

const STATES: MirrorState[] = ['absent', 'mirroring', 'resyncing', 'degraded', 'primary-failed', 'primary-failed-unsynced'];
const KINDS: ResyncKind[] = ['partial', 'full'];
/** A partial resync takes seconds; a full one of a large partition over a slow link, hours. */
const RESYNC_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400];

export function registerReplicationMetrics(registry: Registry, samples: () => Promise<ReplicationSample[]>): ReplicationRecorder {
  const registers = [registry];
  // One read of the states per scrape, shared by the families below.
  let pending: Promise<ReplicationSample[]> | undefined;
  const read = (): Promise<ReplicationSample[]> => {
    pending ??= samples().finally(() => setImmediate(() => (pending = undefined)));
    return pending;
  };
  new Gauge({
    name: 'vigil_replication_mirror_state',
    help: 'On the primary: 1 for the NetRAID mirror\'s current state (mirroring, resyncing, degraded, primary-failed, primary-failed-unsynced, absent), 0 for the others.',
    labelNames: ['tag', 'state'],
    registers,
    async collect() {
      this.reset();
      for (const s of await read()) {
        if (!s.mirror) continue;
        for (const st of STATES) this.set({ tag: s.tag, state: st }, s.mirror.state === st ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'vigil_replication_resync_progress_ratio',
    help: 'On the primary: fraction of the running resynchronization done (1 when the halves are in sync, 0 when none has begun).',
    labelNames: ['tag'],
    registers,
    async collect() {
      this.reset();
      for (const s of await read()) if (s.mirror) this.set({ tag: s.tag }, s.mirror.state === 'mirroring' ? 1 : s.mirror.percent / 100);
    },
  });
  new Gauge({
    name: 'vigil_replication_backup_out_of_date',
    help: '1 when the backup copy of the resource does not hold every acknowledged write (on the backup: its own durable mark; on the primary: md dropped or has not yet synced the backup half).',
    labelNames: ['tag', 'role'],
    registers,
    async collect() {
      this.reset();
      for (const s of await read()) this.set({ tag: s.tag, role: s.role }, s.backupOutOfDate ? 1 : 0);
    },
  });
  new Gauge({
    name: 'vigil_replication_generation',
    help: 'The mirror generation this system last took part in (raised at every takeover; the backup refuses older primaries).',
    labelNames: ['tag'],
    registers,
    async collect() {
      this.reset();
      for (const s of await read()) this.set({ tag: s.tag }, s.generation);
    },
  });
  new Gauge({
    name: 'vigil_replication_link_held',
    help: 'On the primary: 1 while the kernel holds the mirror\'s writes because its replication link died (until the backup records itself out of date, the link returns or the backup is declared dead).',
    labelNames: ['tag'],
    registers,
    async collect() {
      this.reset();
      for (const s of await read()) if (s.mirror) this.set({ tag: s.tag }, s.linkHeld ? 1 : 0);
    },
  });
  new Gauge({
    name: 'vigil_replication_resync_rate_bytes_per_second',
    help: 'On the primary: md\'s own rate of the running resynchronization (sync_speed, averaged over up to its last 30 s; clean chunks a partial resync skips are not counted), 0 when none runs.',
    labelNames: ['tag'],
    registers,
    async collect() {
      this.reset();
      for (const s of await read()) if (s.mirror) this.set({ tag: s.tag }, s.mirror.resyncRate ?? 0);
    },
  });
  new Gauge({
    name: 'vigil_replication_data_corrupt',
    help: '1 while this system\'s <TAG>_data_corrupt flag file exists: set while it runs the mirror (removed at a clean stop), so on a system that does not run it, this system crashed as the primary and the resource is refused here (104001) until the other system answers or the administrator removes the flag.',
    labelNames: ['tag'],
    registers,
    async collect() {
      this.reset();
      for (const s of await read()) if (s.dataCorrupt !== undefined) this.set({ tag: s.tag }, s.dataCorrupt ? 1 : 0);
    },
  });
  const resyncs = new Counter({
    name: 'vigil_replication_resyncs_total',
    help: 'On the primary: resynchronizations of the backup half started, by kind: partial (re-added in its old role, md copies the chunks its write-intent bitmap marked while the backup was away), full (added as a new member and copied whole: a new mirror, a former member back after a takeover, or md refusing the re-add).',
    labelNames: ['tag', 'kind'],
    registers,
    async collect() {
      // Both kinds from 0 for every resource, so the first resync of a kind shows as an increase.
      for (const s of await read()) for (const kind of KINDS) this.inc({ tag: s.tag, kind }, 0);
    },
  });
  const resyncDurations = new Histogram({
    name: 'vigil_replication_resync_duration_seconds',
    help: 'On the primary: how long each completed resynchronization of the backup half took, from its add to md reporting the backup in sync, by kind (partial, full).',
    labelNames: ['tag', 'kind'],
    buckets: RESYNC_BUCKETS,
    registers,
  });
  const holds = new Histogram({
    name: 'vigil_replication_link_hold_seconds',
    help: 'On the primary: how long each hold of the mirror\'s writes lasted, by how it ended: backup-acknowledged (the backup recorded itself out of date), backup-dead (membership declared it dead), reconnected (the link came back, nothing degraded), backup-not-current (nothing to hold), kernel-timeout (the bound VIGIL_NETRAID_LINK_HOLD passed first: writes were acknowledged without the backup knowing it is out of date).',
    labelNames: ['tag', 'ended'],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 20, 40, 60, 120, 300, 600],
    registers,
  });
  return {
    holdEnded: (tag, how, heldMs) => holds.observe({ tag, ended: how }, heldMs / 1000),
    resyncStarted: (tag, kind) => resyncs.inc({ tag, kind }),
    resyncDone: (tag, kind, ms) => resyncDurations.observe({ tag, kind }, ms / 1000),
  };
}
