// Whether a LUN implements SCSI-3 persistent reservations: PERSISTENT RESERVE IN (READ KEYS)
// either answers, or the device refuses the opcode (ILLEGAL REQUEST, invalid command operation
// code — QEMU's scsi-hd without a pr-manager helper does this). Anything else (timeout, transport
// failure) is not an answer and is thrown.
import type { ScsiGeneric } from '../platform.js';
import { ScsiCheckConditionError, ScsiUnitAttentionError } from './errors.js';

export async function supportsPersistentReservations(scsi: ScsiGeneric, device: string, timeoutMs: number): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await scsi.readKeys(device, { timeoutMs });
      return true;
    } catch (err) {
      if (err instanceof ScsiUnitAttentionError && attempt < 8) continue; // reported once, then cleared
      if (err instanceof ScsiCheckConditionError && err.unsupportedCommand) return false;
      throw err;
    }
  }
}
