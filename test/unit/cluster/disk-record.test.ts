// The DISK comm path's record codec, slot choice and liveness rules (I/O-free), and the path
// itself on the memory LUN: two ClusterNodes that share nothing but the LUN see each other ALIVE
// through their slots, and DEAD when one stops writing.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';

import { ClusterNode } from '../../../src/cluster/cluster-node.js';
import {
  AREA_BYTES,
  AREA_OFFSET,
  chooseSlot,
  decodeHeader,
  decodeRecord,
  diskRecordKey,
  encodeHeader,
  encodeRecord,
  headerProblem,
  preferredSlot,
  RecordTracker,
  SLOT_COUNT,
  type DiskRecord,
} from '../../../src/cluster/disk-record.js';
import { foreignContent } from '../../../src/cluster/disk-path-check.js';
import { createMemoryPlatform, MemoryScsiFabric } from '../../../src/platform/memory/index.js';

const secret = randomBytes(32);
const key = diskRecordKey(secret);
const rec = (over: Partial<DiskRecord> = {}): DiskRecord => ({ slot: 3, system: 'node1', bootId: 7n, seq: 10n, timeMs: 1_000_000, state: 'running', ...over });

describe('disk heartbeat record codec', () => {
  it('round-trips and binds the slot', () => {
    const b = encodeRecord(key, rec());
    expect(b.length).toBe(4096);
    expect(decodeRecord(key, b, 3)).toEqual({ ok: true, record: rec() });
    // Copied into another slot: refused.
    expect(decodeRecord(key, b, 4)).toEqual({ ok: false, reason: 'bad_slot' });
  });

  it('refuses forged, foreign-key, truncated, garbage and empty slots', () => {
    const b = encodeRecord(key, rec());
    const forged = Buffer.from(b);
    forged.writeBigUInt64BE(11n, 16); // a higher sequence without the key
    expect(decodeRecord(key, forged, 3)).toEqual({ ok: false, reason: 'bad_tag' });
    expect(decodeRecord(diskRecordKey(randomBytes(32)), b, 3)).toEqual({ ok: false, reason: 'bad_tag' });
    expect(decodeRecord(key, b.subarray(0, 64), 3)).toEqual({ ok: false, reason: 'empty' });
    expect(decodeRecord(key, Buffer.alloc(4096), 3)).toEqual({ ok: false, reason: 'empty' });
    expect(decodeRecord(key, Buffer.alloc(4096, 0x41), 3)).toEqual({ ok: false, reason: 'bad_magic' });
    expect(() => encodeRecord(key, rec({ system: '' }))).toThrow(RangeError);
    expect(() => encodeRecord(key, rec({ slot: SLOT_COUNT }))).toThrow(RangeError);
  });

  it('carries echoes in an extension bound to the record, which a reader of the first 128 bytes never sees', () => {
    const echoes = [{ slot: 5, bootId: 99n, seq: 41n }, { slot: 0, bootId: 3n, seq: 1n }];
    const b = encodeRecord(key, rec({ echoes }));
    expect(decodeRecord(key, b, 3)).toEqual({ ok: true, record: rec({ echoes }) });
    // A vigild that predates the extension reads RECORD_BYTES: the same record, still authentic.
    expect(decodeRecord(key, b.subarray(0, 128), 3)).toEqual({ ok: true, record: rec() });
    // No extension written: no echoes, as from such a vigild.
    expect(decodeRecord(key, encodeRecord(key, rec()), 3)).toEqual({ ok: true, record: rec() });
    // A tampered echo is dropped, the record itself stays.
    const forged = Buffer.from(b);
    forged[136 + 10] = forged[136 + 10]! ^ 1;
    expect(decodeRecord(key, forged, 3)).toEqual({ ok: true, record: rec() });
    // An extension copied onto another record (another sequence) does not verify against it.
    const other = encodeRecord(key, rec({ seq: 11n }));
    b.copy(other, 128, 128, 136 + 2 * 17 + 32);
    expect(decodeRecord(key, other, 3)).toEqual({ ok: true, record: rec({ seq: 11n }) });
    expect(() => encodeRecord(key, rec({ echoes: [{ slot: 32, bootId: 1n, seq: 1n }] }))).toThrow(/echo slot/);
  });

  it('the area header is versioned', () => {
    expect(decodeHeader(encodeHeader())).toEqual({ version: 1, slotCount: 32, slotBytes: 4096 });
    expect(decodeHeader(Buffer.alloc(4096))).toBeUndefined();
    expect(headerProblem({ version: 2, slotCount: 32, slotBytes: 4096 })).toMatch(/layout version 2/);
    expect(AREA_OFFSET + AREA_BYTES).toBeLessThanOrEqual(1 << 20);
  });

  it('chooses its own slot, else the first free one from its preferred slot', () => {
    const empty: Array<DiskRecord | undefined> = new Array(SLOT_COUNT).fill(undefined);
    expect(chooseSlot('node1', empty, () => false)).toBe(preferredSlot('node1'));
    const slots = [...empty];
    const p = preferredSlot('node1');
    slots[p] = rec({ slot: p, system: 'node9' });
    expect(chooseSlot('node1', slots, () => true)).toBe((p + 1) % SLOT_COUNT);
    // A slot whose owner stopped advancing may be taken.
    expect(chooseSlot('node1', slots, () => false)).toBe(p);
    slots[5] = rec({ slot: 5, system: 'node1' });
    expect(chooseSlot('node1', slots, () => true)).toBe(5);
    expect(chooseSlot('node1', new Array(SLOT_COUNT).fill(rec({ system: 'x' })), () => true)).toBeUndefined();
  });

  it('a yielding record (no quorum, nothing in service) round-trips and is no heartbeat, though it advances', () => {
    expect(decodeRecord(key, encodeRecord(key, rec({ state: 'yielding' })), 3)).toEqual({ ok: true, record: rec({ state: 'yielding' }) });
    const t = new RecordTracker(30_000);
    const now = 2_000_000;
    t.observe(rec({ seq: 10n, timeMs: now }), now);
    expect(t.observe(rec({ seq: 11n, timeMs: now, state: 'yielding' }), now)).toMatchObject({ heartbeat: false, why: 'yielding' });
    expect(t.observe(rec({ seq: 12n, timeMs: now, state: 'yielding' }), now)).toMatchObject({ heartbeat: false, why: 'yielding' });
    // Quorum back: running again, a heartbeat at once.
    expect(t.observe(rec({ seq: 13n, timeMs: now }), now)).toMatchObject({ heartbeat: true, why: 'advanced' });
  });

  it('liveness: only an advancing record is a heartbeat; stuck, replayed and future records are not', () => {
    const t = new RecordTracker(30_000);
    const now = 2_000_000;
    expect(t.observe(rec({ seq: 10n, timeMs: now }), now)).toMatchObject({ heartbeat: false, why: 'first' });
    expect(t.observe(rec({ seq: 11n, timeMs: now + 1000 }), now)).toMatchObject({ heartbeat: true, why: 'advanced' });
    expect(t.observe(rec({ seq: 11n, timeMs: now + 1000 }), now)).toMatchObject({ heartbeat: false, why: 'stuck' });
    expect(t.observe(rec({ seq: 9n, timeMs: now + 2000 }), now)).toMatchObject({ heartbeat: false, why: 'replayed' });
    // A restart: new boot id, later time. An old boot's record replayed afterwards is refused.
    expect(t.observe(rec({ bootId: 8n, seq: 1n, timeMs: now + 3000 }), now)).toMatchObject({ heartbeat: true, why: 'restarted' });
    expect(t.observe(rec({ bootId: 7n, seq: 99n, timeMs: now + 1500 }), now)).toMatchObject({ heartbeat: false, why: 'replayed' });
    expect(t.observe(rec({ bootId: 8n, seq: 2n, timeMs: now + 60_000 }), now)).toMatchObject({ heartbeat: false, why: 'future' });
    expect(t.observe(rec({ bootId: 8n, seq: 2n, timeMs: now + 4000, state: 'leaving' }), now)).toMatchObject({ heartbeat: false, why: 'leaving' });
  });

  it('net_create refuses a device whose reserved area holds something else', () => {
    const head = Buffer.alloc(AREA_OFFSET + AREA_BYTES);
    expect(foreignContent(head)).toBeUndefined();
    const ext = Buffer.from(head);
    ext.writeUInt16LE(0xef53, 1080);
    expect(foreignContent(ext)).toBe('an ext2/3/4 file system');
    const mbr = Buffer.from(head);
    mbr.writeUInt16LE(0xaa55, 510);
    mbr[446 + 4] = 0x83;
    mbr.writeUInt32LE(63, 446 + 8);
    mbr.writeUInt32LE(100_000, 446 + 12);
    expect(foreignContent(mbr)).toMatch(/MBR partition 1/);
    mbr.writeUInt32LE(2048, 446 + 8); // starts at 1 MiB: clear of the area
    expect(foreignContent(mbr)).toBeUndefined();
  });
});

describe('DISK comm path on a memory LUN', () => {
  const nodes: ClusterNode[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });

  /** node1 and node2, started, sharing nothing but `device` on a fabric of their own (50 ms heartbeats, 4 missed). */
  async function pair(device: string) {
    const fabric = new MemoryScsiFabric();
    fabric.addLun(device, { blocks: 4096 });
    const make = (me: string, peer: string) => {
      const plat = createMemoryPlatform(undefined, { fabric, initiator: me });
      const n = new ClusterNode({ localSystem: me, secret, heartbeatIntervalMs: 50, missedHeartbeats: 4, paths: [{ type: 'DISK', otherSystem: peer, priority: 1, device }], disk: plat });
      nodes.push(n);
      return n;
    };
    const a = make('node1', 'node2');
    const b = make('node2', 'node1');
    await a.start();
    await b.start();
    return { fabric, a, b };
  }

  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(ok(), what).toBe(true);
  };

  it('two systems sharing only a LUN see each other ALIVE, and DEAD when one stops writing', async () => {
    const { fabric, a, b } = await pair('/dev/sdc');
    await until('both ALIVE over the disk', () => a.systemState('node2') === 'ALIVE' && b.systemState('node1') === 'ALIVE');
    expect(a.diskPathIo('/dev/sdc')).toMatch(/^SG_IO: SG_IO READ\(16\)\/WRITE\(16\) FUA, 512-byte blocks, slot \d+$/);
    expect(a.stats().paths[0]).toMatchObject({ type: 'DISK', state: 'ALIVE' });
    // Each system wrote its own slot: two authentic records in the area.
    const lun = fabric.lun('/dev/sdc');
    const area = lun.data.subarray(AREA_OFFSET + 4096, AREA_OFFSET + AREA_BYTES);
    const found = [...Array(SLOT_COUNT).keys()].map((s) => decodeRecord(key, area.subarray(s * 4096, (s + 1) * 4096), s)).filter((d) => d.ok);
    expect(found.map((d) => d.ok && d.record.system).sort()).toEqual(['node1', 'node2']);
    // node2's writes hang (a stuck disk): its records stop advancing and node1 declares it DEAD.
    const release = lun.hang({ initiator: 'node2', opcode: 0x8a });
    try {
      await until('node2 DEAD on node1', () => a.systemState('node2') === 'DEAD');
    } finally {
      release();
    }
    await until('node2 ALIVE again', () => a.systemState('node2') === 'ALIVE');
  });

  it('a system whose records say yielding is DEAD to a peer that sees it over the disk alone, and ALIVE again once running', async () => {
    const { a, b } = await pair('/dev/sde');
    await until('both ALIVE over the disk', () => a.systemState('node2') === 'ALIVE' && b.systemState('node1') === 'ALIVE');
    a.setDiskPresence('yielding');
    await until('node1 DEAD on node2', () => b.systemState('node1') === 'DEAD');
    // node1 itself still sees node2: only its own records changed.
    expect(a.systemState('node2')).toBe('ALIVE');
    a.setDiskPresence('running');
    await until('node1 ALIVE again on node2', () => b.systemState('node1') === 'ALIVE');
  });

  it('a peer seen over the disk alone echoes our writes: evidence of life dated by our own clock', async () => {
    const { fabric, a } = await pair('/dev/sdd');
    await until('node1 has an echo from node2', () => a.echoedAtMs('node2') !== undefined);
    // Fresh: within a few intervals of now, and never in the future.
    await new Promise((r) => setTimeout(r, 300));
    const age = performance.now() - a.echoedAtMs('node2')!;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(250);
    // Not a round-trip time: the DISK path shows none.
    expect(a.stats().paths[0]!.rttMs).toBeNull();
    // node2 stops reading (its reads hang): its records stop advancing, and so do its echoes.
    const lun = fabric.lun('/dev/sdd');
    const release = lun.hang({ initiator: 'node2', opcode: 0x88 });
    try {
      await new Promise((r) => setTimeout(r, 400));
      const stale = performance.now() - a.echoedAtMs('node2')!;
      expect(stale).toBeGreaterThan(300);
    } finally {
      release();
    }
    await until('echoes fresh again', () => performance.now() - a.echoedAtMs('node2')! < 200);
  });
});
