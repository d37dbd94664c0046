// One NetRAID mirror on the primary: /dev/mdN, a RAID1 of the local partition and /dev/nbdN, the
// kernel's NBD client connected to the backup's export, with an internal write-intent bitmap.
// This is the I/O side: it creates the array, attaches the backup, reads the state from the
// kernel and, while watching, carries out what MirrorMachine (mirror-state.ts) decides on md's
// own events: a dead backup is dropped and retried, a returning one re-added so that only the
// chunks written meanwhile are copied. The NBD device is connected with a dead-connection hold:
// when the kernel reports the link dead, OutdateGate (outdate-gate.ts) decides when the held
// writes may proceed without the backup (after it recorded itself out of date, or was declared
// dead) or go to it over a new connection; this file carries that out too. Every kernel call has
// a time limit; none blocks the loop.
import { EventEmitter } from 'node:events';
import { realpath } from 'node:fs/promises';
import { posix } from 'node:path';

import { VigilError } from '../common/errors.js';
import type { BlockDevices, MdControl, MdEvent, MdMember, MdSyncStatus, MdWatcher, NbdControl } from '../platform/platform.js';
import type { BackupLink } from './backup-link.js';
import type { ReplicationConfig } from './config.js';
import { replicationError } from './errors.js';
import { classifyMirror, MirrorMachine, resyncKindOf, type MirrorAction, type MirrorView, type ResyncKind } from './mirror-state.js';
import { OutdateGate, type GateAction, type HoldEnd } from './outdate-gate.js';

/** How the primary reaches the backup's own record of being current (the kit's peer messages). */

/**
 * The TCP connect of a reconnect attempt (the back-off's, or during a link hold) is cut short:
 * one sent while the link was down may have lost its SYN, and Linux retransmits it only after
 * 1, 3, 7, 15 s..., so the attempt would sit in connect for up to the call limit after the link
 * came back. 3 s allow one retransmission; the next attempt follows at once when the backup's
 * system is seen again (backupReturned), else after the back-off. An administrator's own attach
 * keeps the whole call limit.
 */
export const RECONNECT_CONNECT_LIMIT_MS = 3_000;

export interface BackupFence {
  /** Asks the backup to record itself out of date; resolves once it confirmed (after its fsync). */
  outdate(reason: string): Promise<void>;
  /** Tells the backup it holds every acknowledged write again. */
  current(): Promise<void>;
  /** Membership declared the backup dead (and this system holds quorum, when a quorum mode is set). */
  declaredDead(): boolean;
}

/** How often a hold re-checks membership and retries. */
const HOLD_TICK_MS = 250;

export interface MirrorPlatform {
  md: MdControl;
  nbd: NbdControl;
  blockDevices: BlockDevices;
}

export interface MirrorSpec {
  /** The NetRAID number N: /dev/mdN over the local partition and /dev/nbdN. */
  number: number;
  localPartition: string;
  /** Names used in messages. */
  localSystem: string;
  backupSystem?: string;
  /** The slot the backup had in the array, once it was added (for a bitmap-based re-add). */
  backupSlot?: { number: number; raidDisk: number };
}

export interface MirrorStatus extends MirrorView {
  md: string;
  nbd: string;
  sync?: MdSyncStatus;
  members: MdMember[];
}

export interface MirrorEvents {
  state: [MirrorView];
  progress: [{ percent: number; doneSectors: number; totalSectors: number }];
  /** The backup stopped holding every acknowledged write (md already recorded it on the primary). */
  'backup-stale': [];
  'backup-current': [];
  /**
   * A resynchronization of the backup half began: md took it back (partial: the bitmap's dirty
   * chunks) or as a new member (full). Emitted once per add, whoever asked for it.
   */
  'resync-started': [{ kind: ResyncKind }];
  /** md reported the backup half in sync after a resync this object started, `ms` after its add. */
  'resync-done': [{ kind: ResyncKind; ms: number }];
  /** The backup slot changed (added or re-added): callers persist it for later re-adds. */
  'backup-slot': [{ number: number; raidDisk: number }];
  /** A step the watcher took failed; the mirror keeps its last known state. */
  error: [Error];
  /** The kernel began holding the backup half's writes (the link died). */
  'hold-started': [];
  /** A hold ended, and how. */
  'hold-ended': [{ how: HoldEnd; heldMs: number }];
  /** Something worth logging about a hold. */
  notice: [{ level: 'info' | 'warn' | 'error'; message: string }];
}

/** Why a device name: md reports members by kernel name ('vdb', 'nbd0'). */
async function kernelName(devicePath: string): Promise<string> {
  if (devicePath === '') return '';
  return posix.basename(await realpath(devicePath).catch(() => devicePath));
}

export class Mirror extends EventEmitter<MirrorEvents> {
  readonly md: string;
  readonly nbdIndex: number;
  readonly nbdDevice: string;
  private machine: MirrorMachine;
  private watcher: MdWatcher | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private localName: string | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private closed = false;
  private backupSlot: { number: number; raidDisk: number } | undefined;
  private readonly gate: OutdateGate;
  private linkWatcher: { close(): void } | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  private holdReconnectTimer: NodeJS.Timeout | undefined;
  /** A reconnect attempt (attachBackup from the back-off timer) is under way. */
  private attempting = false;
  private returnedDuringAttempt = false;
  /** The resync the last add started, until md reports the backup in sync (its duration). */
  private resync: { kind: ResyncKind; startedAt: number } | undefined;

  constructor(
    private readonly platform: MirrorPlatform,
    private readonly spec: MirrorSpec,
    private readonly config: ReplicationConfig,
    private readonly link?: BackupLink,
    private readonly fence?: BackupFence,
  ) {
    super();
    if (!Number.isInteger(spec.number) || spec.number < 0 || spec.number > 255) throw new RangeError(`NetRAID number must be 0-255: ${spec.number}`);
    this.md = `/dev/md${spec.number}`;
    this.nbdIndex = spec.number;
    this.nbdDevice = `/dev/nbd${spec.number}`;
    this.backupSlot = spec.backupSlot;
    // Short enough that a backup returning after an outage is re-added within seconds.
    this.machine = new MirrorMachine({ reconnectDelayMs: 1000, maxReconnectDelayMs: 8000 });
    const backup = spec.backupSystem ?? link?.address ?? 'the backup';
    this.gate = new OutdateGate(
      {
        device: this.md,
        backup,
        holdBoundMs: config.linkHoldSec * 1000,
        outdateRetryMs: 1000,
        reconnectDelayMs: 500,
        maxReconnectDelayMs: 2000,
        releaseRetryMs: 1000,
      },
      `${spec.localSystem} lost its replication link to ${backup}; ${this.md} goes on without it`,
    );
  }

  /** Whether the kernel holds the backup half's writes now (the link died, the hold is on). */
  get holding(): boolean {
    return this.gate.holding;
  }

  private get t(): number {
    return this.config.callTimeoutMs;
  }

  /** The backup's slot in the array, once known. */
  get slot(): { number: number; raidDisk: number } | undefined {
    return this.backupSlot;
  }

  /** Whether the backup holds every write acknowledged so far, as far as md's events tell. */
  get backupIsCurrent(): boolean {
    return this.machine.backupIsCurrent;
  }

  /** Creates the array on the local partition alone (degraded until the backup is attached). */
  async create(): Promise<void> {
    if (await this.platform.md.exists(this.md, this.t)) throw replicationError(104010, [this.md, this.spec.localSystem], { reason: 'already exists' });
    try {
      await this.platform.md.create(
        { md: this.md, members: [this.spec.localPartition, 'missing'], bitmap: 'internal', bitmapChunkKiB: this.config.bitmapChunkKiB },
        this.t,
      );
    } catch (err) {
      throw replicationError(104024, [this.md], { reason: (err as Error).message }, err);
    }
    await this.applySpeedLimit();
  }

  /** md's resync ceiling from the configuration (104905 when sysfs refuses it). */
  async applySpeedLimit(): Promise<void> {
    try {
      await this.platform.md.setSyncSpeedMax(this.md, this.config.syncSpeedMaxKiB, this.t);
    } catch (err) {
      throw replicationError(104905, [`/sys/block/md${this.spec.number}/md/sync_speed_max`], { reason: (err as Error).message }, err);
    }
  }

  /**
   * Connects to the backup's export, checks that it is at least as large as the local partition,
   * hands the connection to /dev/nbdN and adds that to the array (a re-add when the backup was a
   * member before and the bitmap covers its absence; otherwise a full copy follows).
   * Called directly while watching, it supersedes a pending reconnect: that one would find the
   * device connected, release it and add the backup a second time, mid-copy.
   */
  async attachBackup(): Promise<'re-added' | 'added'> {
    if (!this.link) throw new VigilError(0, `mirror ${this.md} has no backup to attach`);
    const direct = !this.attempting;
    if (direct) clearTimeout(this.reconnectTimer);
    const target = this.spec.backupSystem ?? this.link.address;
    const local = await this.platform.blockDevices.info(this.spec.localPartition, this.t);
    const conn = await this.link.connect(this.t, direct ? {} : { connectLimitMs: RECONNECT_CONNECT_LIMIT_MS }).catch((err: unknown) => {
      throw replicationError(104012, [this.md, target, (err as Error).message], {}, err);
    });
    try {
      if (conn.sizeBytes < local.sizeBytes) {
        throw replicationError(104012, [
          this.md,
          target,
          `the target partition holds ${Math.floor(conn.sizeBytes / 1024)} KiB, less than the source partition's ${Math.floor(local.sizeBytes / 1024)} KiB`,
        ]);
      }
      // A failed backup md still lists (it only lets go of a member once its last I/O ended)
      // holds /dev/nbdN open; it goes first, then whatever connection the device still has.
      await this.removeFailedBackupMember();
      const status = await this.platform.nbd.status(this.nbdIndex, this.t);
      if (status.connected) await this.releaseNbd();
      await this.platform.nbd
        .attach(
          this.nbdIndex,
          conn.fd,
          {
            sizeBytes: conn.sizeBytes,
            transmissionFlags: conn.transmissionFlags,
            blockSize: conn.blockSize,
            ioTimeoutSec: this.config.nbdIoTimeoutSec,
            // A dead link holds the requests (md cannot acknowledge them) while the gate runs;
            // without a fence nobody would end the hold early, so there is none.
            deadConnTimeoutSec: this.fence ? this.config.linkHoldSec : 0,
            backend: `vigil:${target}`,
          },
          this.t,
        )
        .catch((err: unknown) => {
          throw replicationError(104033, [String(conn.sizeBytes), this.md, this.spec.localSystem], { reason: (err as Error).message }, err);
        });
    } finally {
      // The kernel holds its own reference once attached; ours goes either way.
      conn.release();
    }
    let how: 're-added' | 'added';
    try {
      how = await this.platform.md.add(this.md, this.nbdDevice, this.t, this.backupSlot);
      // Fail the backup on its first I/O error: without failfast, md answers a write error with
      // per-sector retries and a bad-block list, and keeps counting the backup as in sync.
      await this.platform.md.setMemberFlag(this.md, posix.basename(this.nbdDevice), 'failfast', this.t);
    } catch (err) {
      await this.platform.nbd.detach(this.nbdIndex, this.t).catch(() => undefined);
      throw replicationError(104012, [this.md, target, (err as Error).message], {}, err);
    }
    // Counted by what was asked of md, not guessed later from how much it copied.
    const kind = resyncKindOf(how);
    this.resync = { kind, startedAt: Date.now() };
    this.emit('resync-started', { kind });
    await this.rememberSlot();
    await this.applySpeedLimit();
    if (direct && this.watcher) await this.perform(this.machine.connected());
    return how;
  }

  private async rememberSlot(): Promise<void> {
    const backupName = posix.basename(this.nbdDevice);
    this.localName ??= await kernelName(this.spec.localPartition);
    const members = await this.platform.md.members(this.md, this.t);
    const member = members.find((m) => m.name === backupName);
    if (!member) return;
    // A recovering member has no role yet (raidDisk -1); its slot in a two-way mirror is the one
    // the local partition does not hold.
    const local = members.find((m) => m.name === this.localName);
    const raidDisk = member.raidDisk >= 0 ? member.raidDisk : local && local.raidDisk === 0 ? 1 : 0;
    const slot = { number: member.number, raidDisk };
    if (this.backupSlot?.number !== slot.number || this.backupSlot?.raidDisk !== slot.raidDisk) {
      this.backupSlot = slot;
      this.emit('backup-slot', slot);
    }
  }

  /** md's own rate of the running resync or recovery in bytes/s (sync_speed); 0 when none runs. */
  async resyncRate(): Promise<number> {
    if (!(await this.platform.md.exists(this.md, this.t))) return 0;
    const sync = await this.platform.md.syncStatus(this.md, this.t);
    const running = sync.action === 'resync' || sync.action === 'recover';
    return running && sync.speedKiB !== undefined ? sync.speedKiB * 1024 : 0;
  }

  /** The mirror as the kernel reports it now. */
  async status(): Promise<MirrorStatus> {
    this.localName ??= await kernelName(this.spec.localPartition);
    const exists = await this.platform.md.exists(this.md, this.t);
    const members = exists ? await this.platform.md.members(this.md, this.t) : [];
    const sync = exists ? await this.platform.md.syncStatus(this.md, this.t) : undefined;
    const view = classifyMirror({ exists, members, sync, localName: this.localName, backupName: posix.basename(this.nbdDevice) });
    return { ...view, md: this.md, nbd: this.nbdDevice, sync, members };
  }

  /**
   * Follows md's events from now on: each one re-reads the state and feeds MirrorMachine, whose
   * actions are carried out here (drop a failed backup, reconnect with back-off, report).
   */
  async watch(): Promise<void> {
    if (this.watcher) return;
    this.localName ??= await kernelName(this.spec.localPartition);
    // Array-level attributes only: a member's dev-*/state exists only while it is a member, and
    // md notifies `degraded`, `array_state` and `sync_action` on every member change anyway.
    this.watcher = this.platform.md.watch(this.md, [], (e) => this.onMdEvent(e));
    if (this.fence && this.link) {
      this.linkWatcher = this.platform.nbd.watchLinkDead(
        (index) => {
          if (index === this.nbdIndex) this.onLinkDead();
        },
        (err) => this.emit('error', replicationError(104904, [], { device: this.nbdDevice, reason: `the kernel's link-dead notices cannot be followed: ${err.message}` }, err)),
      );
    }
    await this.refresh();
  }

  // ---- the link hold (outdate-gate.ts) ----

  private onLinkDead(): void {
    if (this.closed) return;
    // A half md already failed is being dropped: nothing of it is held. Any other state holds
    // (a half md has not reported yet was just added: it is not current, and goes at once).
    const backup = this.machine.view?.backup;
    if (backup === 'failed' || this.gate.holding) return;
    const actions = this.gate.linkDead(Date.now(), this.machine.backupIsCurrent && backup === 'in-sync');
    if (!this.gate.holding) return;
    this.emit('hold-started');
    clearInterval(this.holdTimer);
    this.holdTimer = setInterval(() => {
      if (!this.gate.holding) {
        clearInterval(this.holdTimer);
        this.holdTimer = undefined;
        return;
      }
      this.doGate(this.gate.tick(Date.now(), this.fence?.declaredDead() ?? false));
    }, HOLD_TICK_MS);
    this.holdTimer.unref();
    this.doGate(actions);
  }

  private doGate(actions: GateAction[]): void {
    for (const a of actions) {
      if (this.closed) return;
      this.gateAction(a);
    }
  }

  private gateAction(a: GateAction): void {
    const t = this.t;
    switch (a.kind) {
      case 'send-outdate':
        if (!this.fence) break;
        this.fence.outdate(a.reason).then(
          () => this.doGate(this.gate.outdateAcked()),
          (err: Error) => this.doGate(this.gate.outdateFailed(Date.now(), err.message)),
        );
        break;
      case 'try-reconnect':
        clearTimeout(this.holdReconnectTimer);
        this.holdReconnectTimer = setTimeout(() => void this.holdReconnect(), a.delayMs);
        this.holdReconnectTimer.unref();
        break;
      case 'reconfigure':
      case 'discard-connection':
        // Handled in holdReconnect, which holds the connection.
        break;
      case 'release':
        this.platform.nbd.detach(this.nbdIndex, t).then(
          () => this.doGate(this.gate.released(Date.now())),
          (err: Error) => this.doGate(this.gate.releaseFailed(Date.now(), err.message)),
        );
        break;
      case 'assert-current':
        this.fence?.current().catch((err: Error) => this.emit('notice', { level: 'warn', message: `${this.md}: telling the backup it is current again: ${err.message}` }));
        break;
      case 'hold-ended':
        this.emit('hold-ended', { how: a.how, heldMs: a.heldMs });
        break;
      case 'log':
        this.emit('notice', { level: a.level, message: a.message });
        break;
    }
  }

  /** One reconnect attempt during a hold: a new connection replaces the dead one in the kernel. */
  private async holdReconnect(): Promise<void> {
    if (this.closed || !this.link || !this.gate.reconnectStarting()) return;
    let conn;
    try {
      conn = await this.link.connect(this.t, { connectLimitMs: RECONNECT_CONNECT_LIMIT_MS });
    } catch {
      this.doGate(this.gate.reconnectFailed());
      return;
    }
    try {
      const next = this.gate.linkBack();
      if (!next.some((x) => x.kind === 'reconfigure')) return;
      try {
        await this.platform.nbd.reconnect(this.nbdIndex, conn.fd, this.t);
      } catch (err) {
        this.emit('notice', { level: 'warn', message: `${this.md}: handing the new connection to ${this.nbdDevice}: ${(err as Error).message}` });
        this.doGate(this.gate.reconnectFailed());
        return;
      }
      this.doGate(this.gate.reconnected(Date.now()));
    } finally {
      conn.release();
    }
  }

  private onMdEvent(event: MdEvent): void {
    if (this.closed) return;
    if (event.attribute === 'sync_completed' && event.value) {
      const m = /^(\d+)\s*\/\s*(\d+)$/.exec(event.value);
      if (m && Number(m[2]) > 0) {
        const doneSectors = Number(m[1]);
        const totalSectors = Number(m[2]);
        this.emit('progress', { percent: Math.floor((doneSectors * 100) / totalSectors), doneSectors, totalSectors });
      }
    }
    void this.refresh();
  }

  /** Re-reads the kernel's state; events that arrive meanwhile cause one more read after it. */
  private refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        try {
          const status = await this.status();
          // md failed the backup half while the gate still held it: the kernel's bound passed.
          if (this.gate.holding && (status.backup === 'failed' || status.backup === 'missing')) this.doGate(this.gate.legFailed(Date.now()));
          await this.perform(this.machine.observe(status));
        } catch (err) {
          this.emit('error', err as Error);
        }
      } while (this.refreshAgain && !this.closed);
      this.refreshing = undefined;
    })();
    return this.refreshing;
  }

  private async perform(actions: MirrorAction[]): Promise<void> {
    for (const a of actions) {
      if (this.closed) return;
      // One failed action (md refusing to let go of a member still finishing I/O) must not
      // swallow the ones after it, such as the reconnect: report it and go on.
      try {
        await this.performOne(a);
      } catch (err) {
        this.emit('error', err as Error);
      }
    }
  }

  private async performOne(a: MirrorAction): Promise<void> {
    switch (a.kind) {
      case 'mark-backup-stale':
        this.emit('backup-stale');
        break;
      case 'mark-backup-current':
        if (this.resync) {
          const { kind, startedAt } = this.resync;
          this.resync = undefined;
          this.emit('resync-done', { kind, ms: Date.now() - startedAt });
        }
        this.emit('backup-current');
        break;
      case 'report':
        this.emit('state', a.view);
        break;
      case 'drop-backup':
        await this.dropBackup();
        break;
      case 'reconnect-backup':
        this.scheduleReconnect(a.delayMs);
        break;
    }
  }


  private scheduleReconnect(delayMs: number): void {
    if (!this.link || this.closed) {
      this.machine.stopReconnecting();
      return;
    }
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.attempting = true;
      this.attachBackup().then(
        async () => {
          this.attempting = false;
          this.returnedDuringAttempt = false;
          await this.perform(this.machine.connected());
          void this.refresh();
        },
        async () => {
          this.attempting = false;
          // The backup came back while this attempt was failing: retry soon, not after the back-off.
          const returned = this.returnedDuringAttempt;
          this.returnedDuringAttempt = false;
          await this.perform(returned ? this.machine.backupReturned() : this.machine.connectFailed());
        },
      );
    }, delayMs);
    this.reconnectTimer.unref();
  }

  /**
   * Membership saw the backup's system alive again: a pending reconnect is moved up to the first
   * back-off delay (an attempt under way is left to finish; if it fails, the retry comes as soon).
   */
  backupReturned(): void {
    if (this.closed) return;
    if (this.attempting) {
      this.returnedDuringAttempt = true;
      return;
    }
    void this.perform(this.machine.backupReturned());
  }

  private async removeFailedBackupMember(): Promise<void> {
    if (!(await this.platform.md.exists(this.md, this.t))) return;
    const backupName = posix.basename(this.nbdDevice);
    const member = (await this.platform.md.members(this.md, this.t)).find((m) => m.name === backupName);
    if (member?.faulty) await this.platform.md.hotRemove(this.md, member.dev, this.t);
  }

  /** Takes the backup out of the array (failing it first if md still counts it) and frees /dev/nbdN. */
  async dropBackup(): Promise<void> {
    if (await this.platform.md.exists(this.md, this.t)) {
      const backupName = posix.basename(this.nbdDevice);
      const member = (await this.platform.md.members(this.md, this.t)).find((m) => m.name === backupName);
      if (member) {
        if (!member.faulty) await this.platform.md.setFaulty(this.md, member.dev, this.t);
        await this.platform.md.hotRemove(this.md, member.dev, this.t);
      }
    }
    await this.releaseNbd();
  }

  private async releaseNbd(): Promise<void> {
    try {
      if ((await this.platform.nbd.status(this.nbdIndex, this.t)).connected) await this.platform.nbd.detach(this.nbdIndex, this.t);
    } catch (err) {
      throw replicationError(104904, [], { device: this.nbdDevice, reason: (err as Error).message }, err);
    }
  }

  /** Stops following events and reconnecting; the array and the device stay as they are. */
  close(): void {
    this.closed = true;
    this.machine.stopReconnecting();
    clearTimeout(this.reconnectTimer);
    clearInterval(this.holdTimer);
    clearTimeout(this.holdReconnectTimer);
    this.watcher?.close();
    this.watcher = undefined;
    this.linkWatcher?.close();
    this.linkWatcher = undefined;
  }

  /** Takes the mirror down: stops the array and frees the NBD device. */
  async delete(): Promise<void> {
    const held = this.gate.holding;
    this.close();
    // Held writes would keep md from stopping: the device lets them fail first.
    if (held) await this.releaseNbd();
    if (await this.platform.md.exists(this.md, this.t)) {
      try {
        await this.platform.md.stop(this.md, this.t);
      } catch (err) {
        throw replicationError(104004, [this.md, `netraid${this.spec.number}`, this.spec.localSystem], { reason: (err as Error).message }, err);
      }
    }
    await this.releaseNbd();
  }
}
