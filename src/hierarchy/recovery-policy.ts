// Local-recovery budget: at most `maxAttempts` recover attempts for one resource within a sliding
// window; once spent, the engine stops trying here and fails the hierarchy over.

export interface RecoveryPolicy {
  maxAttempts: number;
  windowMs: number;
}

export const DEFAULT_RECOVERY_POLICY: RecoveryPolicy = { maxAttempts: 3, windowMs: 10 * 60_000 };

export class RecoveryBudget {
  private readonly attempts = new Map<string, number[]>();

  constructor(private readonly policy: RecoveryPolicy) {}

  /** Records an attempt at `now` if the budget allows one; returns whether it did. */
  tryTake(tag: string, now: number): boolean {
    const recent = (this.attempts.get(tag) ?? []).filter((t) => now - t < this.policy.windowMs);
    if (recent.length >= this.policy.maxAttempts) {
      this.attempts.set(tag, recent);
      return false;
    }
    recent.push(now);
    this.attempts.set(tag, recent);
    return true;
  }

  reset(tag: string): void {
    this.attempts.delete(tag);
  }
}
