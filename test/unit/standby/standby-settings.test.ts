// The standby's roles from vigild's configuration: this system's role, the time-out in ms, and
// refusals of a partial or contradictory setting.
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/common/config.js';
import { standbySettings } from '../../../src/standby/standby-settings.js';

const cfg = (v: Record<string, string>) => buildConfig(v).config;
const roles = { VIGIL_STANDBY_PRIMARY: 'node1', VIGIL_STANDBY_SECONDARY: 'node2', VIGIL_STANDBY_DEVICE: '/dev/sdb' };

describe('standbySettings', () => {
  it('is undefined when no role key is set', () => {
    expect(standbySettings(cfg({ VIGIL_NODE_NAME: 'node1' }))).toBeUndefined();
  });
  it('gives each system its role, the time-out in ms and the fence default (on)', () => {
    expect(standbySettings(cfg({ ...roles, VIGIL_NODE_NAME: 'node1' }))).toMatchObject({ role: 'primary', timeoutMs: 30_000, fence: true, heartbeatIntervalMs: 5000 });
    expect(standbySettings(cfg({ ...roles, VIGIL_NODE_NAME: 'node2', VIGIL_STANDBY_TIMEOUT: '2.5', VIGIL_STANDBY_FENCE: 'off' }))).toMatchObject({ role: 'standby', timeoutMs: 2500, fence: false });
    expect(standbySettings(cfg({ ...roles, VIGIL_NODE_NAME: 'node3' }))?.role).toBe('none');
  });
  it('refuses a partial setting, naming the missing keys, and one system in both roles', () => {
    expect(() => standbySettings(cfg({ VIGIL_STANDBY_PRIMARY: 'node1', VIGIL_NODE_NAME: 'node1' }))).toThrow(
      'the recovery-server standby needs VIGIL_STANDBY_SECONDARY, VIGIL_STANDBY_DEVICE set too (it has VIGIL_STANDBY_PRIMARY)',
    );
    expect(() => standbySettings(cfg({ ...roles, VIGIL_STANDBY_SECONDARY: 'node1' }))).toThrow('VIGIL_STANDBY_PRIMARY and VIGIL_STANDBY_SECONDARY are both node1');
  });
  it('refuses a time-out out of range and a relative device path at configuration time', () => {
    expect(() => cfg({ ...roles, VIGIL_STANDBY_TIMEOUT: '0.5' })).toThrow(/VIGIL_STANDBY_TIMEOUT="0.5": must be at least 1/);
    expect(() => cfg({ ...roles, VIGIL_STANDBY_DEVICE: 'sdb' })).toThrow(/VIGIL_STANDBY_DEVICE="sdb": must be an absolute path/);
  });
});
