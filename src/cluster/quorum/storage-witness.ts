// WITNESS_MODE=storage as an I/O-free state machine driven by step() and tick(): a system the
// membership declared dead is taken over only once reads of the quorum disk saw its storage
// record stand still for N x T (QWK_STORAGE_NUMHBEATS x QWK_STORAGE_HBEATTIME). While its record
// still moves, the system is alive — cut off from this one, not dead — and nothing is taken
// over; that is said once per suspicion ('vetoed'). Without successful reads of the disk there
// is no evidence either way, and the suspect stays pending (never confirmed blind).

export type StorageWitnessEvent =
  | { type: 'suspect'; system: string; nowMs: number }
  /** The suspect is alive again (or left the cluster): forget it. */
  | { type: 'cleared'; system: string; nowMs: number };

export type StorageWitnessOutput =
  | { type: 'confirmed-dead'; system: string; stillMs: number }
  | { type: 'vetoed'; system: string; movedAgoMs: number };

export class StorageWitness {
  private readonly suspects = new Map<string, { sinceMs: number; vetoed: boolean }>();

  /** `staleMs`: N x T, how long the record must stand still. */
  constructor(private readonly staleMs: number) {}

  step(ev: StorageWitnessEvent): StorageWitnessOutput[] {
    if (ev.type === 'suspect') this.suspects.set(ev.system, { sinceMs: ev.nowMs, vetoed: false });
    else this.suspects.delete(ev.system);
    return [];
  }

  /** `unchangedMs(s)`: how long reads have seen s's record unchanged (undefined: no read yet). */
  tick(nowMs: number, unchangedMs: (system: string) => number | undefined): StorageWitnessOutput[] {
    const out: StorageWitnessOutput[] = [];
    for (const [system, s] of [...this.suspects]) {
      const still = unchangedMs(system);
      if (still === undefined) continue;
      if (still >= this.staleMs) {
        this.suspects.delete(system);
        out.push({ type: 'confirmed-dead', system, stillMs: still });
      } else if (!s.vetoed && nowMs - s.sinceMs > still) {
        // The record changed after the suspicion began: the suspect is alive.
        s.vetoed = true;
        out.push({ type: 'vetoed', system, movedAgoMs: still });
      }
    }
    return out;
  }

  pending(): string[] {
    return [...this.suspects.keys()].sort();
  }
}
