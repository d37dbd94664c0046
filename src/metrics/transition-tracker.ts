// Derives resource state transitions from successive snapshots of the resource states, so that
// every change of state recorded in the LCD is counted once, whoever made it (the hierarchy
// engine, ins_setstate, a failover). vigild calls sync() after each LCD change.
// Creation and deletion of a resource are not transitions.

import type { MetricsRecorder } from './recorder.js';

export class TransitionTracker {
  private last = new Map<string, string>();

  constructor(
    private readonly read: () => Iterable<{ tag: string; state: string }>,
    private readonly recorder: Pick<MetricsRecorder, 'resourceTransition'>,
  ) {
    for (const r of read()) this.last.set(r.tag, r.state);
  }

  /** Compare the current states with the previous ones and record each change. */
  sync(): void {
    const next = new Map<string, string>();
    for (const r of this.read()) {
      next.set(r.tag, r.state);
      const before = this.last.get(r.tag);
      if (before !== undefined && before !== r.state) this.recorder.resourceTransition(r.tag, before, r.state);
    }
    this.last = next;
  }
}
