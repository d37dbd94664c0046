// The vigil_replication_* families, read at scrape time from what this system knows about each
// replicated resource: on the primary the mirror's state and resync progress as md last
// reported them; on either system the generation and whether the backup copy is out of date;
// on the primary the link holds (outdate-gate.ts): whether one is on, and each one's duration
// by how it ended.
// Label values are bounded: tags are resources of this system, states and endings fixed sets.
import { Gauge, Histogram, type Registry } from 'prom-client';

import type { MirrorState } from './mirror-state.js';
import type { HoldEnd } from './outdate-gate.js';

export interface ReplicationSample {
  tag: string;
  role: 'primary' | 'backup';
  generation: number;
  /** Primary only: the mirror's state and resync progress (0-100). */
  mirror?: { state: MirrorState; percent: number };
  /** 1 when the backup copy is known not to hold every acknowledged write. */
  backupOutOfDate: boolean;
  /** Primary only: the kernel holds the mirror's writes now (its replication link died). */
  linkHeld?: boolean;
}

export interface ReplicationRecorder {
  /** A link hold ended after heldMs, and how. */
  holdEnded(tag: string, how: HoldEnd, heldMs: number): void;
}

const STATES: MirrorState[] = ['absent', 'mirroring', 'resyncing', 'degraded', 'primary-failed', 'primary-failed-unsynced'];

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
  const holds = new Histogram({
    name: 'vigil_replication_link_hold_seconds',
    help: 'On the primary: how long each hold of the mirror\'s writes lasted, by how it ended: backup-acknowledged (the backup recorded itself out of date), backup-dead (membership declared it dead), reconnected (the link came back, nothing degraded), backup-not-current (nothing to hold), kernel-timeout (the bound VIGIL_NETRAID_LINK_HOLD passed first: writes were acknowledged without the backup knowing it is out of date).',
    labelNames: ['tag', 'ended'],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 20, 40, 60, 120, 300, 600],
    registers,
  });
  return {
    holdEnded: (tag, how, heldMs) => holds.observe({ tag, ended: how }, heldMs / 1000),
  };
}
