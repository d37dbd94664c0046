// The seeds' four data_corrupt scenarios over the memory platform: two systems, each with its
// own md/NBD kernel twin, durable state files and scsi/netraid kit, joined by an in-memory
// message bus that can lose a system. The primary's mirror, the backup's fencing by generation
// and the takeover rules run as in vigild; only the NBD data path is the memory twin's.
import { afterEach, describe, expect, it } from 'vitest';

import type { ActionContext, ResourceInstance } from '../../src/kits/kit.js';
import { NetraidKit } from '../../src/kits/netraid/netraid-kit.js';
import { handleNetraidMessage, peersOver } from '../../src/kits/netraid/peer-messages.js';
import { createMemoryPlatform, type MemoryPlatform } from '../../src/platform/memory/index.js';
import { REPLICATION_DEFAULTS } from '../../src/replication/config.js';
import { ReplicaServer, type ExportServer } from '../../src/replication/replica-server.js';
import { ReplicaStates } from '../../src/replication/replica-state.js';
import { MapFiles } from '../helpers/map-state-files.js';

const MiB = 1 << 20;


class Exports implements ExportServer {
  readonly exported = new Map<string, { generation: number; primary: string }>();
  async listen(host: string, port: number) {
    return { host, port };
  }
  async exportMirror(spec: { mirror: string; generation: number; primary: string }) {
    this.exported.set(spec.mirror, { generation: spec.generation, primary: spec.primary });
  }
  async unexportMirror(mirror: string) {
    this.exported.delete(mirror);
  }
  async close() {}
}

interface Node {
  name: string;
  files: MapFiles;
  platform: MemoryPlatform;
  states: ReplicaStates;
  kit: NetraidKit;
  replica: ReplicaServer;
  exports: Exports;
  up: boolean;
  /** Membership's verdict on this system, as the other system sees it. */
  declaredDead: boolean;
  /** Hold endings reported on this system. */
  holds: string[];
  /** What the replica server reported of this system's backup copy (onBackupState), in order. */
  backupStates: Array<{ tag: string; current: boolean; reason: string }>;
  /** Resyncs of the backup half this system started, and those md reported done, by kind. */
  resyncs: string[];
  resyncsDone: string[];
}

/** The replication link (the NBD connection), separate from the cluster messaging. */
let replicationLink = true;

const inst: ResourceInstance = {
  tag: 'lkdr1',
  id: '/dev/md1',
  app: 'scsi/netraid',
  info: { number: '1', 'partition@server1': '/dev/sdc', 'partition@server2': '/dev/sdd', 'address@server1': '10.9.0.1', 'address@server2': '10.9.0.2' },
};

const nodes = new Map<string, Node>();
const ctxOf = (system: string): ActionContext => ({ system, signal: new AbortController().signal, log: () => undefined });

/** Boots (or reboots) a system: a fresh kernel whose partition keeps its superblock, the same state files. */
type Superblock = ReturnType<MemoryPlatform['replication']['exportSuperblock']>;

function boot(name: string, partition: string, files = new MapFiles(), superblock?: Superblock): Node {
  const platform = createMemoryPlatform();
  platform.kernel.addBlockDevice(partition, { sizeBytes: 16 * MiB, logicalSectorSize: 512, readOnly: false });
  platform.replication.addBlockDevice(partition, 16 * MiB);
  if (superblock) platform.replication.device(partition).superblock = { ...superblock };
  const states = new ReplicaStates('/var/lib/vigil', files);
  const exports = new Exports();
  let kit: NetraidKit | undefined;
  const backupStates: Array<{ tag: string; current: boolean; reason: string }> = [];
  const replica = new ReplicaServer({ localSystem: name, states, newServer: () => exports, inServiceHere: (t) => kit?.inService(t) ?? false, knows: () => true, onBackupState: (tag, current, reason) => backupStates.push({ tag, current, reason }) });
  const peers = peersOver(async (system, msg) => {
    const to = nodes.get(system);
    if (!to?.up) throw new Error(`${system} is unreachable`);
    return handleNetraidMessage(msg, name, { replica: to.replica, states: to.states, inService: (t) => to.kit.inService(t) });
  });
  kit = new NetraidKit({
    localSystem: name,
    platform,
    config: { ...REPLICATION_DEFAULTS, bitmapChunkKiB: 1024, syncSpeedMaxKiB: 1_000_000, callTimeoutMs: 1000 },
    states,
    replica,
    peers,
    linkTo: (address, port) => ({
      address: `${address}:${port}`,
      connect: async () => {
        if (!replicationLink) throw new Error('no route to the NBD server');
        return { fd: 9, sizeBytes: 16 * MiB, transmissionFlags: 1, release: () => undefined };
      },
    }),
    exportName: (tag, g, p) => `${tag}:${g}:${p}:token`,
    loadModule: async () => undefined,
    peerDeclaredDead: (system) => nodes.get(system)?.declaredDead ?? false,
    holdEnded: (_tag, how) => node.holds.push(how),
    resyncStarted: (_tag, kind) => node.resyncs.push(kind),
    resyncDone: (_tag, kind, ms) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      node.resyncsDone.push(kind);
    },
  });
  const node: Node = { name, files, platform, states, kit, replica, exports, up: true, declaredDead: false, holds: [], backupStates, resyncs: [], resyncsDone: [] };
  nodes.set(name, node);
  return node;
}

/** The machine dies: vigild and md are gone; the state files and the partition stay. */
function crash(n: Node): void {
  n.up = false;
  n.kit.close();
  for (const md of ['/dev/md1']) if (n.platform.replication.hasArray(md)) n.platform.replication.stop(md);
}

function reboot(n: Node, partition: string): Node {
  return boot(n.name, partition, n.files, n.platform.replication.device(partition).superblock);
}

async function until(pred: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** server1 creates and serves the resource, server2 is extended and fully resynchronized. */
async function replicated(): Promise<{ s1: Node; s2: Node }> {
  const s1 = boot('server1', '/dev/sdc');
  const s2 = boot('server2', '/dev/sdd');
  expect((await s1.kit.create(inst, ctxOf('server1'))).ok).toBe(true);
  expect((await s2.kit.extend(inst, ctxOf('server2'))).ok).toBe(true);
  expect((await s1.kit.restore(inst, ctxOf('server1'))).ok).toBe(true);
  await until(async () => (await s2.states.get('lkdr1'))?.current === true && (await s2.states.get('lkdr1'))?.generation === 1);
  // What md wrote through NBD: the backup's partition carries the array's superblock.
  s2.platform.replication.device('/dev/sdd').superblock = { ...s1.platform.replication.exportSuperblock(1)! };
  return { s1, s2 };
}

afterEach(() => {
  for (const n of nodes.values()) n.kit.close();
  nodes.clear();
  replicationLink = true;
});

describe('scsi/netraid data_corrupt scenarios', () => {
  it('1: after a completed replication the primary crashes; the backup takes over and resyncs the old primary when it returns', async () => {
    const { s1, s2 } = await replicated();
    expect(s1.kit.canFailoverNow(inst).ok).toBe(true);
    crash(s1);
    expect((await s2.kit.restore(inst, ctxOf('server2'))).ok).toBe(true);
    expect(await s2.states.get('lkdr1')).toMatchObject({ role: 'primary', generation: 2 });
    // The new primary's backup is missing: no move until the old primary is resynchronized.
    expect(s2.kit.canFailoverNow(inst)).toMatchObject({ ok: false });
    const back = reboot(s1, '/dev/sdc');
    // It crashed as the primary: its flag is there, but it is not asked to restore; the new
    // primary asks it to serve at generation 2, which supersedes its generation 1.
    await until(async () => {
      const st = await back.states.get('lkdr1');
      return st?.role === 'backup' && st.current;
    }, 15_000);
    expect(await back.states.get('lkdr1')).toMatchObject({ role: 'backup', generation: 2, primary: 'server2', current: true });
    expect(await back.states.hasDataCorruptFlag('lkdr1')).toBe(false);
    expect(back.exports.exported.get('lkdr1')).toEqual({ generation: 2, primary: 'server2' });
    await until(() => s2.kit.canFailoverNow(inst).ok);
  });

  it('the returning stale primary is refused at the replica (fencing by generation)', async () => {
    const { s1, s2 } = await replicated();
    crash(s1);
    expect((await s2.kit.restore(inst, ctxOf('server2'))).ok).toBe(true);
    const r = await s2.replica.serve({ tag: 'lkdr1', generation: 1, primary: 'server1', partition: '/dev/sdd', address: '10.9.0.2', port: 10001 });
    expect(r.ok).toBe(false);
  });

  it('2: the new primary dies during the resync of the old one: no failover to the half-synced system; it comes back on the new primary', async () => {
    const { s1, s2 } = await replicated();
    crash(s1);
    expect((await s2.kit.restore(inst, ctxOf('server2'))).ok).toBe(true);
    // A slow resync to the returning system.
    await s2.platform.md.setSyncSpeedMax('/dev/md1', 1, 1000);
    const back = reboot(s1, '/dev/sdc');
    await until(async () => (await back.states.get('lkdr1'))?.role === 'backup');
    crash(s2);
    const refused = await back.kit.restore(inst, ctxOf('server1'));
    expect(refused).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    expect(refused.reason).toMatch(/^Error 104013: .*is not mirroring.*resynchronization from server2/);
    const s2back = reboot(s2, '/dev/sdd');
    const r = await s2back.kit.restore(inst, ctxOf('server2'));
    expect(r.ok).toBe(true);
    expect(await s2back.states.get('lkdr1')).toMatchObject({ role: 'primary', generation: 3 });
  });

  it('3: both die and the old primary returns first: it stays out of service until the administrator removes the flag', async () => {
    const { s1, s2 } = await replicated();
    crash(s2);
    crash(s1);
    const back = reboot(s1, '/dev/sdc');
    const refused = await back.kit.restore(inst, ctxOf('server1'));
    expect(refused).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    expect(refused.reason).toMatch(/^Error 104001: the data-corrupt flag "lkdr1_data_corrupt" is set/);
    await back.states.clearDataCorruptFlag('lkdr1');
    expect((await back.kit.restore(inst, ctxOf('server1'))).ok).toBe(true);
  });

  it('4: both die and the backup returns first: it waits; the primary brings the hierarchy in service when it returns', async () => {
    const { s1, s2 } = await replicated();
    crash(s1);
    crash(s2);
    const b = reboot(s2, '/dev/sdd');
    await b.kit.systemStarted(['lkdr1']);
    const refused = await b.kit.restore(inst, ctxOf('server2'));
    expect(refused).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    expect(refused.reason).toMatch(/restarted while it was the backup/);
    const a = reboot(s1, '/dev/sdc');
    expect((await a.kit.restore(inst, ctxOf('server1'))).ok).toBe(true);
    expect(await a.states.hasDataCorruptFlag('lkdr1')).toBe(true);
    expect(await a.states.get('lkdr1')).toMatchObject({ role: 'primary', generation: 2 });
  });
});

describe('scsi/netraid data_corrupt flag and the cleanup at agent start', () => {
  it('a remove of a mirror this process did not run (the cleanup at agent start after a crash) keeps the flag', async () => {
    const { s1 } = await replicated();
    crash(s1);
    const back = reboot(s1, '/dev/sdc');
    expect(await back.states.hasDataCorruptFlag('lkdr1')).toBe(true);
    // The engine's cleanup at agent start: the hierarchy was recorded in service, so it is removed.
    expect((await back.kit.remove(inst, ctxOf('server1'))).ok).toBe(true);
    expect(await back.states.hasDataCorruptFlag('lkdr1')).toBe(true);
    // With the flag still there and the other system unreachable, restore refuses (scenario 3).
    nodes.get('server2')!.up = false;
    expect((await back.kit.restore(inst, ctxOf('server1'))).reason).toMatch(/^Error 104001: /);
  });

  it('a clean take-out of service by the process that ran the mirror clears the flag', async () => {
    const { s1 } = await replicated();
    expect(await s1.states.hasDataCorruptFlag('lkdr1')).toBe(true);
    expect((await s1.kit.remove(inst, ctxOf('server1'))).ok).toBe(true);
    expect(await s1.states.hasDataCorruptFlag('lkdr1')).toBe(false);
  });
});

describe('scsi/netraid during a resync', () => {
  it('vetoes moves (104013 with the resync status), the backup refuses to take over, and unextend warns 104025', async () => {
    const s1 = boot('server1', '/dev/sdc');
    const s2 = boot('server2', '/dev/sdd');
    expect((await s1.kit.create(inst, ctxOf('server1'))).ok).toBe(true);
    expect((await s2.kit.extend(inst, ctxOf('server2'))).ok).toBe(true);
    expect(s1.kit.refusesAutomaticSwitchback).toMatch(/switched back by hand/);
    expect((await s1.kit.restore(inst, ctxOf('server1'))).ok).toBe(true);
    await s1.platform.md.setSyncSpeedMax('/dev/md1', 1, 1000);
    await until(() => s1.kit.view('lkdr1')?.state === 'resyncing');
    const veto = s1.kit.canFailoverNow(inst);
    expect(veto.ok).toBe(false);
    expect(veto.reason).toMatch(/^Error 104013: .*"\/dev\/md1".*"lkdr1".*"server1".*Resync \[\d+%\]/);
    const refused = await s2.kit.restore(inst, ctxOf('server2'));
    expect(refused).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    const un = await s2.kit.unextend(inst, ctxOf('server2'));
    expect(un.ok).toBe(true);
    expect(un.reason).toMatch(/^WARNING 104025: unextending resource "lkdr1" while NetRAID device "\/dev\/md1" is resynchronizing/);
    expect(s2.exports.exported.has('lkdr1')).toBe(false);
  });

  it('a replica refuses a request for a resource not extended to it', async () => {
    const states = new ReplicaStates('/var/lib/vigil', new MapFiles());
    const replica = new ReplicaServer({ localSystem: 'server2', states, newServer: () => new Exports(), inServiceHere: () => false, knows: () => false });
    const r = await replica.serve({ tag: 'lkdr1', generation: 5, primary: 'server1', partition: '/dev/sdd', address: '10.9.0.2', port: 10001 });
    expect(r).toEqual({ ok: false, reason: 'lkdr1 is not extended to server2' });
    expect(await states.get('lkdr1')).toBeUndefined();
  });
});

describe('scsi/netraid settings and extend', () => {
  it('validates the settings: two systems only, device paths, the resource type', async () => {
    const s1 = boot('server1', '/dev/sdc');
    expect(s1.kit.validate(inst).ok).toBe(true);
    const three = { ...inst, info: { ...inst.info, 'partition@server3': '/dev/sde' } };
    expect(s1.kit.validate(three).reason).toMatch(/two systems only/);
    expect(s1.kit.validate({ ...inst, info: { ...inst.info, type: 'raw' } }).reason).toMatch(/^Error 104051: .*"raw".*use type=resource, new-fs or existing-fs/);
    expect(s1.kit.validate({ ...inst, info: { ...inst.info, 'partition@server2': 'sdd' } }).ok).toBe(false);
  });

  it('extend records the new backup out of date and reports it at once (OSF before the primary has asked); the completed first resync makes it current', async () => {
    const s1 = boot('server1', '/dev/sdc');
    const s2 = boot('server2', '/dev/sdd');
    expect((await s1.kit.create(inst, ctxOf('server1'))).ok).toBe(true);
    expect((await s2.kit.extend(inst, ctxOf('server2'))).ok).toBe(true);
    expect(s2.backupStates).toEqual([{ tag: 'lkdr1', current: false, reason: 'the first resynchronization from server1 has not completed' }]);
    expect(await s2.states.get('lkdr1')).toMatchObject({ role: 'backup', current: false, primary: 'server1' });
    expect((await s1.kit.restore(inst, ctxOf('server1'))).ok).toBe(true);
    await until(() => s2.backupStates.some((b) => b.current));
    expect(s2.backupStates.at(-1)).toEqual({ tag: 'lkdr1', current: true, reason: '' });
  });

  it('create learns the source size; canExtend refuses a smaller target; extend prints the netraid_extend lines', async () => {
    const s1 = boot('server1', '/dev/sdc');
    const s2 = boot('server2', '/dev/sdd');
    const c = await s1.kit.create(inst, ctxOf('server1'));
    expect(c.info).toEqual({ 'size@server1': String(16 * MiB) });
    expect(c.reason).toContain('netraid_create: Creating the RAID1 (/dev/md1) device ...');
    const bigger = { ...inst, info: { ...inst.info, 'size@server1': String(32 * MiB) } };
    expect((await s2.kit.canExtend(bigger, ctxOf('server2'))).reason).toMatch(/^Error 104012: .*less than the source partition/);
    const withSize = { ...inst, info: { ...inst.info, ...c.info } };
    expect((await s2.kit.canExtend(withSize, ctxOf('server2'))).ok).toBe(true);
    const e = await s2.kit.extend(withSize, ctxOf('server2'));
    expect(e.reason.split('\n')[0]).toBe('netraid_extend: Running the nbd-server on "server2" (10.9.0.2 port 10001) ...');
  });
});

describe('scsi/netraid: the replication link dies while the primary writes', () => {
  /** A write through server1's mirror; `acked` once md acknowledged it. */
  function write(n: Node, offset: number) {
    const w = { acked: false };
    void n.platform.replication.submitWrite('/dev/md1', offset, 4096).then(() => (w.acked = true));
    return w;
  }

  it('no write is acknowledged before the backup recorded itself out of date; after a crash of the primary the backup refuses to take over', async () => {
    const { s1, s2 } = await replicated();
    replicationLink = false;
    // The backup answers only after its record is durable: slow it down to see the order.
    let release!: () => void;
    const slowDisk = new Promise<void>((r) => (release = r));
    const put = s2.states.put.bind(s2.states);
    s2.states.put = async (st) => {
      await slowDisk;
      return put(st);
    };
    s1.platform.replication.linkDead(1);
    const w = write(s1, 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(w.acked).toBe(false);
    expect((await s2.states.get('lkdr1'))?.current).toBe(true);
    release();
    await until(() => w.acked);
    expect(await s2.states.get('lkdr1')).toMatchObject({ role: 'backup', current: false });
    expect(s1.holds).toEqual(['backup-acknowledged']);
    crash(s1);
    const r = await s2.kit.restore(inst, ctxOf('server2'));
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/out of date.*server1 lost its (replication link|backup half)/);
  });

  it('every path to the backup is down: writes wait until membership declares the backup dead', async () => {
    const { s1, s2 } = await replicated();
    replicationLink = false;
    s2.up = false;
    s1.platform.replication.linkDead(1);
    const w = write(s1, 0);
    await new Promise((r) => setTimeout(r, 1500));
    expect(w.acked).toBe(false);
    s2.declaredDead = true;
    await until(() => w.acked);
    expect(s1.holds).toEqual(['backup-dead']);
  });

  it('the link returns before anything is decided: no degrade, the backup stays current', async () => {
    const { s1, s2 } = await replicated();
    replicationLink = false;
    s2.up = false;
    s1.platform.replication.linkDead(1);
    const w = write(s1, 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(w.acked).toBe(false);
    s2.up = true;
    replicationLink = true;
    await until(() => w.acked);
    expect(s1.holds[0]).toBe('reconnected');
    expect(s1.kit.view('lkdr1')?.state).toBe('mirroring');
    await until(async () => (await s2.states.get('lkdr1'))?.current === true);
  });
});

describe('scsi/netraid resyncs by kind (vigil_replication_resyncs_total)', () => {
  it('full at the first extend, partial when the same backup returns, full for the old primary back after a takeover', async () => {
    const { s1, s2 } = await replicated();
    await until(() => s1.resyncsDone.length === 1);
    expect(s1.resyncs).toEqual(['full']);
    expect(s1.resyncsDone).toEqual(['full']);
    // The backup's server goes away while the link is down; writes go on; it comes back.
    replicationLink = false;
    s1.platform.replication.serverGone(1);
    await until(async () => (await s2.states.get('lkdr1'))?.current === false);
    s1.platform.replication.write('/dev/md1', 3 * MiB, MiB);
    replicationLink = true;
    s1.kit.peerAlive('server2');
    await until(() => s1.resyncsDone.length === 2, 15_000);
    expect(s1.resyncs).toEqual(['full', 'partial']);
    expect(s1.resyncsDone).toEqual(['full', 'partial']);
    // Seed scenario 1: server2 takes over; server1 returns and is copied in full (it may hold
    // writes of its own the bitmap on server2 never recorded).
    crash(s1);
    expect((await s2.kit.restore(inst, ctxOf('server2'))).ok).toBe(true);
    reboot(s1, '/dev/sdc');
    await until(() => s2.resyncsDone.length === 1, 15_000);
    expect(s2.resyncs).toEqual(['full']);
    expect(s2.resyncsDone).toEqual(['full']);
  });
});
