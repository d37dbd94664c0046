// QUORUM_LOSS_ACTION against the memory twin of NodePower: fastkill powers off, fastboot
// reboots, osu takes the hierarchies out of service (and ends the agent when one stays); the
// survivor's allowance for the loser's action.
import { describe, expect, it } from 'vitest';
import { lossActionAllowanceMs, runLossAction, type LossActionDeps } from '../../../src/cluster/quorum/loss-action.js';
import { MemoryNodePower } from '../../../src/platform/memory/node-power.js';

function deps(stays: string[] = []) {
  const nodePower = new MemoryNodePower();
  const calls: string[] = [];
  const logs: string[] = [];
  const d: LossActionDeps = {
    nodePower,
    takeAllOutOfService: async () => {
      calls.push('osu');
      return stays;
    },
    endAgent: (why) => calls.push(`end: ${why}`),
    log: (level, msg) => logs.push(`${level} ${msg}`),
  };
  return { d, nodePower, calls, logs };
}

describe('runLossAction', () => {
  it('fastkill powers the node off at once, nothing taken out of service first', async () => {
    const { d, nodePower, calls, logs } = deps();
    expect(await runLossAction('fastkill', '1 of 3 systems: no majority', d)).toBe(false);
    expect(nodePower.records).toEqual([{ action: 'power-off', reason: 'quorum lost: 1 of 3 systems: no majority' }]);
    expect(calls).toEqual([]);
    expect(logs[0]).toMatch(/^fatal .*fastkill, powering off now/);
  });
  it('fastboot reboots at once', async () => {
    const { d, nodePower, calls } = deps();
    await runLossAction('fastboot', 'x', d);
    expect(nodePower.records.map((r) => r.action)).toEqual(['reboot']);
    expect(calls).toEqual([]);
  });
  it('osu takes every hierarchy out of service and leaves the node up', async () => {
    const { d, nodePower, calls } = deps();
    // Resolves "serves nothing now": the DISK records may then say yielding (wire-quorum.ts).
    expect(await runLossAction('osu', 'x', d)).toBe(true);
    expect(calls).toEqual(['osu']);
    expect(nodePower.records).toEqual([]);
  });
  it('osu ends the agent when a hierarchy would not leave service', async () => {
    const { d, nodePower, calls } = deps(['web']);
    expect(await runLossAction('osu', 'x', d)).toBe(false);
    expect(calls).toEqual(['osu', 'end: quorum lost and web would not leave service']);
    expect(nodePower.records).toEqual([]);
  });
});

describe('lossActionAllowanceMs', () => {
  it('gives osu QUORUM_TIMEOUT_SECS to finish, the power actions nothing', () => {
    expect(lossActionAllowanceMs('osu', 20_000)).toBe(20_000);
    expect(lossActionAllowanceMs('fastkill', 20_000)).toBe(0);
    expect(lossActionAllowanceMs('fastboot', 20_000)).toBe(0);
  });
});
