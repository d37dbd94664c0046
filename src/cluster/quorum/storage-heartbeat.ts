// The storage heartbeat of QUORUM_MODE=storage and WITNESS_MODE=storage: every
// QWK_STORAGE_HBEATTIME this system writes its authenticated record into its slot of the quorum
// area of QUORUM_DISK (QUORUM_AREA_OFFSET; the DISK comm path's record layout, disk-record.ts,
// with the quorum key) and reads every slot; each round is reported (onRound) for the pure side
// (storage-watch.ts, gate.ts, storage-witness.ts) to judge.
//
// I/O is the DISK comm path's (openDiskIo): SG_IO READ(16)/WRITE(16) with FUA on a SCSI LUN,
// O_DIRECT where SG_IO does not apply (a loop device). Every command runs on a thread of its own
// with a time limit (half an interval); a round still in the kernel makes the next one skip.
//
// With a fence (QUORUM_MODE=storage) the round also registers this system's key (ScsiFence.join)
// and checks it is still registered. Once the key is gone (another system evicted it, or a write
// met RESERVATION CONFLICT) the system is fenced: it stops writing its record — so the winner
// sees it stand still even where the LUN would not refuse the write — and does not register
// again until it has rejoined the cluster (the fence's latch, fed by memberSince).
import { performance } from 'node:perf_hooks';

import { type DiskAreaOptions, type DiskIo, openDiskIo, SLOT_GRACE_INTERVALS } from '../disk-path.js';
import { chooseSlot, decodeHeader, decodeRecord, type DiskRecord, encodeHeader, encodeRecord, HEADER_BYTES, headerProblem, QUORUM_AREA_OFFSET, SLOT_BYTES, SLOT_COUNT } from '../disk-record.js';
import type { ScsiFence } from '../../fencing/scsi-fence.js';
import { ScsiReservationConflictError } from '../../platform/scsi/errors.js';

export interface StorageRound {
  /** Monotonic time the round's write was issued; undefined when nothing was written. */
  wroteAtMs: number | undefined;
  /** Monotonic time the read of the slots completed; undefined when it failed. */
  readAtMs: number | undefined;
  /** Authentic records of the other systems (when the read succeeded). */
  records: DiskRecord[];
  /** Why this system is fenced off the LUN, if it is. */
  fenced: string | undefined;
  /** What failed in this round, if anything did. */
  error: string | undefined;
}

/** The device, identity and pace as a DISK comm path's area has them (the I/O time limit is half an interval). */
export interface StorageHeartbeatOptions extends Pick<DiskAreaOptions, 'device' | 'localSystem' | 'bootId' | 'recordKey' | 'platform' | 'intervalMs'> {
  /** Present with QUORUM_MODE=storage: the key on the LUN decides who may write. */
  fence?: ScsiFence;
  onRound: (r: StorageRound) => void;
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  now?: () => number;
}

export class StorageHeartbeat {
  private io: DiskIo | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private seq = 0n;
  private mySlot: number | undefined;
  private joined = false;
  /** Wall time of the last check that found this system's key registered. */
  private registeredSeenAt: number | undefined;
  private readonly slotSeen = new Map<number, { system: string; bootId: bigint; seq: bigint; changedAt: number }>();
  private lastError: string | undefined;
  private readonly now: () => number;

  constructor(readonly o: StorageHeartbeatOptions) {
    this.now = o.now ?? (() => performance.now());
  }

  /** Time limit of one command: half an interval, so a round of four stays near one interval. */
  get ioTimeoutMs(): number {
    return Math.max(100, this.o.intervalMs / 2);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.round(), this.o.intervalMs);
    void this.round();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** 'SG_IO: ...' / 'O_DIRECT: ...', or 'opening'. */
  describe(): string {
    return this.io ? `${this.io.mode}: ${this.io.note}${this.mySlot === undefined ? '' : `, slot ${this.mySlot}`}` : 'opening';
  }

  /** One round: write our record (unless fenced), read every slot, check our key. Exposed for tests. */
  async round(): Promise<StorageRound | undefined> {
    if (this.busy) return undefined; // the last round is still in the kernel: never pile up commands
    this.busy = true;
    let r: StorageRound;
    try {
      r = await this.roundOnce();
    } catch (err) {
      r = { wroteAtMs: undefined, readAtMs: undefined, records: [], fenced: this.fencedReason(), error: (err as Error).message };
    } finally {
      this.busy = false;
    }
    if (r.error && r.error !== this.lastError) this.o.log('warn', `storage heartbeat on ${this.o.device} failed: ${r.error}`, { device: this.o.device });
    else if (!r.error && this.lastError) this.o.log('info', `storage heartbeat on ${this.o.device} works again`, { device: this.o.device });
    this.lastError = r.error;
    this.o.onRound(r);
    return r;
  }

  private fencedReason(): string | undefined {
    const f = this.o.fence?.fencedOff(this.o.device);
    return f ? f.reason : undefined;
  }

  private async roundOnce(): Promise<StorageRound> {
    const { o } = this;
    const t = this.ioTimeoutMs;
    if (!this.io) {
      const io = await openDiskIo(o.device, o.platform, t, QUORUM_AREA_OFFSET);
      if (o.fence && io.mode !== 'SG_IO') {
        // Without persistent reservations nothing decides between two sides that both still write.
        throw new Error(`QUORUM_MODE=storage needs SCSI-3 persistent reservations on ${o.device}, which is no SCSI device (${io.note}); use a SCSI LUN, or WITNESS_MODE=storage with another QUORUM_MODE`);
      }
      const header = decodeHeader(await io.read(QUORUM_AREA_OFFSET, HEADER_BYTES));
      if (!header) await io.write(QUORUM_AREA_OFFSET, encodeHeader());
      else {
        const problem = headerProblem(header);
        if (problem) throw new Error(`quorum area: ${problem}`);
      }
      this.io = io;
      o.log('info', `storage heartbeat on ${o.device}: ${io.note}`, { device: o.device, io: io.mode });
    }
    const io = this.io;
    const fence = o.fence;
    if (fence && !this.joined) {
      // Register (refused while latched as fenced and not yet rejoined) and see that a reservation exists.
      if (!fence.fencedOff(o.device) || (await this.mayRejoin(fence))) {
        await fence.join(o.device);
        this.joined = true;
      }
    }
    if (fence && this.joined) {
      // A key found gone was removed at some moment after it was last seen registered: that is
      // when the fence counts from, so a rejoin that came before the fence was noticed (the
      // comm paths back before the storage link) lets this system register again.
      const verdict = await fence.check(o.device, this.registeredSeenAt);
      if (verdict.state === 'fenced') this.joined = false;
      else this.registeredSeenAt = Date.now();
    }
    const fenced = this.fencedReason();
    const raw = await io.read(QUORUM_AREA_OFFSET + HEADER_BYTES, SLOT_COUNT * SLOT_BYTES);
    const readAtMs = this.now();
    const records = this.decodeSlots(raw, readAtMs);
    let wroteAtMs: number | undefined;
    let error: string | undefined;
    if (fenced) {
      error = undefined;
    } else if (fence && !this.joined) {
      error = 'not registered on the quorum disk';
    } else {
      this.chooseMySlot(records, readAtMs);
      const issued = this.now();
      try {
        this.seq++;
        await io.write(QUORUM_AREA_OFFSET + HEADER_BYTES + this.mySlot! * SLOT_BYTES, encodeRecord(o.recordKey, { slot: this.mySlot!, system: o.localSystem, bootId: o.bootId, seq: this.seq, timeMs: Date.now(), state: 'running' }));
        wroteAtMs = issued;
      } catch (err) {
        if (!(err instanceof ScsiReservationConflictError) || !fence) throw err;
        fence.noteConflict(o.device, `RESERVATION CONFLICT on ${err.command} of the storage record`);
        this.joined = false;
      }
    }
    return { wroteAtMs, readAtMs, records: records.filter((r) => r.system !== o.localSystem), fenced: this.fencedReason(), error };
  }

  /** A latched system may register again once it rejoined (the fence's memberSince decides). */
  private async mayRejoin(fence: ScsiFence): Promise<boolean> {
    try {
      await fence.register(this.o.device);
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === 'EFENCELATCHED') return false;
      throw err;
    }
  }

  private decodeSlots(raw: Buffer, nowMs: number): DiskRecord[] {
    const out: DiskRecord[] = [];
    for (let s = 0; s < SLOT_COUNT; s++) {
      const d = decodeRecord(this.o.recordKey, raw.subarray(s * SLOT_BYTES, (s + 1) * SLOT_BYTES), s);
      if (!d.ok) continue;
      out.push(d.record);
      const seen = this.slotSeen.get(s);
      if (!seen || seen.system !== d.record.system || seen.bootId !== d.record.bootId || seen.seq !== d.record.seq) {
        this.slotSeen.set(s, { system: d.record.system, bootId: d.record.bootId, seq: d.record.seq, changedAt: nowMs });
      }
    }
    return out;
  }

  /** The slot rules of the DISK comm path (disk-record.ts chooseSlot). */
  private chooseMySlot(records: DiskRecord[], nowMs: number): void {
    const { o } = this;
    const busySlot = (s: number) => {
      const seen = this.slotSeen.get(s);
      return seen !== undefined && seen.system !== o.localSystem && nowMs - seen.changedAt < SLOT_GRACE_INTERVALS * o.intervalMs;
    };
    const slots: Array<DiskRecord | undefined> = new Array(SLOT_COUNT).fill(undefined);
    for (const r of records) slots[r.slot] = r;
    if (this.mySlot !== undefined) {
      const r = slots[this.mySlot];
      if (r && r.system !== o.localSystem && busySlot(this.mySlot) && r.system < o.localSystem) this.mySlot = undefined;
    }
    if (this.mySlot === undefined) {
      // Our own record of an earlier boot is ours to reuse.
      const chosen = chooseSlot(o.localSystem, slots, busySlot);
      if (chosen === undefined) throw new Error(`all ${SLOT_COUNT} storage heartbeat slots are in use`);
      this.mySlot = chosen;
      o.log('info', `storage heartbeat: this system writes slot ${chosen} of ${o.device}`, { device: o.device, slot: chosen });
    }
  }
}
