// What storage quorum shows of itself: the status built from the heartbeat's facts (pure), and
// vigild's quorum subsystem on the memory platform (a memory SCSI LUN with persistent
// reservations as QUORUM_DISK, a second system's heartbeat beside it): its metrics and the
// lcdstatus rows (text and --json) while the peer's record moves, and after it stopped and this
// system evicted it.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { registerCoreCommands } from '../../../src/admin/commands/index.js';
import { AdminCommands } from '../../../src/admin/registry.js';
import { quorumRecordKey } from '../../../src/cluster/disk-record.js';
import { StorageHeartbeat } from '../../../src/cluster/quorum/storage-heartbeat.js';
import { storageStatus, type QuorumStatus } from '../../../src/cluster/quorum/storage-status.js';
import { buildConfig } from '../../../src/common/config.js';
import { Agent } from '../../../src/daemon/agent.js';
import { attachMetrics } from '../../../src/daemon/wire-metrics.js';
import { attachQuorum } from '../../../src/daemon/wire-quorum.js';
import { ScsiFence } from '../../../src/fencing/scsi-fence.js';
import { memoryDisk } from '../../helpers/memory-disk.js';
import { samples, valueOf } from '../metrics/fake-sources.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('storage status (pure)', () => {
  it('says each peer record unknown before a read, absent when never found, moving, or stopped after N x T', () => {
    const timing = { intervalMs: 1_000, numHbeats: 3 };
    const seen = new Set(['n2', 'n3']);
    const unchanged: Record<string, number | undefined> = { n2: 500, n3: 3_000, n4: 9_000 };
    const base = {
      nowMs: 10_000, device: '/dev/sdq', serves: ['quorum' as const], io: 'SG_IO: test', timing,
      lastWroteAtMs: 9_600, lastRound: { fenced: undefined, error: undefined },
      watch: { unchangedFor: (s: string) => unchanged[s], seen: (s: string) => seen.has(s), lastReadAtMs: 9_700 },
      systems: ['n4', 'n3', 'n2', 'n5'], alive: new Set(['n2']), suspects: ['n3'],
      gate: { evictions: { bySystem: { n3: 'won' as const }, won: 1, lost: 0, failed: 2 } },
    };
    const s = storageStatus(base);
    expect(s.ownRecordAgeMs).toBe(400);
    expect(s.lastReadAgeMs).toBe(300);
    expect(s.peers.map((p) => [p.system, p.state, p.alive, p.eviction, p.suspect])).toEqual([
      ['n2', 'moving', true, undefined, false],
      ['n3', 'stopped', false, 'won', true],
      ['n4', 'absent', false, undefined, false],
      ['n5', 'unknown', false, undefined, false],
    ]);
    expect(s.evictions).toEqual({ won: 1, lost: 0, failed: 2 });
    const none = storageStatus({ ...base, lastWroteAtMs: undefined, gate: undefined, watch: { ...base.watch, lastReadAtMs: undefined } });
    expect([none.ownRecordAgeMs, none.lastReadAgeMs, none.evictions]).toEqual([undefined, undefined, { won: 0, lost: 0, failed: 0 }]);
  });
});

async function until<T>(what: string, get: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('storage quorum observability in vigild (memory platform)', { timeout: 60_000 }, () => {
  it('metrics and lcdstatus show the own record, the peer record moving then stopped, and the eviction won', async () => {
    const root = mkdtempSync(join(tmpdir(), 'vigil-squorum-obs-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const dir = join(root, 'state');
    const keyFile = join(root, 'cluster.key');
    const secret = Buffer.alloc(32, 9);
    writeFileSync(keyFile, `vigil-cluster-key-v1 ${secret.toString('hex')}\n`);
    chmodSync(keyFile, 0o600);
    const LUN = '/dev/sdq';
    const { config } = buildConfig({
      VIGIL_NODE_NAME: 'node1', VIGIL_STATE_DIR: dir, VIGIL_ADMIN_SOCKET: join(dir, 'admin.sock'), VIGIL_METRICS_ADDRESS: 'off',
      VIGIL_KEY_FILE: keyFile, QUORUM_MODE: 'storage', QUORUM_DISK: LUN, QWK_STORAGE_HBEATTIME: '0.2', QWK_STORAGE_NUMHBEATS: '3',
    });
    const disk = memoryDisk(dir);
    const fabric = disk.memory.scsiFabric;
    fabric.addLun(LUN, { blocks: 4096, blockSize: 512 });
    const agent = new Agent(config, pino({ level: 'silent' }), { platform: disk.platform });
    cleanups.push(() => agent.stop());
    const quorum = attachQuorum(agent, undefined);
    const { metrics } = attachMetrics(agent, { quorum });
    await agent.start();
    await agent.lcd.createSystem({ name: 'node2' });

    // node2's storage heartbeat on the same LUN (its own initiator and key).
    const scsi2 = fabric.initiator('node2');
    const peer = new StorageHeartbeat({
      device: LUN, localSystem: 'node2', bootId: 22n, recordKey: quorumRecordKey(secret),
      platform: { scsi: scsi2, directIo: fabric.directIo(), blockDevices: disk.platform.blockDevices },
      intervalMs: 200, fence: new ScsiFence(scsi2, { system: 'node2', commandTimeoutMs: 100, memberSince: () => 0 }),
      onRound: () => {}, log: () => {},
    });
    cleanups.push(() => peer.stop());
    peer.start();

    const status = () => quorum.status()!;
    await until('node2 record moving', () => (status().storage?.peers.find((p) => p.system === 'node2')?.state === 'moving' ? true : undefined));
    let body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_quorum_present{mode="storage"}')).toBe(1);
    expect(valueOf(body, `vigil_quorum_storage_own_record_age_seconds{device="${LUN}"}`)).toBeLessThan(0.6);
    expect(valueOf(body, `vigil_quorum_storage_fenced{device="${LUN}"}`)).toBe(0);
    expect(valueOf(body, 'vigil_quorum_storage_peer_record_state{system="node2",state="moving"}')).toBe(1);
    expect(valueOf(body, 'vigil_quorum_storage_peer_record_age_seconds{system="node2"}')).toBeLessThan(0.6);
    const commands = new AdminCommands();
    registerCoreCommands(commands);
    const lcdstatus = () => commands.dispatch({ id: 1, command: 'lcdstatus', options: {}, args: [] }, agent.context);
    let r = await lcdstatus();
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/\nQuorum:\n  QUORUM_MODE storage: quorum \(own storage record written \d+\.\d s ago\)\n/);
    expect(r.stdout).toMatch(/Storage heartbeat on \/dev\/sdq \(quorum; SG_IO: [^\n]*; every 0\.2 s, a record still 3 intervals counts as stopped\):\n  own record written 0\.\d s ago; last read 0\.\d s ago; key not fenced\n  evictions: won 0, lost 0, failed 0\n/);
    expect(r.stdout).toMatch(/\n  SYSTEM\s+MEMBERSHIP\s+RECORD\s+UNCHANGED\s+EVICTION\n  node2\s+NOT SEEN\s+moving\s+0\.\d s\s+-\n/);
    expect((r.data as { quorum: QuorumStatus }).quorum.storage!.peers).toMatchObject([{ system: 'node2', state: 'moving', alive: false }]);

    // node2 stops (crashed): its record stands still N x T, node1 evicts it and wins.
    peer.stop();
    await until('node2 evicted', () => (status().storage?.peers[0]?.eviction === 'won' ? true : undefined));
    body = (await metrics.scrape()).body;
    expect(valueOf(body, 'vigil_quorum_storage_evictions_total{outcome="won"}')).toBe(1);
    expect(valueOf(body, 'vigil_quorum_storage_evictions_total{outcome="lost"}')).toBe(0);
    expect(valueOf(body, 'vigil_quorum_storage_peer_record_state{system="node2",state="stopped"}')).toBe(1);
    expect(valueOf(body, 'vigil_quorum_storage_peer_record_age_seconds{system="node2"}')).toBeGreaterThanOrEqual(0.6);
    expect(samples(body, 'vigil_quorum_gate_open{')).toHaveLength(1);
    r = await lcdstatus();
    expect(r.stdout).toMatch(/evictions: won 1, lost 0, failed 0\n/);
    expect(r.stdout).toMatch(/\n  node2\s+NOT SEEN\s+stopped\s+\d+\.\d s\s+won\n/);
  });
});
