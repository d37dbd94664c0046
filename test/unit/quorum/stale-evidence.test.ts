// A system whose event loop was stopped or starved wakes with a quorum verdict it had no chance
// to revise. The gate's freshness rule (gate.ts evidenceStaleMs): nothing comes in service on a
// "yes" whose facts are older than the evidence age + grace (self-fence-lease.ts evidenceTiming),
// until fresh facts renew it. Pure, on the gate with a fake clock; then vigild's quorum subsystem
// on the memory platform with its event loop really blocked.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { QuorumGate, type QuorumGateConfig } from '../../../src/cluster/quorum/gate.js';
import { evidenceTiming } from '../../../src/cluster/quorum/self-fence-lease.js';
import { buildConfig } from '../../../src/common/config.js';
import { Agent } from '../../../src/daemon/agent.js';
import { attachQuorum } from '../../../src/daemon/wire-quorum.js';
import { memoryDisk } from '../../helpers/memory-disk.js';

const cfg = (c: Partial<QuorumGateConfig> = {}): QuorumGateConfig => ({
  mode: 'majority', local: 'n1', hosts: [], probeTimeoutMs: 2_000, probePeriodMs: 1_000, quarantineMs: 0, lossActionMs: 0, heartbeatMs: 1_000, evidenceMaxAgeMs: 5_000, ...c,
});

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('the gate brings nothing in service on stale quorum facts', () => {
  it('majority of three: echoes older than the limit make the open gate stale until a fresh echo', () => {
    const g = new QuorumGate(cfg(), 0);
    const sys = ['n1', 'n2', 'n3'];
    g.step({ type: 'membership', systems: sys, alive: ['n2', 'n3'], nowMs: 0 });
    expect(g.isOpen()).toBe(true);
    const echoes: Record<string, number | undefined> = { n2: 1_000, n3: 900 };
    const echoed = (s: string) => echoes[s];
    // A majority needs one peer: the freshest echo counts.
    expect(g.evidenceStaleMs(1_500, echoed)).toBeUndefined();
    expect(g.evidenceStaleMs(6_000, echoed)).toBeUndefined();
    // Woken at 20 s without having run: the membership still says both alive, the echoes are 19 s old.
    expect(g.evidenceStaleMs(20_000, echoed)).toBe(19_000);
    echoes.n3 = 19_900;
    expect(g.evidenceStaleMs(20_000, echoed)).toBeUndefined();
  });
  it('tcp_remote: a reachable answer from a round older than the limit is stale; a new round renews it', () => {
    const g = new QuorumGate(cfg({ mode: 'tcp_remote', hosts: ['w1'] }), 0);
    g.step({ type: 'membership', systems: ['n1', 'n2'], alive: ['n2'], nowMs: 0 });
    g.step({ type: 'probe-result', host: 'w1', reachable: true, roundStartMs: 100, nowMs: 150 });
    expect(g.isOpen()).toBe(true);
    expect(g.evidenceStaleMs(5_000, () => undefined)).toBeUndefined();
    expect(g.evidenceStaleMs(5_200, () => undefined)).toBe(5_100);
    g.step({ type: 'probe-result', host: 'w1', reachable: true, roundStartMs: 5_200, nowMs: 5_210 });
    expect(g.evidenceStaleMs(5_300, () => undefined)).toBeUndefined();
  });
  it('never stale where nothing outside can take quorum away, without a limit, or with no measurable evidence', () => {
    const none = new QuorumGate(cfg({ mode: 'none' }), 0);
    none.tick(0);
    expect(none.isOpen()).toBe(true);
    expect(none.evidenceStaleMs(1e9, () => undefined)).toBeUndefined();
    const unlimited = new QuorumGate(cfg({ evidenceMaxAgeMs: undefined }), 0);
    unlimited.step({ type: 'membership', systems: ['n1', 'n2', 'n3'], alive: ['n2'], nowMs: 0 });
    expect(unlimited.evidenceStaleMs(1e9, () => 0)).toBeUndefined();
    // A peer seen over DISK paths only whose vigild predates the disk echoes: no evidence to judge.
    const disk = new QuorumGate(cfg(), 0);
    disk.step({ type: 'membership', systems: ['n1', 'n2', 'n3'], alive: ['n2'], nowMs: 0 });
    expect(disk.evidenceStaleMs(1e9, () => undefined)).toBeUndefined();
  });
  it('a closed gate is closed for its own reason, not for staleness', () => {
    const g = new QuorumGate(cfg(), 0);
    g.step({ type: 'membership', systems: ['n1', 'n2', 'n3'], alive: [], nowMs: 0 });
    expect(g.isOpen()).toBe(false);
    expect(g.evidenceStaleMs(50_000, () => 0)).toBeUndefined();
  });
  it('the limit is the evidence age plus the grace', () => {
    const t = evidenceTiming({ mode: 'majority', usesHosts: false, probePeriodMs: 1_000, probeTimeoutMs: 5_000, heartbeatMs: 1_000, missedHeartbeats: 3 });
    expect(t.evidenceAgeMs + t.graceMs).toBe(5_000);
  });
});

describe('vigild with its event loop blocked (memory platform, tcp_remote with a witness on loopback)', { timeout: 60_000 }, () => {
  it('refuses to bring anything in service on the facts from before the block, then wakes the engine when fresh ones come', async () => {
    const root = mkdtempSync(join(tmpdir(), 'vigil-stale-quorum-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const dir = join(root, 'state');
    const witness = createServer((c) => c.end());
    await new Promise<void>((r) => witness.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => witness.close(() => r())));
    const port = (witness.address() as AddressInfo).port;
    const { config } = buildConfig({
      VIGIL_NODE_NAME: 'node1', VIGIL_STATE_DIR: dir, VIGIL_ADMIN_SOCKET: join(dir, 'admin.sock'), VIGIL_METRICS_ADDRESS: 'off',
      QUORUM_MODE: 'tcp_remote', QUORUM_HOSTS: `127.0.0.1:${port}`, QUORUM_TIMEOUT_SECS: '1', LCMHBEATTIME: '1',
    });
    const disk = memoryDisk(dir);
    const agent = new Agent(config, pino({ level: process.env.DBG ? 'info' : 'silent' }), { platform: disk.platform });
    cleanups.push(() => agent.stop());
    const quorum = attachQuorum(agent, undefined);
    let woken = 0;
    quorum.bindHierarchy({ takeAllOutOfService: async () => [], quorumChanged: () => woken++ });
    await agent.start();
    const deadline = Date.now() + 10_000;
    while (!quorum.mayBringInService()) {
      if (Date.now() > deadline) throw new Error('the gate never opened');
      await new Promise((r) => setTimeout(r, 50));
    }
    const wokenBefore = woken;
    // Limit: probe period 1 s + QUORUM_TIMEOUT_SECS 1 s + grace max(2 s, 2 x 1 s) = 4 s. Block the
    // loop for 5 s, as a stopped or starved process: no probe round runs meanwhile and the gate
    // keeps the witness's last "reachable".
    const until = Date.now() + 5_000;
    while (Date.now() < until);
    expect(quorum.status()?.open).toBe(true);
    expect(quorum.mayBringInService()).toBe(false);
    expect(quorum.closedOnlyForAWhile()).toBe(true);
    // The next probe round renews the facts; the engine is woken to retry what was held back.
    const back = Date.now() + 10_000;
    while (!quorum.mayBringInService()) {
      if (Date.now() > back) throw new Error('the gate never came back after the block');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(woken).toBeGreaterThan(wokenBefore);
  });
});
