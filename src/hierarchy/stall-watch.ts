// Notices that this agent itself stood still: the gap between two consecutive looks at a
// monotonic clock longer than the peers' detection time (SIGSTOP, a frozen VM, a paused
// container, a loop blocked that long). Whatever the peers did meanwhile (declared this system
// dead, took its hierarchies over) happened while it could not see it; the engine is told so
// before anything else it hears (engine event 'stalled'). I/O-free: the caller gives the time.
export class StallWatch {
  private last: number | undefined;

  /** `limitMs`: the longest gap that is no stall (the peers' detection time, with a margin). */
  constructor(readonly limitMs: number) {}

  /** Records a look at the clock; returns the gap since the previous look when it exceeds the limit. */
  observe(monotonicMs: number): number | undefined {
    const prev = this.last;
    this.last = prev === undefined ? monotonicMs : Math.max(prev, monotonicMs);
    if (prev === undefined) return undefined;
    const gap = monotonicMs - prev;
    return gap > this.limitMs ? gap : undefined;
  }
}
