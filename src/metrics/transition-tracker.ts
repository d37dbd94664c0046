// Derives resource state transitions from successive snapshots of the resource states, so that
// every change of state recorded in the LCD is counted once, whoever made it (the hierarchy
// engine, ins_setstate, a failover). vigild calls sync() after each LCD change.
// Creation and deletion of a resource are not transitions.

import type { MetricsRecorder } from './recorder.js';

export class TransitionTracker {
  /** Each resource's last state, and the sync() round that last saw it. */
  private readonly last = new Map<string, { state: string; round: number }>();
  private round = 0;

  constructor(
    private readonly read: () => Iterable<{ tag: string; state: string }>,
    private readonly recorder: Pick<MetricsRecorder, 'resourceTransition'>,
  ) {
    for (const r of read()) this.last.set(r.tag, { state: r.state, round: 0 });
  }

  /**
   * Compare the current states with the previous ones and record each change. Updates in place
   * (this runs after every LCD change: no copy of every resource per change).
   */
  sync(): void {
    const round = ++this.round;
    let count = 0;
    for (const r of this.read()) {
      count++;
      const before = this.last.get(r.tag);
      if (before === undefined) {
        this.last.set(r.tag, { state: r.state, round });
        continue;
      }
      before.round = round;
      if (before.state !== r.state) {
        this.recorder.resourceTransition(r.tag, before.state, r.state);
        before.state = r.state;
      }
    }
    // Resources gone since the last round are forgotten (a new one of the same tag is a creation).
    if (this.last.size > count) for (const [tag, e] of this.last) if (e.round !== round) this.last.delete(tag);
  }
}
