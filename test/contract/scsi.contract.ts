// The contract of ScsiGeneric, as a suite parametrised by a subject: two initiators (two nodes)
// that reach the same LUN, each by its own device path. test/contract/scsi.contract.test.ts runs
// it on the memory fabric; test/e2e/scsi-contract.test.ts on the VM cluster's real LUNs (the
// shared virtio-scsi disk and the storage VM's iSCSI LUNs), with the commands executed in the
// guests. Persistent-reservation cases run only where the device implements them; the subject
// says so from an independent check (sg_persist on the VMs), and the suite asserts our own
// detection agrees.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';

import { ProbeTimeoutError } from '../../src/platform/errors.js';
import type { ScsiGeneric } from '../../src/platform/platform.js';
import {
  ScsiCheckConditionError,
  ScsiReservationConflictError,
  ScsiTransportError,
  ScsiUnitAttentionError,
} from '../../src/platform/scsi/errors.js';
import { SenseKey } from '../../src/platform/scsi/sense.js';
import { supportsPersistentReservations } from '../../src/platform/scsi/pr-support.js';

export interface ScsiContractSubject {
  a: ScsiGeneric;
  b: ScsiGeneric;
  deviceA: string;
  deviceB: string;
  /** Whether the LUN implements persistent reservations, from a check independent of ours (must match caps). */
  persistentReservations: boolean;
  /** Makes every command to the LUN hang until the returned function runs (a frozen target). */
  hang?: () => Promise<() => Promise<void>>;
  /** Makes commands of initiator a fail in the transport until the returned function runs. */
  failTransport?: () => Promise<() => Promise<void>>;
  /** Time limit for ordinary commands (generous on TCG guests). */
  timeoutMs: number;
}

const KEY_A = 0xa1a1n;
const KEY_B = 0xb2b2n;

/** Sends TEST UNIT READY until no unit attention is pending (a reset or a preemption reported). */
export async function drainUnitAttentions(scsi: ScsiGeneric, device: string, timeoutMs: number): Promise<number> {
  for (let n = 0; n < 16; n++) {
    try {
      await scsi.testUnitReady(device, { timeoutMs });
      return n;
    } catch (err) {
      if (!(err instanceof ScsiUnitAttentionError)) throw err;
    }
  }
  throw new Error(`${device}: unit attentions keep coming`);
}

/**
 * What the device under test can do, known before the subject is built: cases that do not apply
 * are not registered (a LUN without persistent reservations has no reservation cases; it has the
 * case proving they are refused instead), so nothing is skipped silently.
 */
export interface ScsiContractCapabilities {
  persistentReservations: boolean;
  hang: boolean;
  failTransport: boolean;
}

export function scsiContract(
  name: string,
  caps: ScsiContractCapabilities,
  subject: () => Promise<ScsiContractSubject> | ScsiContractSubject,
): void {
  describe(`ScsiGeneric contract: ${name}`, () => {
    let s: ScsiContractSubject;
    const opts = () => ({ timeoutMs: s.timeoutMs });
    beforeAll(async () => {
      s = await subject();
      await drainUnitAttentions(s.a, s.deviceA, s.timeoutMs);
      await drainUnitAttentions(s.b, s.deviceB, s.timeoutMs);
    });

    it('INQUIRY names a direct-access device, the same unit serial from both initiators', async () => {
      const [ia, ib] = [await s.a.inquiry(s.deviceA, opts()), await s.b.inquiry(s.deviceB, opts())];
      expect(ia.peripheralDeviceType).toBe(0);
      expect(ia.vendor.length).toBeGreaterThan(0);
      expect(ia.product.length).toBeGreaterThan(0);
      expect(ib.vendor).toBe(ia.vendor);
      expect(ib.serial).toBe(ia.serial);
    });

    it('TEST UNIT READY succeeds and READ CAPACITY(16) gives the same geometry to both', async () => {
      await s.a.testUnitReady(s.deviceA, opts());
      const [ca, cb] = [await s.a.readCapacity(s.deviceA, opts()), await s.b.readCapacity(s.deviceB, opts())];
      expect(ca.blocks).toBeGreaterThan(0);
      expect([512, 4096]).toContain(ca.blockSize);
      expect(cb).toEqual(ca);
    });

    it('WRITE(16) with FUA by one initiator is read back byte for byte by the other with READ(16)', async () => {
      const { blockSize } = await s.a.readCapacity(s.deviceA, opts());
      const data = randomBytes(blockSize * 2);
      await s.a.write(s.deviceA, 8, data, blockSize, { ...opts(), fua: true });
      expect((await s.b.read(s.deviceB, 8, 2, blockSize, { ...opts(), fua: true })).equals(data)).toBe(true);
    });

    it('a READ past the last block is a typed CHECK CONDITION, ILLEGAL REQUEST', async () => {
      const { blocks, blockSize } = await s.a.readCapacity(s.deviceA, opts());
      const err = await s.a.read(s.deviceA, blocks, 1, blockSize, opts()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ScsiCheckConditionError);
      expect((err as ScsiCheckConditionError).sense?.key).toBe(SenseKey.ILLEGAL_REQUEST);
      expect((err as ScsiCheckConditionError).sense?.asc).toBe(0x21);
    });

    it('our detection of persistent reservations agrees with the independent check', async () => {
      expect(await supportsPersistentReservations(s.a, s.deviceA, s.timeoutMs)).toBe(s.persistentReservations);
    });

    if (!caps.persistentReservations) {
      it('without persistent reservations, PR commands are refused as an unsupported command (typed)', async () => {
        const err = await s.a.readKeys(s.deviceA, opts()).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ScsiCheckConditionError);
        expect((err as ScsiCheckConditionError).unsupportedCommand).toBe(true);
      });
    }

    if (caps.persistentReservations) describe('persistent reservations', () => {
      /** A clean LUN: no registrations, no reservation, no pending unit attention. */
      const reset = async () => {
        await s.a.registerAndIgnoreExistingKey(s.deviceA, KEY_A, opts());
        await s.a.clear(s.deviceA, KEY_A, opts());
        await drainUnitAttentions(s.a, s.deviceA, s.timeoutMs);
        await drainUnitAttentions(s.b, s.deviceB, s.timeoutMs);
      };

      it('registrations are seen from both initiators, with the generation advancing', async () => {
        await reset();
        const g0 = (await s.b.readKeys(s.deviceB, opts())).generation;
        await s.a.register(s.deviceA, 0n, KEY_A, opts());
        await s.b.register(s.deviceB, 0n, KEY_B, opts());
        const fromA = await s.a.readKeys(s.deviceA, opts());
        const fromB = await s.b.readKeys(s.deviceB, opts());
        expect(fromA.keys.sort()).toEqual([KEY_A, KEY_B].sort());
        expect(fromB).toEqual(fromA);
        expect(fromA.generation).toBeGreaterThanOrEqual(g0 + 2);
        // REGISTER with a key that is not ours is a reservation conflict.
        await expect(s.b.register(s.deviceB, 0x999n, 0x1234n, opts())).rejects.toBeInstanceOf(ScsiReservationConflictError);
      });

      it('WRITE EXCLUSIVE – REGISTRANTS ONLY: registrants write, a non-registrant gets RESERVATION CONFLICT but reads', async () => {
        await reset();
        const { blockSize } = await s.a.readCapacity(s.deviceA, opts());
        await s.a.register(s.deviceA, 0n, KEY_A, opts());
        await s.a.reserve(s.deviceA, KEY_A, 'write-exclusive-registrants-only', opts());
        expect((await s.b.readReservation(s.deviceB, opts())).reservation).toEqual({ key: KEY_A, type: 'write-exclusive-registrants-only', scope: 0 });
        const mine = randomBytes(blockSize);
        await s.a.write(s.deviceA, 16, mine, blockSize, opts());
        const refused = await s.b.write(s.deviceB, 16, randomBytes(blockSize), blockSize, opts()).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(ScsiReservationConflictError);
        expect((refused as ScsiReservationConflictError).status).toBe(0x18);
        expect((await s.b.read(s.deviceB, 16, 1, blockSize, opts())).equals(mine)).toBe(true);
        // Registered, b may write too: that is what "registrants only" means.
        await s.b.register(s.deviceB, 0n, KEY_B, opts());
        await s.b.write(s.deviceB, 17, randomBytes(blockSize), blockSize, opts());
        // A second reservation by another registrant conflicts.
        await expect(s.b.reserve(s.deviceB, KEY_B, 'write-exclusive-registrants-only', opts())).rejects.toBeInstanceOf(ScsiReservationConflictError);
      });

      it('PREEMPT AND ABORT: the preempted initiator gets a UNIT ATTENTION, then RESERVATION CONFLICT on writes', async () => {
        await reset();
        const { blockSize } = await s.a.readCapacity(s.deviceA, opts());
        await s.a.register(s.deviceA, 0n, KEY_A, opts());
        await s.a.reserve(s.deviceA, KEY_A, 'write-exclusive-registrants-only', opts());
        await s.b.register(s.deviceB, 0n, KEY_B, opts());
        await s.b.preempt(s.deviceB, KEY_B, KEY_A, 'write-exclusive-registrants-only', { ...opts(), abort: true });
        const told = await s.a.testUnitReady(s.deviceA, opts()).catch((e: unknown) => e);
        expect(told).toBeInstanceOf(ScsiUnitAttentionError);
        expect((told as ScsiUnitAttentionError).sense).toMatchObject({ key: SenseKey.UNIT_ATTENTION, asc: 0x2a, ascq: 0x05 });
        await drainUnitAttentions(s.a, s.deviceA, s.timeoutMs);
        await expect(s.a.write(s.deviceA, 16, randomBytes(blockSize), blockSize, opts())).rejects.toBeInstanceOf(ScsiReservationConflictError);
        expect((await s.a.readKeys(s.deviceA, opts())).keys).toEqual([KEY_B]);
        expect((await s.a.readReservation(s.deviceA, opts())).reservation).toMatchObject({ key: KEY_B, type: 'write-exclusive-registrants-only' });
        // The fenced initiator can no longer act with its old key.
        await expect(s.a.reserve(s.deviceA, KEY_A, 'write-exclusive-registrants-only', opts())).rejects.toBeInstanceOf(ScsiReservationConflictError);
      });

      it('PREEMPT of a key that is not the holder removes only that registration; RELEASE and CLEAR', async () => {
        await reset();
        await s.a.register(s.deviceA, 0n, KEY_A, opts());
        await s.b.register(s.deviceB, 0n, KEY_B, opts());
        await s.a.reserve(s.deviceA, KEY_A, 'write-exclusive-registrants-only', opts());
        await s.a.preempt(s.deviceA, KEY_A, KEY_B, 'write-exclusive-registrants-only', opts());
        expect((await s.a.readKeys(s.deviceA, opts())).keys).toEqual([KEY_A]);
        await expect(s.b.testUnitReady(s.deviceB, opts())).rejects.toBeInstanceOf(ScsiUnitAttentionError);
        await drainUnitAttentions(s.b, s.deviceB, s.timeoutMs);
        // RELEASE with the wrong type is refused and the reservation stays. SPC-4 says ILLEGAL
        // REQUEST (invalid release of persistent reservation); LIO answers RESERVATION CONFLICT.
        const wrong = await s.a.release(s.deviceA, KEY_A, 'exclusive-access', opts()).catch((e: unknown) => e);
        if (wrong instanceof ScsiCheckConditionError) expect(wrong.sense).toMatchObject({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x26, ascq: 0x04 });
        else expect(wrong).toBeInstanceOf(ScsiReservationConflictError);
        expect((await s.b.readReservation(s.deviceB, opts())).reservation).toMatchObject({ key: KEY_A });
        await s.a.release(s.deviceA, KEY_A, 'write-exclusive-registrants-only', opts());
        expect((await s.b.readReservation(s.deviceB, opts())).reservation).toBeUndefined();
        await s.b.registerAndIgnoreExistingKey(s.deviceB, KEY_B, opts());
        await s.b.clear(s.deviceB, KEY_B, opts());
        // CLEAR removes every registration and tells the other registrants with a unit attention.
        const told = await s.a.testUnitReady(s.deviceA, opts()).catch((e: unknown) => e);
        expect(told).toBeInstanceOf(ScsiUnitAttentionError);
        expect((told as ScsiUnitAttentionError).sense).toMatchObject({ asc: 0x2a, ascq: 0x03 });
        expect((await s.a.readKeys(s.deviceA, opts())).keys).toEqual([]);
      });
    });

    if (caps.hang) {
      it('a command that does not return within its limit rejects with ProbeTimeoutError', async () => {
        const release = await s.hang!();
        try {
          const t0 = Date.now();
          const err = await s.a.testUnitReady(s.deviceA, { timeoutMs: 1500 }).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(ProbeTimeoutError);
          expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
        } finally {
          await release();
        }
        await drainUnitAttentions(s.a, s.deviceA, s.timeoutMs);
      });
    }

    if (caps.failTransport) {
      it('a transport failure is a typed ScsiTransportError', async () => {
        const restore = await s.failTransport!();
        try {
          // A real transport gives up only after its own timeouts (iSCSI: the replacement timeout).
          const err = await s.a.testUnitReady(s.deviceA, { timeoutMs: 120_000 }).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(ScsiTransportError);
          expect((err as ScsiTransportError).hostStatus).not.toBe(0);
        } finally {
          await restore();
        }
      });
    }
  });
}
