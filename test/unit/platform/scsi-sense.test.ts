// Pure decoding of SCSI outcomes: both sense formats, the typed error for each status and sense
// key, and the CDB bytes of the commands the fence relies on.
import { describe, expect, it } from 'vitest';

import { prOutCdb, prOutParameters, PrOutAction, parseReadReservation, rw16Cdb } from '../../../src/platform/scsi/cdb.js';
import {
  ScsiCheckConditionError,
  ScsiNotReadyError,
  ScsiReservationConflictError,
  ScsiStatusError,
  ScsiTransportError,
  ScsiUnitAttentionError,
  scsiOutcomeError,
} from '../../../src/platform/scsi/errors.js';
import { decodeSense, descriptorSense, fixedSense } from '../../../src/platform/scsi/sense.js';

const outcome = (status: number, sense: Uint8Array = Buffer.alloc(0), hostStatus = 0, driverStatus = 0) => ({ status, hostStatus, driverStatus, sense });

describe('SCSI sense and status decoding', () => {
  it('decodes fixed and descriptor sense to the same key/ASC/ASCQ', () => {
    const f = decodeSense(fixedSense(0x6, 0x2a, 0x05))!;
    const d = decodeSense(descriptorSense(0x6, 0x2a, 0x05))!;
    expect(f).toMatchObject({ format: 'fixed', key: 6, asc: 0x2a, ascq: 0x05 });
    expect(d).toMatchObject({ format: 'descriptor', key: 6, asc: 0x2a, ascq: 0x05 });
    expect(f.text).toBe('UNIT ATTENTION: registrations preempted (asc 0x2a ascq 0x05)');
    expect(decodeSense(Buffer.from([0x7f, 0, 0]))).toBeUndefined();
    expect(decodeSense(Buffer.alloc(0))).toBeUndefined();
  });

  it('maps each outcome to its typed error', () => {
    expect(scsiOutcomeError('WRITE(16)', '/dev/sdb', outcome(0))).toBeUndefined();
    expect(scsiOutcomeError('WRITE(16)', '/dev/sdb', outcome(0x18))).toBeInstanceOf(ScsiReservationConflictError);
    expect(scsiOutcomeError('TUR', '/dev/sdb', outcome(2, fixedSense(6, 0x29, 0), 0, 8))).toBeInstanceOf(ScsiUnitAttentionError);
    expect(scsiOutcomeError('TUR', '/dev/sdb', outcome(2, descriptorSense(2, 0x04, 0x01)))).toBeInstanceOf(ScsiNotReadyError);
    const illegal = scsiOutcomeError('PR IN', '/dev/sdb', outcome(2, fixedSense(5, 0x20, 0)));
    expect(illegal).toBeInstanceOf(ScsiCheckConditionError);
    expect((illegal as ScsiCheckConditionError).unsupportedCommand).toBe(true);
    expect(scsiOutcomeError('TUR', '/dev/sdb', outcome(2, fixedSense(1, 0x17, 0)))).toBeUndefined(); // recovered error
    expect(scsiOutcomeError('TUR', '/dev/sdb', outcome(0x08))).toBeInstanceOf(ScsiStatusError);
    const transport = scsiOutcomeError('WRITE(16)', '/dev/sdb', outcome(0, Buffer.alloc(0), 0x0f));
    expect(transport).toBeInstanceOf(ScsiTransportError);
    expect(transport!.message).toBe("WRITE(16) on '/dev/sdb': transport failure (DID_TRANSPORT_FAILFAST, driver status 0x0)");
    expect(scsiOutcomeError('WRITE(16)', '/dev/sdb', outcome(0, Buffer.alloc(0), 0, 0x06))).toBeInstanceOf(ScsiTransportError);
  });

  it('builds PR OUT and WRITE(16) FUA bytes as SPC-4/SBC-3 lay them out', () => {
    expect([...prOutCdb(PrOutAction.PREEMPT_AND_ABORT, 5)]).toEqual([0x5f, 0x05, 0x05, 0, 0, 0, 0, 0, 24, 0]);
    const p = prOutParameters(0x1122334455667788n, 0xabn);
    expect(p.toString('hex')).toBe('1122334455667788' + '00000000000000ab' + '0'.repeat(16));
    expect(() => prOutParameters(-1n, 0n)).toThrow(RangeError);
    const w = rw16Cdb(true, 0x1_0000_0001, 2, true);
    expect(w.toString('hex')).toBe('8a08' + '0000000100000001' + '00000002' + '0000');
  });

  it('parses READ RESERVATION with and without a reservation', () => {
    const none = Buffer.alloc(8);
    none.writeUInt32BE(7, 0);
    expect(parseReadReservation(none)).toEqual({ generation: 7 });
    const held = Buffer.alloc(24);
    held.writeUInt32BE(9, 0);
    held.writeUInt32BE(16, 4);
    held.writeBigUInt64BE(0xb2n, 8);
    held[21] = 0x05;
    expect(parseReadReservation(held)).toEqual({ generation: 9, reservation: { key: 0xb2n, type: 'write-exclusive-registrants-only', scope: 0 } });
  });
});
