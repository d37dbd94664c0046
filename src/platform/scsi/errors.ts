// Typed errors of SCSI commands. A command that reached the device and came back with a status
// other than GOOD becomes one of these (by status and sense key), so callers branch on the type:
// the fence on ScsiReservationConflictError, the heartbeat on ScsiTransportError, everyone on
// ScsiUnitAttentionError (retry once: the condition is reported, then cleared). A command that
// never reached the kernel's SCSI layer is a SysError (e.g. ENOTTY: the device takes no SG_IO) and
// one that did not return in time a ProbeTimeoutError (../errors.ts).
import { decodeSense, type DecodedSense, ScsiStatus, SenseKey, statusName } from './sense.js';

/** What the kernel reported for one SCSI command (the SG_IO header's outcome fields). */
export interface RawScsiOutcome {
  status: number;
  hostStatus: number;
  driverStatus: number;
  sense: Uint8Array;
}

/** Linux's driver_status DRIVER_SENSE bit: sense data is present, not an error by itself. */
const DRIVER_SENSE = 0x08;

export abstract class ScsiError extends Error {
  abstract readonly code: string;
  readonly command: string;
  readonly device: string;
  readonly status: number;
  readonly hostStatus: number;
  readonly driverStatus: number;
  readonly sense: DecodedSense | undefined;

  constructor(command: string, device: string, outcome: RawScsiOutcome, detail: string) {
    super(`${command} on '${device}': ${detail}`);
    this.command = command;
    this.device = device;
    this.status = outcome.status;
    this.hostStatus = outcome.hostStatus;
    this.driverStatus = outcome.driverStatus;
    this.sense = decodeSense(outcome.sense);
  }
}

/** Status RESERVATION CONFLICT: another initiator's persistent reservation bars this command. */
export class ScsiReservationConflictError extends ScsiError {
  readonly code = 'ESCSIRESERVATIONCONFLICT';
  constructor(command: string, device: string, outcome: RawScsiOutcome) {
    super(command, device, outcome, 'RESERVATION CONFLICT');
    this.name = 'ScsiReservationConflictError';
  }
}

/** CHECK CONDITION, sense key UNIT ATTENTION (a reset, reservations or registrations preempted...). */
export class ScsiUnitAttentionError extends ScsiError {
  readonly code = 'ESCSIUNITATTENTION';
  constructor(command: string, device: string, outcome: RawScsiOutcome) {
    super(command, device, outcome, `CHECK CONDITION, ${decodeSense(outcome.sense)?.text ?? 'UNIT ATTENTION'}`);
    this.name = 'ScsiUnitAttentionError';
  }
}

/** CHECK CONDITION, sense key NOT READY. */
export class ScsiNotReadyError extends ScsiError {
  readonly code = 'ESCSINOTREADY';
  constructor(command: string, device: string, outcome: RawScsiOutcome) {
    super(command, device, outcome, `CHECK CONDITION, ${decodeSense(outcome.sense)?.text ?? 'NOT READY'}`);
    this.name = 'ScsiNotReadyError';
  }
}

/** Any other CHECK CONDITION (ILLEGAL REQUEST: e.g. a device without persistent reservations). */
export class ScsiCheckConditionError extends ScsiError {
  readonly code = 'ESCSICHECKCONDITION';
  constructor(command: string, device: string, outcome: RawScsiOutcome) {
    super(command, device, outcome, `CHECK CONDITION, ${decodeSense(outcome.sense)?.text ?? 'no sense data'}`);
    this.name = 'ScsiCheckConditionError';
  }

  /** ILLEGAL REQUEST / invalid command operation code: the device does not implement the command. */
  get unsupportedCommand(): boolean {
    return this.sense?.key === SenseKey.ILLEGAL_REQUEST && this.sense.asc === 0x20 && this.sense.ascq === 0x00;
  }
}

/** Other statuses: BUSY, TASK SET FULL, TASK ABORTED, ACA ACTIVE. */
export class ScsiStatusError extends ScsiError {
  readonly code = 'ESCSISTATUS';
  constructor(command: string, device: string, outcome: RawScsiOutcome) {
    super(command, device, outcome, statusName(outcome.status));
    this.name = 'ScsiStatusError';
  }
}

const HOST_STATUS: Record<number, string> = {
  0x01: 'DID_NO_CONNECT',
  0x02: 'DID_BUS_BUSY',
  0x03: 'DID_TIME_OUT',
  0x04: 'DID_BAD_TARGET',
  0x05: 'DID_ABORT',
  0x06: 'DID_PARITY',
  0x07: 'DID_ERROR',
  0x08: 'DID_RESET',
  0x0b: 'DID_SOFT_ERROR',
  0x0e: 'DID_TRANSPORT_DISRUPTED',
  0x0f: 'DID_TRANSPORT_FAILFAST',
  0x11: 'DID_TRANSPORT_MARGINAL',
};

/** The command did not complete at the device: the host adapter or transport reported an error. */
export class ScsiTransportError extends ScsiError {
  readonly code = 'ESCSITRANSPORT';
  constructor(command: string, device: string, outcome: RawScsiOutcome) {
    const host = HOST_STATUS[outcome.hostStatus] ?? `host status 0x${outcome.hostStatus.toString(16)}`;
    super(command, device, outcome, `transport failure (${host}, driver status 0x${outcome.driverStatus.toString(16)})`);
    this.name = 'ScsiTransportError';
  }
}

/** The typed error for a command's outcome, or undefined when it succeeded (status GOOD). */
export function scsiOutcomeError(command: string, device: string, outcome: RawScsiOutcome): ScsiError | undefined {
  if (outcome.hostStatus !== 0 || (outcome.driverStatus & ~DRIVER_SENSE) !== 0) {
    return new ScsiTransportError(command, device, outcome);
  }
  switch (outcome.status) {
    case ScsiStatus.GOOD:
    case ScsiStatus.CONDITION_MET:
      return undefined;
    case ScsiStatus.RESERVATION_CONFLICT:
      return new ScsiReservationConflictError(command, device, outcome);
    case ScsiStatus.CHECK_CONDITION: {
      const key = decodeSense(outcome.sense)?.key;
      if (key === SenseKey.UNIT_ATTENTION) return new ScsiUnitAttentionError(command, device, outcome);
      if (key === SenseKey.NOT_READY) return new ScsiNotReadyError(command, device, outcome);
      // RECOVERED ERROR means the command did complete.
      if (key === SenseKey.RECOVERED_ERROR) return undefined;
      return new ScsiCheckConditionError(command, device, outcome);
    }
    default:
      return new ScsiStatusError(command, device, outcome);
  }
}
