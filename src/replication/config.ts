// The replication tunables, read from the raw KEY=VALUE map of /etc/default/vigil (the core
// schema keeps unknown keys for kits). LKDR_SPEED_LIMIT keeps the product's name for the resync
// speed ceiling; the others are Vigil's own. The link hold's default follows the cluster's
// death-detection time. An invalid value is an error naming the key.
import { VigilError } from '../common/errors.js';

export interface ReplicationConfig {
  /** Resync speed ceiling of each mirror in KiB/s (md's sync_speed_max); 'system' leaves md's default. */
  syncSpeedMaxKiB: number | 'system';
  /** NBD I/O time-out: I/O the backup does not answer within this fails, and md drops the backup. */
  nbdIoTimeoutSec: number;
  /** Write-intent bitmap chunk: the unit a resync after an outage copies. */
  bitmapChunkKiB: number;
  /** Time limit of each md/NBD call and of each mdadm run. */
  callTimeoutMs: number;
  /**
   * How long the kernel holds the backup half's requests after the replication link died, while
   * vigild gets the backup to record itself out of date (NBD dead-connection time-out). Past it
   * the kernel fails the half by itself: the one window in which the primary can acknowledge a
   * write the backup does not know it missed.
   */
  linkHoldSec: number;
}

/** Hard cap of the hold: writes wait at most this long for a backup that neither answers nor dies. */
export const MAX_LINK_HOLD_SEC = 600;

/**
 * The default hold: twice the time membership takes to declare a silent system dead, plus 10 s
 * for the out-of-date request and the release, capped at MAX_LINK_HOLD_SEC.
 */
export function defaultLinkHoldSec(deathDetectionMs: number): number {
  return Math.min(MAX_LINK_HOLD_SEC, Math.ceil((2 * deathDetectionMs) / 1000) + 10);
}

export const REPLICATION_DEFAULTS: ReplicationConfig = {
  syncSpeedMaxKiB: 'system',
  nbdIoTimeoutSec: 10,
  bitmapChunkKiB: 4096,
  callTimeoutMs: 30_000,
  linkHoldSec: defaultLinkHoldSec(15_000),
};

function wholeNumber(raw: Record<string, string>, key: string, min: number, max: number): number | undefined {
  const v = raw[key];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new VigilError(0, `invalid configuration: ${key}=${JSON.stringify(v)}: must be a whole number from ${min} to ${max}`, { key });
  }
  return Number(v);
}

/** `deathDetectionMs`: heartbeat interval × missed heartbeats, for the default link hold. */
export function replicationConfig(raw: Record<string, string>, deathDetectionMs = 15_000): ReplicationConfig {
  const chunk = wholeNumber(raw, 'VIGIL_NETRAID_BITMAP_CHUNK_KB', 64, 1_048_576);
  if (chunk !== undefined && (chunk & (chunk - 1)) !== 0) {
    throw new VigilError(0, `invalid configuration: VIGIL_NETRAID_BITMAP_CHUNK_KB=${chunk}: must be a power of two`, { key: 'VIGIL_NETRAID_BITMAP_CHUNK_KB' });
  }
  const speed = raw.LKDR_SPEED_LIMIT === 'system' ? 'system' : wholeNumber(raw, 'LKDR_SPEED_LIMIT', 1, 10_000_000);
  return {
    syncSpeedMaxKiB: speed ?? REPLICATION_DEFAULTS.syncSpeedMaxKiB,
    nbdIoTimeoutSec: wholeNumber(raw, 'VIGIL_NBD_TIMEOUT', 1, 3600) ?? REPLICATION_DEFAULTS.nbdIoTimeoutSec,
    bitmapChunkKiB: chunk ?? REPLICATION_DEFAULTS.bitmapChunkKiB,
    callTimeoutMs: wholeNumber(raw, 'VIGIL_NETRAID_CALL_TIMEOUT_MS', 100, 3_600_000) ?? REPLICATION_DEFAULTS.callTimeoutMs,
    linkHoldSec: wholeNumber(raw, 'VIGIL_NETRAID_LINK_HOLD', 1, MAX_LINK_HOLD_SEC) ?? defaultLinkHoldSec(deathDetectionMs),
  };
}
