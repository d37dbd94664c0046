// The recovery-server standby's settings, from vigild's configuration (VIGIL_STANDBY_* keys):
// the fixed roles, the shared LUN and the time-out, and this system's role among them. A partial
// or contradictory setting is refused with the key to fix.
import { VigilError } from '../common/errors.js';
import type { VigilConfig } from '../common/config.js';

export type StandbyRole = 'primary' | 'standby' | 'none';

export interface StandbySettings {
  primary: string;
  standby: string;
  device: string;
  timeoutMs: number;
  fence: boolean;
  heartbeatIntervalMs: number;
  /** This system's role: the one its VIGIL_NODE_NAME has. */
  role: StandbyRole;
  localSystem: string;
  stateDir: string;
  keyFile: string;
}

/** undefined when no standby is configured (none of the role keys set). */
export function standbySettings(c: VigilConfig): StandbySettings | undefined {
  const set = [c.VIGIL_STANDBY_PRIMARY, c.VIGIL_STANDBY_SECONDARY, c.VIGIL_STANDBY_DEVICE];
  if (set.every((v) => v === undefined)) return undefined;
  const missing = (['VIGIL_STANDBY_PRIMARY', 'VIGIL_STANDBY_SECONDARY', 'VIGIL_STANDBY_DEVICE'] as const).filter((k) => c[k] === undefined);
  if (missing.length) throw new VigilError(0, `the recovery-server standby needs ${missing.join(', ')} set too (it has ${['VIGIL_STANDBY_PRIMARY', 'VIGIL_STANDBY_SECONDARY', 'VIGIL_STANDBY_DEVICE'].filter((k) => !missing.includes(k as never)).join(', ')})`, { keys: missing });
  if (c.VIGIL_STANDBY_PRIMARY === c.VIGIL_STANDBY_SECONDARY) throw new VigilError(0, `VIGIL_STANDBY_PRIMARY and VIGIL_STANDBY_SECONDARY are both ${c.VIGIL_STANDBY_PRIMARY}: the roles need two systems`, {});
  const me = c.VIGIL_NODE_NAME;
  return {
    primary: c.VIGIL_STANDBY_PRIMARY!,
    standby: c.VIGIL_STANDBY_SECONDARY!,
    device: c.VIGIL_STANDBY_DEVICE!,
    timeoutMs: Math.round(c.VIGIL_STANDBY_TIMEOUT * 1000),
    fence: c.VIGIL_STANDBY_FENCE === 'on',
    heartbeatIntervalMs: Math.round(c.LCMHBEATTIME * 1000),
    role: me === c.VIGIL_STANDBY_PRIMARY ? 'primary' : me === c.VIGIL_STANDBY_SECONDARY ? 'standby' : 'none',
    localSystem: me,
    stateDir: c.VIGIL_STATE_DIR,
    keyFile: c.VIGIL_KEY_FILE,
  };
}
