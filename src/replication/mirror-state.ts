// I/O-free judgement of a NetRAID mirror: what md reports (members, sync action, progress) is
// classified into one state, the state into netraid_status's number, and md's change events
// into the actions that keep the mirror safe (mark the backup out of date at once, drop a dead
// backup, take a returning backup back). Nothing here touches the kernel; mirror.ts does.
import type { MdMember, MdSyncStatus } from '../platform/platform.js';

/**
 * absent: no such md device. mirroring: both halves in sync. resyncing: the backup is being
 * copied to. degraded: the backup is missing, failed or waits for a copy; the primary serves
 * alone. primary-failed: the local disk failed and the backup is a complete copy.
 * primary-failed-unsynced: the local disk failed and the backup is not a complete copy.
 */
export type MirrorState = 'absent' | 'mirroring' | 'resyncing' | 'degraded' | 'primary-failed' | 'primary-failed-unsynced';

/**
 * What a resynchronization of the backup half copies, by what Vigil asked md for: partial when
 * the backup was re-added in its old role (md copies only the chunks its write-intent bitmap
 * marked dirty while the backup was away), full when it was added as a new member (a new mirror,
 * a former member back after a takeover, or md refusing the re-add: everything is copied).
 */
export type ResyncKind = 'partial' | 'full';

export function resyncKindOf(how: 're-added' | 'added'): ResyncKind {
  return how === 're-added' ? 'partial' : 'full';
}

export interface MirrorFacts {
  exists: boolean;
  members: MdMember[];
  sync?: MdSyncStatus;
  /** Kernel names of the two halves: the local partition ('vdb'; '' when unknown) and the NBD device ('nbd0'). */
  localName: string;
  backupName: string;
}

export interface MirrorView {
  state: MirrorState;
  /** Percent of the running resync or recovery (0-100); 100 when mirroring. */
  percent: number;
  local: 'in-sync' | 'failed' | 'missing';
  backup: 'in-sync' | 'syncing' | 'failed' | 'missing';
}

/** Classifies md's facts. A member whose device vanished (name undefined) counts as failed. */
export function classifyMirror(f: MirrorFacts): MirrorView {
  if (!f.exists) return { state: 'absent', percent: 0, local: 'missing', backup: 'missing' };
  // Without a record of the local partition ('' ), the local half is the member that is not the NBD device.
  const local = f.members.find((m) => (f.localName ? m.name === f.localName : m.name !== f.backupName));
  const backup = f.members.find((m) => m.name === f.backupName);
  const vanished = f.members.some((m) => m.name === undefined);
  // RAID1 never marks its last working member faulty; md says 'broken' instead (array_state).
  const broken = /broken/.test(f.sync?.arrayState ?? '');
  // So is a member with recorded bad blocks: some of its data could not be written.
  const localStatus: MirrorView['local'] =
    local === undefined ? (vanished ? 'failed' : 'missing') : local.faulty || broken || local.badBlocks > 0 ? 'failed' : 'in-sync';
  const action = f.sync?.action ?? 'idle';
  const running = action === 'resync' || action === 'recover';
  const progress = f.sync?.completed;
  // Begun means at least 1: 0 is reserved for "not begun".
  const percent =
    running && progress && progress.totalSectors > 0 && progress.doneSectors > 0
      ? Math.max(1, Math.min(99, Math.floor((progress.doneSectors * 100) / progress.totalSectors)))
      : 0;
  let backupStatus: MirrorView['backup'];
  if (backup === undefined) backupStatus = 'missing';
  else if (backup.faulty || broken || backup.badBlocks > 0) backupStatus = 'failed';
  else if (!backup.sync || (running && action === 'recover')) backupStatus = 'syncing';
  else backupStatus = running ? 'syncing' : 'in-sync';
  if (localStatus !== 'in-sync') {
    // Reads and writes go to the backup alone now: it is whole only if it was in sync before.
    return { state: backupStatus === 'in-sync' ? 'primary-failed' : 'primary-failed-unsynced', percent, local: localStatus, backup: backupStatus };
  }
  if (backupStatus === 'in-sync') return { state: 'mirroring', percent: 100, local: localStatus, backup: backupStatus };
  if (backupStatus === 'syncing' && running) return { state: 'resyncing', percent, local: localStatus, backup: backupStatus };
  return { state: 'degraded', percent: 0, local: localStatus, backup: backupStatus };
}

/**
 * netraid_status's number: -3 primary failed and backup not in sync, -2 primary failed and
 * backup whole, -1 no such device, 0 resync not begun, 1-99 resync progress, 100 in sync.
 */
export function netraidStatusCode(view: MirrorView): number {
  switch (view.state) {
    case 'absent':
      return -1;
    case 'primary-failed':
      return -2;
    case 'primary-failed-unsynced':
      return -3;
    case 'mirroring':
      return 100;
    case 'resyncing':
      return view.percent === 0 ? 0 : Math.max(1, Math.min(99, view.percent));
    case 'degraded':
      return 0;
  }
}

/** What a shell sees as the exit status of a netraid_status number (-1 is 255, -2 254, -3 253). */
export function exitStatusOf(code: number): number {
  return ((code % 256) + 256) % 256;
}

/** The seeds' status words for netraid_info. */
export function statusWord(view: MirrorView): string {
  switch (view.state) {
    case 'mirroring':
      return 'Mirroring';
    case 'resyncing':
      return `Resync [${view.percent}%]`;
    default:
      return 'Broken';
  }
}

// ---- reacting to md's events ---------------------------------------------------------------

/** What the mirror's driver must do next, in order. */
export type MirrorAction =
  /** Record that the backup no longer holds every acknowledged write (before anything else). */
  | { kind: 'mark-backup-stale' }
  /** The backup finished its copy: it may be promoted again. */
  | { kind: 'mark-backup-current' }
  /** Take the failed backup out of the array and let go of its NBD device. */
  | { kind: 'drop-backup' }
  /** Try to reach the backup again (after `delayMs`). */
  | { kind: 'reconnect-backup'; delayMs: number }
  /** Report a state change. */
  | { kind: 'report'; view: MirrorView };

export interface MirrorMachineOptions {
  /** First delay between reconnect attempts; doubles up to maxReconnectDelayMs. */
  reconnectDelayMs: number;
  maxReconnectDelayMs: number;
}

/**
 * Drives the reaction to md's events: step(view) with each new classification, step of the
 * driver's outcomes with connected()/connectFailed(). Returns the actions to perform. The
 * backup is marked stale the moment md stops counting it as in sync, which is before md
 * acknowledges the next write that reaches only the primary.
 */
export class MirrorMachine {
  private last: MirrorView | undefined;
  private backupCurrent = true;
  private reconnectDelay: number;
  private reconnecting = false;

  constructor(private readonly options: MirrorMachineOptions) {
    this.reconnectDelay = options.reconnectDelayMs;
  }

  /** Whether the backup holds every acknowledged write (as far as this machine has seen). */
  get backupIsCurrent(): boolean {
    return this.backupCurrent;
  }

  get view(): MirrorView | undefined {
    return this.last;
  }

  observe(view: MirrorView): MirrorAction[] {
    const actions: MirrorAction[] = [];
    const prev = this.last;
    this.last = view;
    if (view.backup !== 'in-sync' && this.backupCurrent) {
      this.backupCurrent = false;
      actions.push({ kind: 'mark-backup-stale' });
    }
    if (view.state === 'mirroring' && !this.backupCurrent) {
      this.backupCurrent = true;
      this.reconnectDelay = this.options.reconnectDelayMs;
      actions.push({ kind: 'mark-backup-current' });
    }
    // A failed backup (dead server, cut link past the NBD time-out) is dropped and retried; a
    // failed local disk is not the backup's business: the primary keeps running on the backup.
    if (view.backup === 'failed' && view.local === 'in-sync') actions.push({ kind: 'drop-backup' });
    if ((view.backup === 'failed' || view.backup === 'missing') && view.local === 'in-sync' && !this.reconnecting) {
      this.reconnecting = true;
      actions.push({ kind: 'reconnect-backup', delayMs: this.reconnectDelay });
    }
    if (!prev || prev.state !== view.state || prev.backup !== view.backup || prev.local !== view.local || prev.percent !== view.percent) {
      actions.push({ kind: 'report', view });
    }
    return actions;
  }

  /** The backup was attached and re-added: wait for md's events to say how the copy goes. */
  connected(): MirrorAction[] {
    this.reconnecting = false;
    this.reconnectDelay = this.options.reconnectDelayMs;
    return [];
  }

  /** A reconnect attempt failed: try again later, backing off. */
  connectFailed(): MirrorAction[] {
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.options.maxReconnectDelayMs);
    return [{ kind: 'reconnect-backup', delayMs: this.reconnectDelay }];
  }

  /**
   * Membership saw the backup's system alive again. While reconnecting, the next attempt comes
   * after the first delay instead of at the end of the back-off its absence built up (up to
   * maxReconnectDelayMs more of running unprotected after it returned).
   */
  backupReturned(): MirrorAction[] {
    if (!this.reconnecting) return [];
    this.reconnectDelay = this.options.reconnectDelayMs;
    return [{ kind: 'reconnect-backup', delayMs: this.reconnectDelay }];
  }

  /** Stop trying (the mirror is being taken down). */
  stopReconnecting(): void {
    this.reconnecting = false;
  }
}
