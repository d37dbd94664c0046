// The vigil_replication_* families, read at scrape time from what this system knows about each
// replicated resource: on the primary the mirror's state and resync progress as md last
// reported them; on either system the generation and whether the backup copy is out of date.
// Label values are bounded: tags are resources of this system, states a fixed set.
import { Gauge, type Registry } from 'prom-client';

import type { MirrorState } from './mirror-state.js';

export interface ReplicationSample {
  tag: string;
  role: 'primary' | 'backup';
  generation: number;
  /** Primary only: the mirror's state and resync progress (0-100). */
  mirror?: { state: MirrorState; percent: number };
  /** 1 when the backup copy is known not to hold every acknowledged write. */
  backupOutOfDate: boolean;
}

const STATES: MirrorState[] = ['absent', 'mirroring', 'resyncing', 'degraded', 'primary-failed', 'primary-failed-unsynced'];

export function registerReplicationMetrics(registry: Registry, samples: () => Promise<ReplicationSample[]>): void {
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
}
