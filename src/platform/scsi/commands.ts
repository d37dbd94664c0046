// ScsiGeneric over any transport that executes one CDB: the Linux transport is SG_IO through the
// addon, the memory one a simulated LUN. Building CDBs, parsing data and turning outcomes into
// typed errors happens here, once, so both implementations behave identically above the bytes.
import type { ScsiCommandOptions, ScsiGeneric, ScsiInquiry, ScsiWriteOptions } from '../platform.js';
import {
  type Capacity,
  checkKey,
  inquiryCdb,
  parseReadCapacity16,
  parseReadKeys,
  parseReadReservation,
  parseStandardInquiry,
  parseUnitSerial,
  PR_TYPES,
  prInCdb,
  PrInAction,
  prOutCdb,
  PrOutAction,
  prOutParameters,
  type PrKeys,
  type PrReservation,
  type PrType,
  readCapacity16Cdb,
  rw16Cdb,
  testUnitReadyCdb,
} from './cdb.js';
import { ScsiCheckConditionError, scsiOutcomeError, type RawScsiOutcome } from './errors.js';

export interface ScsiTransportRequest {
  device: string;
  cdb: Buffer;
  direction: 'none' | 'in' | 'out';
  dataOut?: Buffer;
  dataInLength?: number;
  timeoutMs: number;
}

export interface ScsiTransportResult extends RawScsiOutcome {
  data: Buffer;
}

/** Executes one CDB; rejects with SysError / ProbeTimeoutError when it never completed. */
export type ScsiTransport = (request: ScsiTransportRequest) => Promise<ScsiTransportResult>;

function checkTimeout(options: ScsiCommandOptions): number {
  const t = options.timeoutMs;
  if (!Number.isFinite(t) || t < 1 || t > 86_400_000) throw new RangeError('timeoutMs must be between 1 and 86400000');
  return t;
}

function prTypeCode(type: PrType): number {
  const code = PR_TYPES[type];
  if (code === undefined) throw new RangeError(`unknown persistent reservation type '${String(type)}'`);
  return code;
}

export class ScsiCommands implements ScsiGeneric {
  constructor(private readonly transport: ScsiTransport) {}

  private async run(command: string, request: Omit<ScsiTransportRequest, 'timeoutMs'>, options: ScsiCommandOptions): Promise<Buffer> {
    const result = await this.transport({ ...request, timeoutMs: checkTimeout(options) });
    const error = scsiOutcomeError(command, request.device, result);
    if (error) throw error;
    return result.data;
  }

  async inquiry(device: string, options: ScsiCommandOptions): Promise<ScsiInquiry> {
    const std = parseStandardInquiry(await this.run('INQUIRY', { device, cdb: inquiryCdb(96), direction: 'in', dataInLength: 96 }, options));
    let serial: string | undefined;
    try {
      serial = parseUnitSerial(await this.run('INQUIRY(VPD 0x80)', { device, cdb: inquiryCdb(252, 0x80), direction: 'in', dataInLength: 252 }, options));
    } catch (err) {
      // The serial page is optional (SPC-4): a device without it answers ILLEGAL REQUEST.
      if (!(err instanceof ScsiCheckConditionError)) throw err;
    }
    return { ...std, serial };
  }

  async testUnitReady(device: string, options: ScsiCommandOptions): Promise<void> {
    await this.run('TEST UNIT READY', { device, cdb: testUnitReadyCdb(), direction: 'none' }, options);
  }

  async readCapacity(device: string, options: ScsiCommandOptions): Promise<Capacity> {
    return parseReadCapacity16(await this.run('READ CAPACITY(16)', { device, cdb: readCapacity16Cdb(), direction: 'in', dataInLength: 32 }, options));
  }

  async read(device: string, lba: number, blocks: number, blockSize: number, options: ScsiWriteOptions): Promise<Buffer> {
    if (!Number.isInteger(blockSize) || blockSize < 512 || blockSize > 65536) throw new RangeError('blockSize must be an integer from 512 to 65536');
    const cdb = rw16Cdb(false, lba, blocks, options.fua ?? false);
    return this.run('READ(16)', { device, cdb, direction: 'in', dataInLength: blocks * blockSize }, options);
  }

  async write(device: string, lba: number, data: Buffer, blockSize: number, options: ScsiWriteOptions): Promise<void> {
    if (!Number.isInteger(blockSize) || blockSize < 512 || blockSize > 65536) throw new RangeError('blockSize must be an integer from 512 to 65536');
    if (data.length === 0 || data.length % blockSize !== 0) throw new RangeError(`data must be a non-empty multiple of the ${blockSize}-byte block`);
    const cdb = rw16Cdb(true, lba, data.length / blockSize, options.fua ?? true);
    await this.run('WRITE(16)', { device, cdb, direction: 'out', dataOut: data }, options);
  }

  async readKeys(device: string, options: ScsiCommandOptions): Promise<PrKeys> {
    // 8 header bytes + room for 64 keys; generation and count are in the header either way.
    const n = 8 + 64 * 8;
    return parseReadKeys(await this.run('PERSISTENT RESERVE IN(READ KEYS)', { device, cdb: prInCdb(PrInAction.READ_KEYS, n), direction: 'in', dataInLength: n }, options));
  }

  async readReservation(device: string, options: ScsiCommandOptions): Promise<PrReservation> {
    const n = 24;
    return parseReadReservation(
      await this.run('PERSISTENT RESERVE IN(READ RESERVATION)', { device, cdb: prInCdb(PrInAction.READ_RESERVATION, n), direction: 'in', dataInLength: n }, options),
    );
  }

  private async prOut(name: string, device: string, action: number, type: number, key: bigint, serviceActionKey: bigint, options: ScsiCommandOptions): Promise<void> {
    await this.run(`PERSISTENT RESERVE OUT(${name})`, { device, cdb: prOutCdb(action, type), direction: 'out', dataOut: prOutParameters(key, serviceActionKey) }, options);
  }

  register(device: string, currentKey: bigint, newKey: bigint, options: ScsiCommandOptions): Promise<void> {
    return this.prOut('REGISTER', device, PrOutAction.REGISTER, 0, currentKey, newKey, options);
  }

  registerAndIgnoreExistingKey(device: string, newKey: bigint, options: ScsiCommandOptions): Promise<void> {
    return this.prOut('REGISTER AND IGNORE EXISTING KEY', device, PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0n, newKey, options);
  }

  reserve(device: string, key: bigint, type: PrType, options: ScsiCommandOptions): Promise<void> {
    return this.prOut('RESERVE', device, PrOutAction.RESERVE, prTypeCode(type), key, 0n, options);
  }

  release(device: string, key: bigint, type: PrType, options: ScsiCommandOptions): Promise<void> {
    return this.prOut('RELEASE', device, PrOutAction.RELEASE, prTypeCode(type), key, 0n, options);
  }

  clear(device: string, key: bigint, options: ScsiCommandOptions): Promise<void> {
    return this.prOut('CLEAR', device, PrOutAction.CLEAR, 0, key, 0n, options);
  }

  preempt(device: string, key: bigint, victimKey: bigint, type: PrType, options: ScsiCommandOptions & { abort?: boolean }): Promise<void> {
    checkKey(victimKey, 'preempted key');
    const abort = options.abort ?? false;
    return this.prOut(abort ? 'PREEMPT AND ABORT' : 'PREEMPT', device, abort ? PrOutAction.PREEMPT_AND_ABORT : PrOutAction.PREEMPT, prTypeCode(type), key, victimKey, options);
  }
}
