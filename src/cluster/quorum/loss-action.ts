// What a system does the moment it loses quorum (QUORUM_LOSS_ACTION): osu takes every
// hierarchy in service here out of service; fastkill powers the node off and fastboot reboots
// it, at once and without syncing, through the platform's NodePower (the memory twin records
// it in tests; on a real node the call does not return). Runs once per loss. osu that cannot
// take a hierarchy out of service ends vigild's process group rather than serve without quorum.
import type { NodePower } from '../../platform/platform.js';

export type QuorumLossAction = 'osu' | 'fastkill' | 'fastboot';

export interface LossActionDeps {
  nodePower: NodePower;
  /** Takes every hierarchy in service here out of service; resolves with those that stayed. */
  takeAllOutOfService: () => Promise<string[]>;
  /** Ends vigild and everything it started (its process group): the last resort of osu. */
  endAgent: (reason: string) => void;
  log: (level: 'warn' | 'error' | 'fatal', msg: string, fields?: Record<string, unknown>) => void;
}

/** Time the losing side is given to stop serving before a survivor may take over (see gate.ts). */
export function lossActionAllowanceMs(action: QuorumLossAction, quorumTimeoutMs: number): number {
  // Power-off and reboot are immediate; taking hierarchies out of service runs their remove
  // scripts, given QUORUM_TIMEOUT_SECS more.
  return action === 'osu' ? quorumTimeoutMs : 0;
}

/** Resolves true when this system serves nothing any more and still runs (osu that took everything out of service). */
export async function runLossAction(action: QuorumLossAction, reason: string, deps: LossActionDeps): Promise<boolean> {
  switch (action) {
    case 'fastkill':
      deps.log('fatal', `quorum lost (${reason}): QUORUM_LOSS_ACTION=fastkill, powering off now`);
      deps.nodePower.powerOff(`quorum lost: ${reason}`);
      return false;
    case 'fastboot':
      deps.log('fatal', `quorum lost (${reason}): QUORUM_LOSS_ACTION=fastboot, rebooting now`);
      deps.nodePower.reboot(`quorum lost: ${reason}`);
      return false;
    case 'osu': {
      deps.log('error', `quorum lost (${reason}): QUORUM_LOSS_ACTION=osu, taking every hierarchy out of service`);
      const left = await deps.takeAllOutOfService();
      if (left.length) {
        // A hierarchy that would not leave service must not keep serving without quorum: end
        // vigild's process group, which ends the services its kits started.
        deps.log('fatal', `quorum lost and ${left.join(', ')} would not leave service: ending vigild and its services`, { hierarchies: left });
        deps.endAgent(`quorum lost and ${left.join(', ')} would not leave service`);
        return false;
      }
      return true;
    }
  }
}
