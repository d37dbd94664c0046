// The quorum evidence timing inputs (cluster/quorum/self-fence-lease.ts evidenceTiming) read
// from vigild's configuration, in one place: the watchdog's lease (wire-watchdog.ts) and the
// quorum gate's freshness rule (wire-quorum.ts) must judge the same evidence by the same clock.
import { probePeriodMs } from '../cluster/quorum/gate.js';
import type { EvidenceTimingInput } from '../cluster/quorum/self-fence-lease.js';
import type { VigilConfig } from '../common/config.js';

export function evidenceTimingInput(c: VigilConfig): EvidenceTimingInput {
  const heartbeatMs = c.LCMHBEATTIME * 1000;
  const timeoutMs = c.QUORUM_TIMEOUT_SECS * 1000;
  return {
    mode: c.QUORUM_MODE,
    usesHosts: c.QUORUM_MODE !== 'none' && c.QUORUM_MODE !== 'storage' && (c.QUORUM_HOSTS?.length ?? 0) > 0,
    probePeriodMs: probePeriodMs(heartbeatMs, timeoutMs),
    probeTimeoutMs: timeoutMs,
    heartbeatMs,
    missedHeartbeats: c.LCMNUMHBEATS,
    storage: c.QUORUM_MODE === 'storage' ? { intervalMs: c.QWK_STORAGE_HBEATTIME * 1000, numHbeats: c.QWK_STORAGE_NUMHBEATS } : undefined,
  };
}
