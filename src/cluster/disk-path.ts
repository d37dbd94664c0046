// The DISK comm path: heartbeats through a shared LUN, independent of every network. Each system
// writes an authenticated record (disk-record.ts) into its own slot of a reserved area every
// heartbeat interval and reads every other slot; another system's path is ALIVE while its
// records keep advancing (RecordTracker). It carries no admin messages: send() refuses, so
// messaging always uses a TCP or TTY path.
//
// I/O: SCSI READ(16) and WRITE(16) with FUA through SG_IO when the device is a SCSI LUN
// (/dev/sgN, /dev/sdX); where SG_IO does not apply (a loop device, virtio-blk: ENOTTY) it says so
// in the log and uses O_DIRECT block I/O with O_DSYNC writes instead. Either way every command
// runs on a thread of its own with a time limit; a tick whose I/O is still pending is skipped.
//
// One DiskArea per device serves every DISK path on it (one writer of our slot, one read of all
// slots per interval); DiskPath is the per-peer CommPathLink the ClusterNode sees.
//
// Echoes: each record also carries the newest sequence this system read in every other slot
// (disk-record.ts, the echo extension). A peer's record echoing one of our sequences proves it
// was alive after we issued that write; the path hands that issue time to the ClusterNode as a
// HeartbeatAck, as a TCP path's echoed heartbeat, so a peer seen over DISK paths alone still
// gives the quorum gate and the watchdog lease evidence (quorum/quorum-evidence.ts).
import { performance } from 'node:perf_hooks';

import type { BlockDevices, DirectBlockIo, ScsiGeneric } from '../platform/platform.js';
import { SysError } from '../platform/errors.js';
import { ScsiUnitAttentionError } from '../platform/scsi/errors.js';
import type { CommPathLink, DiskPathConfig, PathContext } from './comm-path.js';
import { pathIdOf } from './comm-path.js';
import { FrameType } from './frame-codec.js';
import {
  AREA_BYTES,
  AREA_OFFSET,
  chooseSlot,
  decodeHeader,
  decodeRecord,
  type DiskRecord,
  encodeHeader,
  encodeRecord,
  HEADER_BYTES,
  headerProblem,
  RecordTracker,
  SLOT_BYTES,
  SLOT_COUNT,
} from './disk-record.js';

export interface DiskPlatform {
  scsi: ScsiGeneric;
  directIo: DirectBlockIo;
  blockDevices: BlockDevices;
}

export type DiskIoMode = 'SG_IO' | 'O_DIRECT';

/** Reads and writes of the reserved area, by SG_IO or O_DIRECT. */
export interface DiskIo {
  mode: DiskIoMode;
  /** Why this mode (shown in the log and net_list). */
  note: string;
  read(offset: number, length: number): Promise<Buffer>;
  write(offset: number, data: Buffer): Promise<void>;
}

async function retryUnitAttention<T>(op: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await op();
    } catch (err) {
      if (!(err instanceof ScsiUnitAttentionError) || i >= 4) throw err;
    }
  }
}

/** SG_IO when the device answers READ CAPACITY(16); O_DIRECT when it takes no SG_IO at all. */
export async function openDiskIo(device: string, p: DiskPlatform, timeoutMs: number, areaOffset = AREA_OFFSET): Promise<DiskIo> {
  let sizeBytes: number;
  let io: DiskIo;
  try {
    const cap = await retryUnitAttention(() => p.scsi.readCapacity(device, { timeoutMs }));
    const bs = cap.blockSize;
    sizeBytes = cap.blocks * bs;
    io = {
      mode: 'SG_IO',
      note: `SG_IO READ(16)/WRITE(16) FUA, ${bs}-byte blocks`,
      read: (offset, length) => retryUnitAttention(() => p.scsi.read(device, offset / bs, length / bs, bs, { timeoutMs, fua: true })),
      write: (offset, data) => retryUnitAttention(() => p.scsi.write(device, offset / bs, data, bs, { timeoutMs, fua: true })),
    };
  } catch (err) {
    if (!(err instanceof SysError) || !['ENOTTY', 'EINVAL', 'ENOIOCTLCMD', 'EOPNOTSUPP'].includes(err.code)) throw err;
    const info = await p.blockDevices.info(device, timeoutMs);
    sizeBytes = info.sizeBytes;
    io = {
      mode: 'O_DIRECT',
      note: `SG_IO does not apply to ${device} (${err.code}: not a SCSI device); O_DIRECT block I/O with O_DSYNC writes`,
      read: (offset, length) => p.directIo.read(device, offset, length, timeoutMs),
      write: (offset, data) => p.directIo.write(device, offset, data, timeoutMs),
    };
  }
  if (sizeBytes < areaOffset + AREA_BYTES) {
    throw new Error(`${device} has ${sizeBytes} bytes; the disk heartbeat area needs ${areaOffset + AREA_BYTES}`);
  }
  return io;
}

export interface DiskAreaOptions {
  device: string;
  localSystem: string;
  /** This boot's id (the FrameGuard's epoch, so every path reports the same one). */
  bootId: bigint;
  recordKey: Buffer;
  platform: DiskPlatform;
  intervalMs: number;
  /** Time limit of one read or write. */
  ioTimeoutMs: number;
  ctx: PathContext;
}

/** A peer's record, with the issue time (performance.now()) of our write it echoes, if any. */
type RecordListener = (r: DiskRecord, echoedAtMs: number | undefined) => void;

/** How many of our own writes are remembered for matching echoes (a peer echoes what it read within an interval or two). */
const WRITES_KEPT = 64;

/** A slot whose record has not changed for this many intervals may be taken over. */
export const SLOT_GRACE_INTERVALS = 6;

/** The reserved area of one device as this system uses it. */
export class DiskArea {
  private io: DiskIo | undefined;
  private problem: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private seq = 0n;
  private mySlot: number | undefined;
  private readonly listeners = new Map<string, RecordListener>();
  /** Per slot: the last authentic record and when it last changed (for slot choice). */
  private readonly slotSeen = new Map<number, { system: string; bootId: bigint; seq: bigint; changedAt: number }>();
  /** What our records say: running, or yielding (no quorum, nothing in service: setPresence). */
  private presence: 'running' | 'yielding' = 'running';
  /** Our recent writes: sequence → when it was issued (performance.now()), to date the echoes. */
  private readonly written = new Map<bigint, number>();
  private failures = 0;
  ticks = 0;

  constructor(readonly o: DiskAreaOptions) {}

  /** 'SG_IO ...' / 'O_DIRECT ...' once open; the problem when it cannot run. */
  describe(): string {
    if (this.problem) return `not running: ${this.problem}`;
    return this.io ? `${this.io.mode}: ${this.io.note}${this.mySlot === undefined ? '' : `, slot ${this.mySlot}`}` : 'opening';
  }

  running(): boolean {
    return this.io !== undefined && this.problem === undefined && this.failures === 0;
  }

  /** From the next record on, say `p` (the next write is at most one interval away). */
  setPresence(p: 'running' | 'yielding'): void {
    this.presence = p;
  }

  attach(peer: string, listener: RecordListener): void {
    this.listeners.set(peer, listener);
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
      void this.tick();
    }
  }

  async detach(peer: string): Promise<void> {
    this.listeners.delete(peer);
    if (this.listeners.size === 0) await this.close();
  }

  private async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    // Tell the others this boot is leaving on purpose (best effort; its sequence stops anyway).
    if (this.io && this.mySlot !== undefined && !this.busy) {
      try {
        await this.io.write(AREA_OFFSET + HEADER_BYTES + this.mySlot * SLOT_BYTES, this.record('leaving'));
      } catch {
        /* the device is gone: nothing to tell */
      }
    }
  }

  private record(state: DiskRecord['state']): Buffer {
    this.seq++;
    this.written.set(this.seq, performance.now());
    if (this.written.size > WRITES_KEPT) this.written.delete(this.written.keys().next().value!);
    const echoes = [...this.slotSeen]
      .filter(([slot, seen]) => slot !== this.mySlot && seen.system !== this.o.localSystem)
      .map(([slot, seen]) => ({ slot, bootId: seen.bootId, seq: seen.seq }));
    return encodeRecord(this.o.recordKey, { slot: this.mySlot!, system: this.o.localSystem, bootId: this.o.bootId, seq: this.seq, timeMs: Date.now(), state, echoes });
  }

  /** When we issued the write a peer's record echoes (undefined: it echoes none of this boot's recent writes). */
  private echoedAt(r: DiskRecord): number | undefined {
    const e = r.echoes?.find((x) => x.slot === this.mySlot && x.bootId === this.o.bootId);
    return e === undefined ? undefined : this.written.get(e.seq);
  }

  private async tick(): Promise<void> {
    if (this.busy) return; // the last I/O is still in the kernel: never pile up commands
    this.busy = true;
    try {
      await this.tickOnce();
      if (this.failures > 0) this.o.ctx.log('info', 'disk heartbeat I/O works again', { device: this.o.device });
      this.failures = 0;
    } catch (err) {
      if (this.failures++ === 0) this.o.ctx.log('warn', 'disk heartbeat I/O failed', { device: this.o.device, error: (err as Error).message });
    } finally {
      this.busy = false;
      this.ticks++;
    }
  }

  private async tickOnce(): Promise<void> {
    const { o } = this;
    if (this.problem) {
      // A refused area is looked at again now and then (an administrator may have fixed it).
      if (this.ticks % 30 !== 0) return;
      this.problem = undefined;
      this.io = undefined;
    }
    if (!this.io) {
      try {
        const io = await openDiskIo(o.device, o.platform, o.ioTimeoutMs);
        const header = decodeHeader(await io.read(AREA_OFFSET, HEADER_BYTES));
        if (!header) await io.write(AREA_OFFSET, encodeHeader());
        else {
          const problem = headerProblem(header);
          if (problem) throw new Error(problem);
        }
        this.io = io;
        o.ctx.log('info', `disk comm path on ${o.device}: ${io.note}`, { device: o.device, io: io.mode });
      } catch (err) {
        this.problem = (err as Error).message;
        o.ctx.log('warn', 'disk comm path cannot use its device', { device: o.device, error: this.problem });
        return;
      }
    }
    const io = this.io;
    const now = Date.now();
    const raw = await io.read(AREA_OFFSET + HEADER_BYTES, SLOT_COUNT * SLOT_BYTES);
    const slots: Array<DiskRecord | undefined> = [];
    for (let s = 0; s < SLOT_COUNT; s++) {
      const d = decodeRecord(o.recordKey, raw.subarray(s * SLOT_BYTES, (s + 1) * SLOT_BYTES), s);
      if (!d.ok) {
        if (d.reason === 'bad_tag' || d.reason === 'bad_slot') o.ctx.counters.authFailure('bad_tag');
        slots.push(undefined);
        continue;
      }
      slots.push(d.record);
      const seen = this.slotSeen.get(s);
      if (!seen || seen.system !== d.record.system || seen.bootId !== d.record.bootId || seen.seq !== d.record.seq) {
        this.slotSeen.set(s, { system: d.record.system, bootId: d.record.bootId, seq: d.record.seq, changedAt: now });
      }
      if (d.record.system !== o.localSystem) this.listeners.get(d.record.system)?.(d.record, this.echoedAt(d.record));
    }
    // A slot is taken while another system's record in it keeps changing (with some grace).
    const busySlot = (s: number) => {
      const seen = this.slotSeen.get(s);
      return seen !== undefined && seen.system !== o.localSystem && now - seen.changedAt < SLOT_GRACE_INTERVALS * o.intervalMs;
    };
    if (this.mySlot !== undefined) {
      const r = slots[this.mySlot];
      // Someone else writes our slot too (we both chose it at once): the greater name moves on.
      if (r && r.system !== o.localSystem && busySlot(this.mySlot) && r.system < o.localSystem) this.mySlot = undefined;
    }
    if (this.mySlot === undefined) {
      const own = slots.map((r) => (r?.system === o.localSystem ? undefined : r));
      const chosen = chooseSlot(o.localSystem, own, busySlot);
      if (chosen === undefined) throw new Error(`all ${SLOT_COUNT} disk heartbeat slots are in use`);
      this.mySlot = chosen;
      o.ctx.log('info', `disk comm path: this system writes slot ${chosen} of ${o.device}`, { device: o.device, slot: chosen });
    }
    await io.write(AREA_OFFSET + HEADER_BYTES + this.mySlot * SLOT_BYTES, this.record(this.presence));
  }
}

/** The DiskAreas of one ClusterNode, one per device, shared by the DISK paths on it. */
export class DiskAreas {
  private readonly areas = new Map<string, DiskArea>();
  private presence: 'running' | 'yielding' = 'running';

  constructor(private readonly base: Omit<DiskAreaOptions, 'device'>) {}

  get(device: string): DiskArea {
    let a = this.areas.get(device);
    if (!a) {
      a = new DiskArea({ ...this.base, device });
      a.setPresence(this.presence);
      this.areas.set(device, a);
    }
    return a;
  }

  describe(device: string): string | undefined {
    return this.areas.get(device)?.describe();
  }

  /** Every area's records from now on say `p` (DiskArea.setPresence). */
  setPresence(p: 'running' | 'yielding'): void {
    this.presence = p;
    for (const a of this.areas.values()) a.setPresence(p);
  }
}

/** A DISK comm path to one peer: heartbeats only, from the peer's advancing records. */
export class DiskPath implements CommPathLink {
  readonly id: string;
  readonly kind = 'DISK' as const;
  readonly peer: string;
  readonly priority: number;
  readonly maxPayload = 0;
  private readonly tracker: RecordTracker;
  private area: DiskArea | undefined;

  constructor(
    readonly config: DiskPathConfig,
    private readonly ctx: PathContext,
    private readonly areas: DiskAreas,
    maxSkewMs = 30_000,
  ) {
    this.id = pathIdOf(config);
    this.peer = config.otherSystem;
    this.priority = config.priority;
    this.tracker = new RecordTracker(maxSkewMs);
  }

  start(): void {
    this.area = this.areas.get(this.config.device);
    this.area.attach(this.peer, (r, echoedAtMs) => this.onRecord(r, echoedAtMs));
  }

  async stop(): Promise<void> {
    const a = this.area;
    this.area = undefined;
    await a?.detach(this.peer);
  }

  connected(): boolean {
    return this.area?.running() ?? false;
  }

  /** The disk carries heartbeat records only, never frames. */
  send(): boolean {
    return false;
  }

  reset(): void {}

  private onRecord(r: DiskRecord, echoedAtMs: number | undefined): void {
    const seen = this.tracker.observe(r, Date.now());
    if (!seen.heartbeat) return;
    const header = { sender: r.system, receiver: this.ctx.localSystem, epoch: r.bootId, seq: r.seq, timestampMs: r.timeMs };
    this.ctx.onFrame(this, { header: { ...header, type: FrameType.Heartbeat }, payload: Buffer.alloc(0) });
    if (echoedAtMs === undefined) return;
    // The echo of one of our writes, as a TCP path's HeartbeatAck carries the send time back.
    const payload = Buffer.allocUnsafe(8);
    payload.writeDoubleBE(echoedAtMs, 0);
    this.ctx.onFrame(this, { header: { ...header, type: FrameType.HeartbeatAck }, payload });
  }
}
