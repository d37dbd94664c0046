// Makes authentication failures visible: each distinct (source, reason) is logged at once, then
// at most once per interval with the number of repeats in between, so a peer with the wrong key
// or a replaying attacker shows up in the log without flooding it. describeFailure() gives the
// short words net_list and lcdstatus print next to a path's state, e.g. "DEAD (bad key)".
import { performance } from 'node:perf_hooks';

export type FailureLogFn = (level: 'warn', msg: string, fields: Record<string, unknown>) => void;

const WORDS: Record<string, string> = {
  bad_tag: 'bad key',
  bad_session: 'replayed or forged frame',
  unknown_sender: 'unknown sender',
  wrong_receiver: 'wrong receiver name',
  path_mismatch: 'wrong path',
  hello_timeout: 'no handshake',
  stale: 'clock skew',
  old_epoch: 'frame from an old boot',
  replay: 'replayed frame',
  unknown_address: 'address not configured',
  handshake_refused: 'handshake refused by peer',
};

/** Failure reasons that say something about the peer or an attacker (not line noise). */
export function isAuthFailure(reason: string): boolean {
  return reason in WORDS;
}

export function describeFailure(reason: string): string {
  return WORDS[reason] ?? reason.replace(/_/g, ' ');
}

const MAX_SOURCES = 1024;
/** New log lines per interval over all sources: a flood from many addresses cannot flood the log. */
const MAX_LINES_PER_INTERVAL = 30;

export class FailureLog {
  private readonly last = new Map<string, { atMs: number; repeats: number }>();
  private windowStartMs = -Infinity;
  private linesInWindow = 0;
  /** Failures not logged because the per-interval line budget was spent. */
  private overBudget = 0;

  constructor(
    private readonly log: FailureLogFn,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records one failure; logs it unless the same (source, reason) was logged within the interval. */
  report(source: string, reason: string, fields: Record<string, unknown> = {}): void {
    const k = `${source}\u0000${reason}`;
    const t = this.now();
    const e = this.last.get(k);
    if (e && t - e.atMs < this.intervalMs) {
      e.repeats++;
      return;
    }
    if (t - this.windowStartMs >= this.intervalMs) {
      this.windowStartMs = t;
      this.linesInWindow = 0;
    }
    if (this.linesInWindow >= MAX_LINES_PER_INTERVAL) {
      this.overBudget++;
      return;
    }
    this.linesInWindow++;
    const repeats = e?.repeats ?? 0;
    const unlogged = this.overBudget;
    this.overBudget = 0;
    this.last.delete(k);
    // Bounded: a flood of distinct sources forgets the oldest first.
    if (this.last.size >= MAX_SOURCES) this.last.delete(this.last.keys().next().value!);
    this.last.set(k, { atMs: t, repeats: 0 });
    this.log('warn', `comm path authentication failure: ${describeFailure(reason)}`, { source, reason, repeatsSinceLastLog: repeats, ...(unlogged ? { otherFailuresNotLogged: unlogged } : {}), ...fields });
  }
}
