// I/O-free decision of what the primary does while the kernel holds the backup half's writes.
// The NBD device is connected with a dead-connection hold (NBD_ATTR_DEAD_CONN_TIMEOUT): when the
// link to the backup dies the kernel queues the requests instead of failing them, so md cannot
// acknowledge a write the backup did not get. This gate decides when the hold ends:
//  - the backup acknowledged (after its fsync) that it is out of date: release the leg, md
//    fails it and writes go on the local half alone;
//  - the replication link came back first: hand the device a new connection, nothing degrades;
//  - the backup cannot be reached: release only once membership has declared it dead (and this
//    system holds quorum, when a quorum mode is configured);
//  - vigild did none of these in time: the kernel fails the leg on its own after the hold bound
//    (kernel-timeout), the one window left, reported as an error.
// A backup already out of date (resyncing, or never current) holds nothing back: released at once.
// The driver (mirror.ts) performs the actions and reports their outcomes with the methods below.

/** How a hold ended (the label of vigil_replication_link_holds_total). */
export type HoldEnd = 'backup-acknowledged' | 'backup-dead' | 'reconnected' | 'kernel-timeout' | 'backup-not-current';

export const HOLD_ENDS: HoldEnd[] = ['backup-acknowledged', 'backup-dead', 'reconnected', 'kernel-timeout', 'backup-not-current'];

export type GateAction =
  /** Ask the backup to record itself out of date durably; report outdateAcked()/outdateFailed(). */
  | { kind: 'send-outdate'; reason: string }
  /** Try to reach the backup's export again after delayMs; report linkBack()/reconnectFailed(). */
  | { kind: 'try-reconnect'; delayMs: number }
  /** Hand the new connection to the held NBD device; report reconnected()/reconnectFailed(). */
  | { kind: 'reconfigure' }
  /** Drop the connection linkBack() offered: the hold is ending another way. */
  | { kind: 'discard-connection' }
  /** Let the kernel fail the held requests (NBD disconnect); report released()/releaseFailed(). */
  | { kind: 'release' }
  /** An out-of-date request may have reached the backup, yet nothing degraded: it is current again. */
  | { kind: 'assert-current' }
  | { kind: 'hold-ended'; how: HoldEnd; heldMs: number }
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; message: string };

export interface OutdateGateOptions {
  /** Names for messages. */
  device: string;
  backup: string;
  /** The kernel's hold bound (dead-connection time-out), for messages. */
  holdBoundMs: number;
  /** Wait before asking the backup again after an unanswered out-of-date request. */
  outdateRetryMs: number;
  /** First and largest wait between reconnect attempts. */
  reconnectDelayMs: number;
  maxReconnectDelayMs: number;
  /** Wait before a failed release (NBD disconnect) is tried again. */
  releaseRetryMs: number;
}

type Outdate = 'sending' | 'acked' | 'failed';
type Reconnect = 'waiting' | 'connecting' | 'reconfiguring';

interface Held {
  since: number;
  outdate: Outdate;
  outdateRetryAt: number;
  /** An out-of-date request was sent during this hold (it may have arrived even if unanswered). */
  outdateSent: boolean;
  reconnect: Reconnect;
  reconnectDelay: number;
  /** Set once the gate decided to release: why, and when to retry a failed release. */
  releasing?: { how: HoldEnd; retryAt?: number };
}

export class OutdateGate {
  private held: Held | undefined;
  private readonly reason: string;

  constructor(
    private readonly o: OutdateGateOptions,
    reason: string,
  ) {
    this.reason = reason;
  }

  /** Whether the kernel is holding the backup half's requests on our account. */
  get holding(): boolean {
    return this.held !== undefined;
  }

  /** When the current hold began (undefined when none). */
  get heldSince(): number | undefined {
    return this.held?.since;
  }

  /**
   * The kernel reports the connection dead (its requests are held from now on). `backupCurrent`:
   * whether the backup is still recorded as holding every acknowledged write.
   */
  linkDead(now: number, backupCurrent: boolean): GateAction[] {
    if (this.held) return [];
    if (!backupCurrent) {
      this.held = { since: now, outdate: 'acked', outdateRetryAt: 0, outdateSent: false, reconnect: 'waiting', reconnectDelay: 0, releasing: { how: 'backup-not-current' } };
      return [{ kind: 'log', level: 'info', message: `${this.o.device}: the link to ${this.o.backup} died while the backup is not current; its half is released at once` }, { kind: 'release' }];
    }
    this.held = {
      since: now,
      outdate: 'sending',
      outdateRetryAt: 0,
      outdateSent: true,
      reconnect: 'waiting',
      reconnectDelay: this.o.reconnectDelayMs,
    };
    return [
      {
        kind: 'log',
        level: 'warn',
        message: `${this.o.device}: the link to ${this.o.backup} died; writes are held (at most ${Math.round(this.o.holdBoundMs / 1000)} s) until ${this.o.backup} records itself out of date, the link returns or ${this.o.backup} is declared dead`,
      },
      { kind: 'send-outdate', reason: this.reason },
      { kind: 'try-reconnect', delayMs: 0 },
    ];
  }

  /** The backup answered: its out-of-date mark is on its disk. */
  outdateAcked(): GateAction[] {
    const h = this.held;
    if (!h || h.releasing) return [];
    h.outdate = 'acked';
    return this.startRelease(h, 'backup-acknowledged');
  }

  /** The out-of-date request got no answer (unreachable, timed out): asked again later. */
  outdateFailed(now: number, why: string): GateAction[] {
    const h = this.held;
    if (!h || h.releasing || h.outdate !== 'sending') return [];
    h.outdate = 'failed';
    h.outdateRetryAt = now + this.o.outdateRetryMs;
    return [{ kind: 'log', level: 'warn', message: `${this.o.device}: ${this.o.backup} did not confirm it is out of date (${why}); writes stay held` }];
  }

  /** A new connection to the backup's export is ready. */
  linkBack(): GateAction[] {
    const h = this.held;
    if (!h || h.releasing || h.reconnect !== 'connecting') return [{ kind: 'discard-connection' }];
    h.reconnect = 'reconfiguring';
    return [{ kind: 'reconfigure' }];
  }

  /** A reconnect attempt (connect or reconfigure) failed: try again later, backing off. */
  reconnectFailed(): GateAction[] {
    const h = this.held;
    if (!h || h.releasing) return [];
    h.reconnect = 'waiting';
    const delayMs = h.reconnectDelay;
    h.reconnectDelay = Math.min(h.reconnectDelay * 2, this.o.maxReconnectDelayMs);
    return [{ kind: 'try-reconnect', delayMs }];
  }

  /** The driver starts the attempt try-reconnect asked for. Returns false when it is no longer wanted. */
  reconnectStarting(): boolean {
    const h = this.held;
    if (!h || h.releasing || h.reconnect !== 'waiting') return false;
    h.reconnect = 'connecting';
    return true;
  }

  /** The held device has its new connection: the held requests go to the backup, nothing degraded. */
  reconnected(now: number): GateAction[] {
    const h = this.held;
    if (!h) return [];
    if (h.releasing) return [];
    this.held = undefined;
    const out: GateAction[] = [
      { kind: 'log', level: 'info', message: `${this.o.device}: the link to ${this.o.backup} is back after ${now - h.since} ms; the mirror did not degrade` },
      { kind: 'hold-ended', how: 'reconnected', heldMs: now - h.since },
    ];
    // An unanswered request may still have been recorded: every acknowledged write is on the
    // backup (none was acknowledged while held), so it is current, and is told so.
    if (h.outdateSent) out.push({ kind: 'assert-current' });
    return out;
  }

  /** The NBD disconnect went through: the kernel fails the held requests, md fails the leg. */
  released(now: number): GateAction[] {
    const h = this.held;
    if (!h?.releasing) return [];
    this.held = undefined;
    return [{ kind: 'hold-ended', how: h.releasing.how, heldMs: now - h.since }];
  }

  releaseFailed(now: number, why: string): GateAction[] {
    const h = this.held;
    if (!h?.releasing) return [];
    h.releasing.retryAt = now + this.o.releaseRetryMs;
    return [{ kind: 'log', level: 'error', message: `${this.o.device}: releasing the backup half failed (${why}); trying again` }];
  }

  /**
   * md failed the backup half. During a release that is its effect; during a hold it means the
   * kernel's bound passed first: the backup may not know it is out of date.
   */
  legFailed(now: number): GateAction[] {
    const h = this.held;
    if (!h || h.releasing) return [];
    this.held = undefined;
    return [
      {
        kind: 'log',
        level: 'error',
        message: `${this.o.device}: the kernel failed the backup half after its hold bound (${now - h.since} ms) before ${this.o.backup} confirmed it is out of date or was declared dead; writes were acknowledged on this system alone, and ${this.o.backup} may still believe it is current`,
      },
      { kind: 'hold-ended', how: 'kernel-timeout', heldMs: now - h.since },
    ];
  }

  /** Periodic: `backupDead` is membership's verdict on the backup (and this system's quorum). */
  tick(now: number, backupDead: boolean): GateAction[] {
    const h = this.held;
    if (!h) return [];
    if (h.releasing) {
      if (h.releasing.retryAt !== undefined && now >= h.releasing.retryAt) {
        h.releasing.retryAt = undefined;
        return [{ kind: 'release' }];
      }
      return [];
    }
    if (backupDead) {
      return [
        { kind: 'log', level: 'warn', message: `${this.o.device}: ${this.o.backup} is declared dead; its half is released and writes go on here alone` },
        ...this.startRelease(h, 'backup-dead'),
      ];
    }
    if (h.outdate === 'failed' && now >= h.outdateRetryAt) {
      h.outdate = 'sending';
      return [{ kind: 'send-outdate', reason: this.reason }];
    }
    return [];
  }

  private startRelease(h: Held, how: HoldEnd): GateAction[] {
    h.releasing = { how };
    return [{ kind: 'release' }];
  }
}
