// A simulated SCSI fabric for unit tests: LUNs that execute the same CDBs the Linux transport
// sends (INQUIRY, TEST UNIT READY, READ CAPACITY(16), READ(16), WRITE(16), PERSISTENT RESERVE
// IN/OUT) with SPC-4 persistent-reservation semantics — registrations per initiator, the six
// reservation types' access rules, PREEMPT (AND ABORT), per-initiator unit attentions — and
// fault hooks: commands that hang (then the time limit rejects them), transport failures, and
// a LUN without persistent reservations (as QEMU's scsi-hd without a PR helper).
//
// Each initiator (one node) gets its own ScsiGeneric from fabric.initiator(name); every
// initiator addresses a LUN by the same device path.
import { PR_TYPES, prTypeName, Opcode, PrInAction, PrOutAction, READ_CAPACITY_16_SA } from '../scsi/cdb.js';
import { ScsiCommands, type ScsiTransportRequest, type ScsiTransportResult } from '../scsi/commands.js';
import { descriptorSense, fixedSense, ScsiStatus, SenseKey } from '../scsi/sense.js';
import { SysError } from '../errors.js';
import type { DirectBlockIo } from '../platform.js';
import { MemoryProbeRunner } from './probe-runner.js';

export interface MemoryLunOptions {
  blocks: number;
  blockSize?: number;
  serial?: string;
  /** false: PERSISTENT RESERVE IN/OUT answer ILLEGAL REQUEST, invalid command operation code. */
  persistentReservations?: boolean;
  senseFormat?: 'fixed' | 'descriptor';
}

interface Reservation {
  holder: string;
  type: number;
}

interface Pending {
  initiator: string;
  abort(): void;
}

type LunFault =
  | { kind: 'hang'; initiator?: string; opcode?: number; released: Promise<void>; release: () => void }
  | { kind: 'transport'; initiator?: string; hostStatus: number };

const ALL_REGISTRANTS = new Set([PR_TYPES['write-exclusive-all-registrants'], PR_TYPES['exclusive-access-all-registrants']]);
const REGISTRANTS_ONLY = new Set([PR_TYPES['write-exclusive-registrants-only'], PR_TYPES['exclusive-access-registrants-only']]);
const WRITE_ONLY_TYPES = new Set([PR_TYPES['write-exclusive'], PR_TYPES['write-exclusive-registrants-only'], PR_TYPES['write-exclusive-all-registrants']]);

class Outcome {
  static good(data = Buffer.alloc(0)): ScsiTransportResult {
    return { status: ScsiStatus.GOOD, hostStatus: 0, driverStatus: 0, sense: Buffer.alloc(0), data };
  }
  static status(status: number): ScsiTransportResult {
    return { status, hostStatus: 0, driverStatus: 0, sense: Buffer.alloc(0), data: Buffer.alloc(0) };
  }
}

export class MemoryScsiLun {
  readonly blockSize: number;
  readonly blocks: number;
  readonly data: Buffer;
  readonly serial: string;
  persistentReservations: boolean;
  private readonly senseFormat: 'fixed' | 'descriptor';
  /** initiator -> key, in registration order. */
  private readonly registrations = new Map<string, bigint>();
  private reservation: Reservation | undefined;
  private generation = 0;
  private readonly unitAttentions = new Map<string, Array<[number, number]>>();
  private faults: LunFault[] = [];
  private readonly pending = new Set<Pending>();
  /** Commands aborted by PREEMPT AND ABORT, for tests to read. */
  abortedTotal = 0;

  constructor(
    readonly path: string,
    options: MemoryLunOptions,
  ) {
    this.blockSize = options.blockSize ?? 512;
    this.blocks = options.blocks;
    this.data = Buffer.alloc(this.blocks * this.blockSize);
    this.serial = options.serial ?? `mem-${path.replace(/[^A-Za-z0-9]/g, '')}`;
    this.persistentReservations = options.persistentReservations ?? true;
    this.senseFormat = options.senseFormat ?? 'fixed';
  }

  /** Commands (of one initiator / one opcode, when given) hang until the returned function is called. */
  hang(filter: { initiator?: string; opcode?: number } = {}): () => void {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const fault: LunFault = { kind: 'hang', ...filter, released, release };
    this.faults.push(fault);
    return () => {
      this.faults = this.faults.filter((f) => f !== fault);
      release();
    };
  }

  /** Commands (of one initiator, when given) fail in the transport with this host status (DID_NO_CONNECT by default). */
  failTransport(filter: { initiator?: string; hostStatus?: number } = {}): () => void {
    const fault: LunFault = { kind: 'transport', initiator: filter.initiator, hostStatus: filter.hostStatus ?? 0x01 };
    this.faults.push(fault);
    return () => {
      this.faults = this.faults.filter((f) => f !== fault);
    };
  }

  /** Queue a unit attention for an initiator (e.g. 0x29/0x00 after a reset). */
  addUnitAttention(initiator: string, asc: number, ascq: number): void {
    const q = this.unitAttentions.get(initiator) ?? [];
    q.push([asc, ascq]);
    this.unitAttentions.set(initiator, q);
  }

  registeredKeys(): Map<string, bigint> {
    return new Map(this.registrations);
  }

  async execute(initiator: string, r: ScsiTransportRequest): Promise<ScsiTransportResult> {
    const opcode = r.cdb[0]!;
    const applies = (f: { initiator?: string }) => f.initiator === undefined || f.initiator === initiator;
    const transport = this.faults.find((f): f is Extract<LunFault, { kind: 'transport' }> => f.kind === 'transport' && applies(f));
    if (transport) return { status: 0, hostStatus: transport.hostStatus, driverStatus: 0, sense: Buffer.alloc(0), data: Buffer.alloc(0) };
    const hang = this.faults.find((f): f is Extract<LunFault, { kind: 'hang' }> => f.kind === 'hang' && applies(f) && (f.opcode === undefined || f.opcode === opcode));
    if (hang) {
      let aborted = false;
      const entry: Pending = { initiator, abort: () => (aborted = true) };
      this.pending.add(entry);
      let abortNow!: () => void;
      const abortSignal = new Promise<void>((res) => (abortNow = res));
      entry.abort = () => {
        aborted = true;
        abortNow();
      };
      await Promise.race([hang.released, abortSignal]);
      this.pending.delete(entry);
      if (aborted) return Outcome.status(ScsiStatus.TASK_ABORTED);
    }
    return this.executeNow(initiator, r);
  }

  private check(key: number, asc: number, ascq: number): ScsiTransportResult {
    const sense = this.senseFormat === 'fixed' ? fixedSense(key, asc, ascq) : descriptorSense(key, asc, ascq);
    return { status: ScsiStatus.CHECK_CONDITION, hostStatus: 0, driverStatus: 0x08, sense, data: Buffer.alloc(0) };
  }

  private illegal(asc: number, ascq = 0): ScsiTransportResult {
    return this.check(SenseKey.ILLEGAL_REQUEST, asc, ascq);
  }

  private executeNow(initiator: string, r: ScsiTransportRequest): ScsiTransportResult {
    const cdb = r.cdb;
    const opcode = cdb[0]!;
    if (opcode === Opcode.INQUIRY) return this.inquiry(cdb);
    const ua = this.unitAttentions.get(initiator);
    if (ua && ua.length > 0) {
      const [asc, ascq] = ua.shift()!;
      return this.check(SenseKey.UNIT_ATTENTION, asc, ascq);
    }
    switch (opcode) {
      case Opcode.TEST_UNIT_READY:
        return Outcome.good();
      case Opcode.SERVICE_ACTION_IN_16: {
        if ((cdb[1]! & 0x1f) !== READ_CAPACITY_16_SA) return this.illegal(0x24);
        const out = Buffer.alloc(32);
        out.writeBigUInt64BE(BigInt(this.blocks - 1), 0);
        out.writeUInt32BE(this.blockSize, 8);
        return Outcome.good(out.subarray(0, Math.min(32, cdb.readUInt32BE(10))));
      }
      case Opcode.READ_16:
      case Opcode.WRITE_16:
        return this.readWrite(initiator, r);
      case Opcode.PERSISTENT_RESERVE_IN:
        if (!this.persistentReservations) return this.illegal(0x20);
        return this.prIn(cdb);
      case Opcode.PERSISTENT_RESERVE_OUT:
        if (!this.persistentReservations) return this.illegal(0x20);
        if (!r.dataOut || r.dataOut.length < 24) return this.illegal(0x26);
        return this.prOut(initiator, cdb, r.dataOut);
      default:
        return this.illegal(0x20);
    }
  }

  private inquiry(cdb: Buffer): ScsiTransportResult {
    const alloc = cdb.readUInt16BE(3);
    if (cdb[1]! & 0x01) {
      if (cdb[2] !== 0x80) return this.illegal(0x24);
      const serial = Buffer.from(this.serial, 'latin1');
      const page = Buffer.concat([Buffer.from([0, 0x80, serial.length >> 8, serial.length & 0xff]), serial]);
      return Outcome.good(page.subarray(0, alloc));
    }
    const std = Buffer.alloc(96, 0x20);
    std.fill(0, 0, 8);
    std[2] = 0x06; // SPC-4
    std[3] = 0x02;
    std[4] = 91;
    std.write('VIGILMEM', 8, 'latin1');
    std.write('memory LUN'.padEnd(16), 16, 'latin1');
    std.write('0001', 32, 'latin1');
    return Outcome.good(std.subarray(0, alloc));
  }

  private isHolder(initiator: string): boolean {
    const res = this.reservation;
    if (!res) return false;
    if (ALL_REGISTRANTS.has(res.type as 7 | 8)) return this.registrations.has(initiator);
    return res.holder === initiator;
  }

  private readWrite(initiator: string, r: ScsiTransportRequest): ScsiTransportResult {
    const cdb = r.cdb;
    const write = cdb[0] === Opcode.WRITE_16;
    const lba = Number(cdb.readBigUInt64BE(2));
    const count = cdb.readUInt32BE(10);
    const res = this.reservation;
    if (res) {
      const registered = this.registrations.has(initiator);
      const writeOnly = WRITE_ONLY_TYPES.has(res.type as 1 | 5 | 7);
      const allowed =
        !write && writeOnly
          ? true
          : REGISTRANTS_ONLY.has(res.type as 5 | 6) || ALL_REGISTRANTS.has(res.type as 7 | 8)
            ? registered
            : this.isHolder(initiator);
      if (!allowed) return Outcome.status(ScsiStatus.RESERVATION_CONFLICT);
    }
    if (lba + count > this.blocks) return this.illegal(0x21);
    const from = lba * this.blockSize;
    const to = from + count * this.blockSize;
    if (!write) return Outcome.good(Buffer.from(this.data.subarray(from, to)));
    if (!r.dataOut || r.dataOut.length !== to - from) return this.illegal(0x24);
    r.dataOut.copy(this.data, from);
    return Outcome.good();
  }

  private prIn(cdb: Buffer): ScsiTransportResult {
    const alloc = cdb.readUInt16BE(7);
    const action = cdb[1]! & 0x1f;
    if (action === PrInAction.READ_KEYS) {
      const keys = [...this.registrations.values()];
      const out = Buffer.alloc(8 + keys.length * 8);
      out.writeUInt32BE(this.generation, 0);
      out.writeUInt32BE(keys.length * 8, 4);
      keys.forEach((k, i) => out.writeBigUInt64BE(k, 8 + i * 8));
      return Outcome.good(out.subarray(0, alloc));
    }
    if (action === PrInAction.READ_RESERVATION) {
      const res = this.reservation;
      const out = Buffer.alloc(res ? 24 : 8);
      out.writeUInt32BE(this.generation, 0);
      if (res) {
        out.writeUInt32BE(16, 4);
        // All-registrants reservations report key 0 (SPC-4 6.15.3.2).
        const key = ALL_REGISTRANTS.has(res.type as 7 | 8) ? 0n : (this.registrations.get(res.holder) ?? 0n);
        out.writeBigUInt64BE(key, 8);
        out[21] = res.type & 0x0f;
      }
      return Outcome.good(out.subarray(0, alloc));
    }
    return this.illegal(0x24);
  }

  private notifyOthers(except: string, asc: number, ascq: number): void {
    for (const i of this.registrations.keys()) if (i !== except) this.addUnitAttention(i, asc, ascq);
  }

  /** Removes a registration; a registrants-only reservation held by it goes with it. */
  private unregister(initiator: string): void {
    this.registrations.delete(initiator);
    const res = this.reservation;
    if (!res) return;
    if (ALL_REGISTRANTS.has(res.type as 7 | 8)) {
      if (this.registrations.size === 0) this.reservation = undefined;
    } else if (res.holder === initiator) {
      this.reservation = undefined;
      if (REGISTRANTS_ONLY.has(res.type as 5 | 6)) this.notifyOthers(initiator, 0x2a, 0x04);
    }
  }

  private prOut(initiator: string, cdb: Buffer, params: Buffer): ScsiTransportResult {
    const action = cdb[1]! & 0x1f;
    const scope = cdb[2]! >> 4;
    const type = cdb[2]! & 0x0f;
    const key = params.readBigUInt64BE(0);
    const sark = params.readBigUInt64BE(8);
    const mine = this.registrations.get(initiator);
    const conflict = () => Outcome.status(ScsiStatus.RESERVATION_CONFLICT);

    if (action === PrOutAction.REGISTER || action === PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY) {
      if (action === PrOutAction.REGISTER) {
        if (mine === undefined ? key !== 0n : key !== mine) return conflict();
      }
      if (sark === 0n) {
        if (mine !== undefined) {
          this.unregister(initiator);
          this.generation++;
        }
      } else {
        this.registrations.set(initiator, sark);
        this.generation++;
      }
      return Outcome.good();
    }
    if (mine === undefined || key !== mine) return conflict();
    const needsType = action === PrOutAction.RESERVE || action === PrOutAction.RELEASE || action === PrOutAction.PREEMPT || action === PrOutAction.PREEMPT_AND_ABORT;
    if (needsType && (scope !== 0 || prTypeName(type) === undefined)) return this.illegal(0x24);

    switch (action) {
      case PrOutAction.RESERVE: {
        const res = this.reservation;
        if (res) return this.isHolder(initiator) && res.type === type ? Outcome.good() : conflict();
        this.reservation = { holder: initiator, type };
        return Outcome.good();
      }
      case PrOutAction.RELEASE: {
        const res = this.reservation;
        if (!res || !this.isHolder(initiator)) return Outcome.good();
        if (res.type !== type) return this.illegal(0x26, 0x04);
        this.reservation = undefined;
        if (REGISTRANTS_ONLY.has(type as 5 | 6) || ALL_REGISTRANTS.has(type as 7 | 8)) this.notifyOthers(initiator, 0x2a, 0x04);
        return Outcome.good();
      }
      case PrOutAction.CLEAR:
        this.notifyOthers(initiator, 0x2a, 0x03);
        this.registrations.clear();
        this.reservation = undefined;
        this.generation++;
        return Outcome.good();
      case PrOutAction.PREEMPT:
      case PrOutAction.PREEMPT_AND_ABORT:
        return this.preempt(initiator, type, sark, action === PrOutAction.PREEMPT_AND_ABORT);
      default:
        return this.illegal(0x24);
    }
  }

  private preempt(initiator: string, type: number, victimKey: bigint, abort: boolean): ScsiTransportResult {
    const res = this.reservation;
    const victims = [...this.registrations].filter(([i, k]) => i !== initiator && k === victimKey).map(([i]) => i);
    const holderKey = res && !ALL_REGISTRANTS.has(res.type as 7 | 8) ? this.registrations.get(res.holder) : undefined;
    const takesReservation = res !== undefined && (ALL_REGISTRANTS.has(res.type as 7 | 8) ? victimKey === 0n : victimKey === holderKey);
    if (takesReservation && ALL_REGISTRANTS.has(res!.type as 7 | 8)) {
      // Key 0 against an all-registrants reservation preempts every other registrant.
      victims.push(...[...this.registrations.keys()].filter((i) => i !== initiator && !victims.includes(i)));
    }
    if (!takesReservation) {
      if (victimKey === 0n) return this.illegal(0x26);
      if (victims.length === 0) return Outcome.status(ScsiStatus.RESERVATION_CONFLICT);
    }
    for (const v of victims) {
      this.registrations.delete(v);
      this.addUnitAttention(v, 0x2a, 0x05);
      if (abort) {
        for (const p of [...this.pending]) {
          if (p.initiator === v) {
            this.abortedTotal++;
            p.abort();
          }
        }
      }
    }
    if (takesReservation) {
      const typeChanged = res!.type !== type;
      this.reservation = { holder: initiator, type };
      if (typeChanged) this.notifyOthers(initiator, 0x2a, 0x03);
    }
    this.generation++;
    return Outcome.good();
  }
}

/** The shared storage of a memory cluster: LUNs by device path, and one ScsiGeneric per initiator. */
export class MemoryScsiFabric {
  private readonly luns = new Map<string, MemoryScsiLun>();

  addLun(path: string, options: MemoryLunOptions): MemoryScsiLun {
    const lun = new MemoryScsiLun(path, options);
    this.luns.set(path, lun);
    return lun;
  }

  lun(path: string): MemoryScsiLun {
    const lun = this.luns.get(path);
    if (!lun) throw new Error(`no memory LUN at ${path}`);
    return lun;
  }

  /** The ScsiGeneric of one initiator (one node), with its own probe-thread bounds. */
  initiator(name: string, runner = new MemoryProbeRunner()): ScsiCommands {
    return new ScsiCommands((r) =>
      runner.run('ioctl(SG_IO)', r.device, `scsi:${r.device}`, r.timeoutMs, async () => {
        const lun = this.luns.get(r.device);
        if (!lun) throw SysError.fromCode('ENOENT', 'open', r.device);
        return lun.execute(name, r);
      }),
    );
  }

  /** O_DIRECT-style block I/O on the LUNs' bytes (no reservations apply, as with a loop device). */
  directIo(runner = new MemoryProbeRunner()): DirectBlockIo {
    const lunAt = (device: string, offset: number, length: number, syscall: string) => {
      const lun = this.luns.get(device);
      if (!lun) throw SysError.fromCode('ENOENT', 'open', device);
      if (offset % 512 !== 0 || length % 512 !== 0 || length === 0) throw new RangeError('offset and length must be multiples of 512');
      if (offset + length > lun.data.length) throw SysError.fromCode('EIO', syscall, device);
      return lun;
    };
    return {
      read: (device, offset, length, timeoutMs) =>
        runner.run('pread', device, `direct:${device}`, timeoutMs, async () => Buffer.from(lunAt(device, offset, length, 'pread').data.subarray(offset, offset + length))),
      write: (device, offset, data, timeoutMs) =>
        runner.run('pwrite', device, `direct:${device}`, timeoutMs, async () => {
          data.copy(lunAt(device, offset, data.length, 'pwrite').data, offset);
        }),
    };
  }
}
