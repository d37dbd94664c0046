// The LCD store: first start, reopen, ownership check, validation on load, migrations entry
// point, stale temp files, runtime state vs durable config, change notifications; and, with the
// in-memory DurableFiles and its faults, the write queue: order, failures, time limits, the
// stalled state and commit-started timeouts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VigilError } from '../../src/common/errors.js';
import { Lcd, LcdStalledError, type LcdChange } from '../../src/lcd/lcd.js';
import { ProbeTimeoutError, SysError } from '../../src/platform/errors.js';
import { createMemoryPlatform, type MemoryPlatform } from '../../src/platform/memory/index.js';
import type { DurableFiles } from '../../src/platform/platform.js';
import { memoryDiskState, seedMemoryDisk } from '../helpers/lcd-memory-disk.js';
import { memoryDisk } from '../helpers/memory-disk.js';
import { migrate } from '../../src/lcd/migrations.js';
import { commPathKey } from '../../src/lcd/schema.js';
import { errorOf } from '../helpers/errors.js';

let dir: string;
/** The memory writer, each successful write mirrored into the real directory that these tests
 *  read back and that Lcd.open reads at start-up (one memory machine per test: its locks too). */
let files: DurableFiles;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-lcd-'));
  files = memoryDisk(dir).files;
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = () => path.join(dir, 'lcd.json');

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

const thrown = errorOf;

describe('Lcd.open', () => {
  it('registers the local system on first start and reopens the same state', async () => {
    const a = Lcd.open({ dir, localSystem: 'alpha', files });
    expect(a.systems().map((s) => [s.name, s.state])).toEqual([['alpha', 'ALIVE']]);
    await a.createInstance({ tag: 'fs', id: '/mnt', app: 'gen', type: 'filesys' });
    const b = Lcd.open({ dir, localSystem: 'alpha', files });
    expect(b.getInstance('fs')).toMatchObject({ system: 'alpha', state: 'OSU', switchback: 'intelligent' });
    expect(b.generation).toBe(a.generation);
    expect(fs.statSync(file()).mode & 0o777).toBe(0o600);
  });
  it('refuses a database that belongs to another system, and a bad local name', () => {
    Lcd.open({ dir, localSystem: 'alpha', files });
    expect(thrown(() => Lcd.open({ dir, localSystem: 'beta', files })).message).toMatch(/belongs to system "alpha", not "beta"/);
    expect(thrown(() => Lcd.open({ dir: path.join(dir, 'x'), localSystem: 'bad name', files })).message).toMatch(/invalid local system name/);
  });
  it('validates what it loads: torn JSON, bad records and broken invariants are errors, not silently used', () => {
    Lcd.open({ dir, localSystem: 'alpha', files });
    fs.rmSync(path.join(dir, 'lcd.json.1')); // no kept generation to fall back on (see below for that)
    const good = fs.readFileSync(file(), 'utf8');
    fs.writeFileSync(file(), good.slice(0, good.length / 2));
    expect(thrown(() => Lcd.open({ dir, localSystem: 'alpha', files })).message).toMatch(/not valid JSON/);
    const doc = JSON.parse(good);
    doc.instances.push({ system: 'alpha', tag: 'bad tag!', id: '/x', app: 'gen', type: 'app' });
    fs.writeFileSync(file(), JSON.stringify(doc));
    expect(thrown(() => Lcd.open({ dir, localSystem: 'alpha', files })).message).toMatch(/instances\.0\.tag/);
    doc.instances = [];
    doc.dependencies.push({ system: 'alpha', parentTag: 'a', childTag: 'b' });
    fs.writeFileSync(file(), JSON.stringify(doc));
    expect(thrown(() => Lcd.open({ dir, localSystem: 'alpha', files })).message).toMatch(/resource "a" does not exist/);
  });
  it('removes temp files a crashed writer left behind', () => {
    Lcd.open({ dir, localSystem: 'alpha', files });
    fs.writeFileSync(path.join(dir, '.tmp-lcd.json.12345.7'), '{"torn":');
    fs.writeFileSync(path.join(dir, '.tmp-lcd.journal.12345.8'), '');
    fs.writeFileSync(path.join(dir, '.tmp-lcd.json.2.12345.9'), '{');
    Lcd.open({ dir, localSystem: 'alpha', files });
    expect(fs.readdirSync(dir).sort()).toEqual(['lcd.initialised', 'lcd.journal', 'lcd.json', 'lcd.json.1']);
  });
});

describe('migrations', () => {
  it('refuses a newer schema, applies steps in order, and rejects garbage', () => {
    expect(thrown(() => migrate({ version: 2 })).message).toMatch(/newer than this vigild supports \(1\)/);
    expect(thrown(() => migrate([])).message).toMatch(/does not hold a JSON object/);
    expect(thrown(() => migrate({})).message).toMatch(/no valid schema version/);
    const steps = [
      { from: 1, apply: (d: Record<string, unknown>) => ({ ...d, a: 1 }) },
      { from: 2, apply: (d: Record<string, unknown>) => ({ ...d, b: (d.a as number) + 1 }) },
    ];
    expect(migrate({ version: 1 }, steps, 3)).toEqual({ version: 3, a: 1, b: 2 });
    expect(thrown(() => migrate({ version: 1 }, [], 2)).message).toMatch(/no migration from LCD schema version 1/);
  });
});

describe('mutations and state', () => {
  it('a failing mutation changes neither memory nor disk', async () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files });
    await lcd.createInstance({ tag: 'a', id: '/a', app: 'gen', type: 'app' });
    const disk = fs.readFileSync(file(), 'utf8');
    const gen = lcd.generation;
    await expect(
      lcd.mutate('half-done', (d) => {
        d.instances.push({ system: 'alpha', tag: 'b', id: '/b', app: 'gen', type: 'app', switchback: 'automatic', state: 'OSU', info: '', reason: '' });
        d.dependencies.push({ system: 'alpha', parentTag: 'b', childTag: 'missing' });
      }),
    ).rejects.toThrow(/resource "missing" does not exist/);
    await expect(lcd.mutate('throws', () => { throw new Error('boom'); })).rejects.toThrow('boom');
    await expect(lcd.createInstance({ tag: 'bad tag!', id: '/x', app: 'gen', type: 'app' })).rejects.toBeInstanceOf(VigilError);
    expect(lcd.instances().map((i) => i.tag)).toEqual(['a']);
    expect(lcd.generation).toBe(gen);
    expect(fs.readFileSync(file(), 'utf8')).toBe(disk);
  });
  it('runtime state is kept in memory until sync(); config changes are written at once; listeners hear both', async () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files });
    const seen: LcdChange[] = [];
    lcd.onChange((c) => seen.push(c));
    const p = await lcd.createCommPath({ type: 'TCP', system: 'alpha', otherSystem: 'beta', priority: 1, localAddress: '127.0.0.1', remoteAddress: '127.0.0.2' });
    expect(Lcd.readFile(file())!.commPaths).toHaveLength(1);
    expect(lcd.setCommPathState(commPathKey(p), 'ALIVE')).toBe(true);
    expect(lcd.setCommPathState(commPathKey(p), 'ALIVE')).toBe(false);
    expect(lcd.setSystemState('beta', 'ALIVE', 1234)).toBe(true);
    expect(lcd.setSystemState('nobody', 'ALIVE')).toBe(false);
    expect(lcd.isDirty).toBe(true);
    expect(Lcd.readFile(file())!.commPaths[0]!.state).toBe('UNKNOWN');
    expect(await lcd.sync()).toBe(true);
    expect(await lcd.sync()).toBe(false);
    const disk = Lcd.readFile(file())!;
    expect(disk.commPaths[0]!.state).toBe('ALIVE');
    expect(disk.systems.find((s) => s.name === 'beta')).toMatchObject({ state: 'ALIVE', stateChangedAt: 1234 });
    expect(seen.map((c) => c.kind)).toEqual(['config', 'state', 'state', 'sync']);
    expect(lcd.writes).toBe(2);
  });
  it('removeSystem: 424 for the local system, refused while equivalencies name it, drops its records otherwise', async () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files });
    expect(((await rejection(lcd.removeSystem('alpha'))) as VigilError).number).toBe(424);
    await lcd.createSystem({ name: 'beta' });
    await lcd.createInstance({ tag: 'a', id: '/a', app: 'gen', type: 'app' });
    await lcd.createEquivalency({ tag: 'a', otherSystem: 'beta', otherTag: 'a', priority: 1, otherPriority: 2 });
    expect(((await rejection(lcd.removeSystem('beta'))) as VigilError).message).toMatch(/still has 1 equivalencies/);
    await lcd.removeEquivalencies({ tag: 'a' });
    await lcd.removeSystem('beta');
    expect(lcd.systems().map((s) => s.name)).toEqual(['alpha']);
    expect(((await rejection(lcd.removeSystem('beta'))) as VigilError).message).toMatch(/does not exist/);
  });
});

// The queue and the time limit, over the in-memory writer: Lcd.open reads and creates the file
// on the real disk (start-up is synchronous), every later write goes to the memory kernel.
describe('writes through DurableFiles (memory writer with faults)', () => {
  let mem: MemoryPlatform;
  let warnings: { message: string; details: Record<string, unknown> }[];
  /** The memory writer, counting the writes started and how many are in flight at once. */
  let writer: DurableFiles & { maxInFlight: number; started: number };

  beforeEach(() => {
    mem = createMemoryPlatform();
    mem.kernel.addDirectory(dir);
    warnings = [];
    let inFlight = 0;
    writer = {
      maxInFlight: 0,
      started: 0,
      keyFor: (p) => mem.durableFiles.keyFor(p),
      stuck: (k) => mem.durableFiles.stuck(k),
      tryLockExclusive: (p) => mem.durableFiles.tryLockExclusive(p),
      async writeAtomic(p, data, o) {
        writer.started++;
        writer.maxInFlight = Math.max(writer.maxInFlight, ++inFlight);
        try {
          await mem.durableFiles.writeAtomic(p, data, o);
        } finally {
          inFlight--;
        }
      },
      async append(p, data, o) {
        writer.maxInFlight = Math.max(writer.maxInFlight, ++inFlight);
        try {
          await mem.durableFiles.append(p, data, o);
        } finally {
          inFlight--;
        }
      },
    };
  });
  afterEach(() => mem.kernel.clearFaults());

  const open = (writeTimeoutMs = 5000) => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files: writer, writeTimeoutMs, onWarning: (message, details) => warnings.push({ message, details }) });
    seedMemoryDisk(mem.kernel, dir);
    return lcd;
  };
  /** The LCD as the memory "disk" holds it (snapshot + journal). */
  const onDisk = () => memoryDiskState(mem.kernel, dir);
  const until = async (what: string, cond: () => boolean) => {
    const start = Date.now();
    while (!cond()) {
      if (Date.now() - start > 5000) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  };

  it('serializes concurrent mutations: one write at a time, all land in the order they were made', async () => {
    const lcd = open();
    const generations: number[] = [];
    lcd.onChange((c) => generations.push(c.generation));
    mem.kernel.delay(dir, 3); // every step of a write takes a few ms, so they would overlap if allowed
    const made = Array.from({ length: 12 }, (_, i) => lcd.createInstance({ tag: `r${i}`, id: `/r/${i}`, app: 'gen', type: 'app' }));
    // A change judged against the latest committed state: r0 exists by the time this runs.
    const dep = lcd.createDependency({ parentTag: 'r11', childTag: 'r0' });
    await Promise.all([...made, dep]);
    expect(writer.maxInFlight).toBe(1);
    expect(generations).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    expect(lcd.instances().map((i) => i.tag)).toEqual(Array.from({ length: 12 }, (_, i) => `r${i}`));
    expect(onDisk()).toEqual(lcd.snapshot());
    expect(lcd.writes).toBe(13);
  });

  it('a write that fails with an errno rejects clearly and changes nothing in memory or on disk', async () => {
    const lcd = open();
    await lcd.createInstance({ tag: 'a', id: '/a', app: 'gen', type: 'app' });
    const before = lcd.snapshot();
    const seen: LcdChange[] = [];
    lcd.onChange((c) => seen.push(c));
    mem.kernel.failWith(dir, 'EIO', 'open'); // before the append's commit point
    const err = (await rejection(lcd.createInstance({ tag: 'b', id: '/b', app: 'gen', type: 'app' }))) as VigilError;
    expect(err).toBeInstanceOf(VigilError);
    expect(err.message).toMatch(/could not write the LCD .*lcd\.json; "ins_create b" was not made: EIO/);
    expect(err.cause).toBeInstanceOf(SysError);
    expect(lcd.snapshot()).toEqual(before);
    expect(onDisk()).toEqual(before);
    expect(seen).toEqual([]);
    expect(lcd.writeFailures).toEqual({ error: 1, timeout: 0, stalled: 0 });
    expect(lcd.stalled).toBe(false);
    mem.kernel.clearFaults();
    await lcd.createInstance({ tag: 'b', id: '/b', app: 'gen', type: 'app' });
    expect(onDisk()!.instances.map((i) => i.tag)).toEqual(['a', 'b']);
  });

  it('a hung write times out on time and changes nothing; while it is stuck changes fail fast; after release they work', async () => {
    const lcd = open(100);
    await lcd.createInstance({ tag: 'a', id: '/a', app: 'gen', type: 'app' });
    const before = lcd.snapshot();
    mem.kernel.hang(dir);
    const t0 = performance.now();
    const err = (await rejection(lcd.createInstance({ tag: 'b', id: '/b', app: 'gen', type: 'app' }))) as VigilError;
    const elapsed = performance.now() - t0;
    expect(err).toBeInstanceOf(VigilError);
    expect(err.message).toMatch(/within 100 ms; "ins_create b" was not made/);
    expect(err.cause).toBeInstanceOf(ProbeTimeoutError);
    expect((err.cause as ProbeTimeoutError).commitStarted).toBe(false);
    expect(elapsed).toBeGreaterThanOrEqual(99);
    expect(elapsed).toBeLessThan(1000);
    expect(lcd.snapshot()).toEqual(before);
    expect(lcd.stalled).toBe(true);

    // Stuck: refused at once with the state directory and how long, without a second write:
    // the refusal arrives while the kernel still holds the first write, and nothing is started.
    const startedBefore = writer.started;
    const fast = (await rejection(lcd.setSwitchback('a', 'automatic'))) as VigilError;
    expect(writer.started).toBe(startedBefore);
    expect(fast).toBeInstanceOf(LcdStalledError);
    expect(fast.message).toContain(`the LCD in ${dir} cannot be written: an earlier write has been stuck in the kernel for`);
    expect(fast.message).toMatch(/for \d+\.\d s .*"ins_setas a automatic" was not made/);
    expect(mem.durableFiles.stuck(`lcd:${dir}`)).toBe(1);
    lcd.setSystemState('alpha', 'DEAD');
    await expect(lcd.sync()).rejects.toBeInstanceOf(LcdStalledError);
    expect(lcd.writeFailures).toEqual({ error: 0, timeout: 1, stalled: 2 });
    expect(lcd.getInstance('a')!.switchback).toBe('intelligent');

    mem.kernel.release(dir);
    await until('the stuck write to be reclaimed', () => !lcd.stalled);
    // The abandoned write did not rename: the disk still holds the state before it.
    expect(onDisk()).toEqual(before);
    expect(mem.kernel.list(dir)).toEqual(['lcd.journal', 'lcd.json']);
    await lcd.setSwitchback('a', 'automatic');
    expect(await lcd.sync()).toBe(false); // that write carried the whole document, runtime state included
    const disk = onDisk()!;
    expect(disk.instances.map((i) => [i.tag, i.switchback])).toEqual([['a', 'automatic']]);
    expect(disk.systems[0]!.state).toBe('DEAD');
    expect(warnings).toEqual([]);
  });

  it('a write that timed out after its commit point is published, kept dirty and warned about; the next write makes disk and memory agree', async () => {
    const lcd = open(100);
    await lcd.createInstance({ tag: 'a', id: '/a', app: 'gen', type: 'app' });
    mem.kernel.hang(dir, 'write'); // the append's write: after its commit point
    const seen: LcdChange[] = [];
    lcd.onChange((c) => seen.push(c));
    await lcd.setInstanceState('a', 'ISP', 'brought up');
    expect(lcd.getInstance('a')!.state).toBe('ISP');
    expect(seen.map((c) => c.what)).toEqual(['ins_setstate a ISP']);
    expect(lcd.isDirty).toBe(true);
    expect(lcd.stalled).toBe(true);
    expect(lcd.writes).toBe(1);
    expect(lcd.writeFailures.timeout).toBe(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/"ins_setstate a ISP" did not confirm durability/);
    expect(warnings[0]!.details.error).toMatch(/append had started/);
    expect(onDisk()!.instances[0]!.state).toBe('OSU');
    await expect(lcd.setInstanceState('a', 'OSU')).rejects.toBeInstanceOf(LcdStalledError);

    mem.kernel.release(dir);
    await until('the stuck rename to be reclaimed', () => !lcd.stalled);
    expect(onDisk()!.instances[0]!.state).toBe('ISP'); // the append went through after all
    expect(await lcd.sync()).toBe(true); // not appended behind an uncertain record: a compaction
    expect(lcd.isDirty).toBe(false);
    expect(onDisk()).toEqual(lcd.snapshot());
    expect(mem.kernel.readFile(path.join(dir, 'lcd.journal')).length).toBe(0);
    expect(JSON.parse(mem.kernel.readFile(file()).toString())).toEqual(lcd.snapshot());
  });

  it('keeps runtime state that changed while a write was in flight', async () => {
    const lcd = open();
    mem.kernel.hang(dir);
    const pending = lcd.createSystem({ name: 'beta' });
    await new Promise((r) => setTimeout(r, 10));
    expect(lcd.setSystemState('alpha', 'DEAD', 42)).toBe(true);
    mem.kernel.release(dir);
    await pending;
    expect(lcd.getSystem('alpha')).toMatchObject({ state: 'DEAD', stateChangedAt: 42 });
    expect(lcd.getSystem('beta')).toBeDefined();
    expect(lcd.isDirty).toBe(true); // not on disk yet: the write had its snapshot before
    expect(onDisk()!.systems[0]!.state).toBe('ALIVE');
    await lcd.sync();
    expect(onDisk()!.systems[0]!.state).toBe('DEAD');
  });

  it('state changes made in a burst land in order; ifChanged compares with the committed state at its turn', async () => {
    const lcd = open();
    await lcd.createInstance({ tag: 'a', id: '/a', app: 'gen', type: 'app' });
    mem.kernel.delay(dir, 2);
    const burst = [
      lcd.setInstanceState('a', 'ISP', '', 'alpha', { ifChanged: true }),
      lcd.setInstanceState('a', 'OSF', 'quickCheck failed', 'alpha', { ifChanged: true }),
      lcd.setInstanceState('a', 'OSF', 'quickCheck failed', 'alpha', { ifChanged: true }),
      lcd.setInstanceState('a', 'ISP', '', 'alpha', { ifChanged: true }),
      lcd.setInstanceState('gone', 'ISP', '', 'alpha', { ifChanged: true }),
    ];
    expect(await Promise.all(burst)).toEqual([true, true, false, true, false]);
    expect(lcd.getInstance('a')!.state).toBe('ISP');
    expect(onDisk()!.instances[0]!.state).toBe('ISP');
    await expect(lcd.setInstanceState('gone', 'ISP')).rejects.toThrow(/resource "gone" does not exist/);
  });
});

// The journal and its compaction, the kept generations and the fallback, the marker and the
// lock, on the real disk through the real durable writer.
describe('journal, generations, marker and lock', () => {
  const journal = () => path.join(dir, 'lcd.journal');
  const add = (lcd: Lcd, n: number) => lcd.createInstance({ tag: `r${n}`, id: `/r/${n}`, app: 'gen', type: 'app' });

  it('a change appends one record of what it changed; lcd.json is not rewritten; a reopen replays the journal', async () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files });
    for (let n = 0; n < 20; n++) await add(lcd, n);
    const snapshot = fs.readFileSync(file(), 'utf8');
    const before = fs.statSync(journal()).size;
    await lcd.setInstanceInfo('r7', 'changed');
    expect(fs.readFileSync(file(), 'utf8')).toBe(snapshot);
    const lines = fs.readFileSync(journal(), 'utf8').split('\n').filter(Boolean);
    const last = JSON.parse(lines[lines.length - 1]!.slice(9));
    expect(last).toEqual({ g: lcd.generation, ops: [{ c: 'instances', put: expect.objectContaining({ tag: 'r7', info: 'changed' }) }] });
    expect(fs.statSync(journal()).size - before).toBeLessThan(400);
    lcd.close();
    const again = Lcd.open({ dir, localSystem: 'alpha', files });
    expect(again.snapshot()).toEqual(lcd.snapshot());
    expect(again.recovery).toBeUndefined();
  });

  it('compacts once the journal is as large as the snapshot: lcd.json holds the latest generation, the journal is emptied, a copy is kept', async () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files, compactAtJournalBytes: 1 });
    for (let n = 0; n < 6; n++) await add(lcd, n);
    await lcd.idle();
    expect(lcd.compactions).toBeGreaterThan(0);
    const latest = Lcd.readFile(file())!;
    expect(latest).toEqual(lcd.snapshot());
    expect(fs.readdirSync(dir).filter((n) => /^lcd\.json\.\d$/.test(n)).length).toBeGreaterThan(1);
    // The order of records survives replacements and removals through journal and compaction.
    await lcd.setSwitchback('r2', 'automatic');
    await lcd.removeInstances([{ system: 'alpha', tag: 'r1' }]);
    await add(lcd, 99);
    lcd.close();
    expect(Lcd.open({ dir, localSystem: 'alpha', files }).instances().map((i) => i.tag)).toEqual(['r0', 'r2', 'r3', 'r4', 'r5', 'r99']);
  });

  it('journals exactly what a change did, whatever its shape: replaced in place (same or new key), appended, removed, reordered', async () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files });
    for (let n = 0; n < 4; n++) await add(lcd, n);
    const rec = (tag: string) => ({ system: 'alpha', tag, id: `/x/${tag}`, app: 'gen', type: 'app', switchback: 'intelligent' as const, state: 'OSU' as const, info: '', reason: '' });
    await lcd.mutate('new key in place', (d) => void (d.instances[1] = rec('renamed')));
    await lcd.mutate('replace and append', (d) => {
      d.instances[0] = { ...d.instances[0]!, info: 'changed' };
      d.instances.push(rec('appended'));
    });
    await lcd.mutate('swap', (d) => void ([d.instances[2], d.instances[3]] = [d.instances[3]!, d.instances[2]!]));
    await lcd.mutate('remove one', (d) => void (d.instances = d.instances.filter((i) => i.tag !== 'r0')));
    const expected = lcd.snapshot();
    expect(expected.instances.map((i) => i.tag)).toEqual(['renamed', 'r3', 'r2', 'appended']);
    lcd.close();
    expect(Lcd.open({ dir, localSystem: 'alpha', files }).snapshot()).toEqual(expected);
  });

  it('ignores a record a crash cut short and compacts before the next append', async () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files });
    await add(lcd, 1);
    const committed = lcd.snapshot();
    lcd.close();
    fs.appendFileSync(journal(), '0123abcd {"g":2,"ops":[{"c":"instances","put":{"system":"al'); // torn, no newline
    const reopened = Lcd.open({ dir, localSystem: 'alpha', files });
    expect(reopened.snapshot()).toEqual(committed);
    expect(reopened.recovery).toBeUndefined(); // a torn tail is a crash, not damage
    await add(reopened, 2);
    expect(fs.readFileSync(journal(), 'utf8')).toBe(''); // rewritten, not appended behind the torn line
    reopened.close();
    expect(Lcd.open({ dir, localSystem: 'alpha', files }).instances().map((i) => i.tag)).toEqual(['r1', 'r2']);
  });

  it('a damaged line inside the journal: runs with the valid part, loudly', async () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files });
    for (let n = 1; n <= 3; n++) await add(lcd, n);
    lcd.close();
    const lines = fs.readFileSync(journal(), 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"r2"', '"r9"'); // a flipped byte: the checksum no longer matches
    fs.writeFileSync(journal(), lines.join('\n'));
    const warnings: string[] = [];
    const reopened = Lcd.open({ dir, localSystem: 'alpha', files, onWarning: (m) => warnings.push(m) });
    expect(reopened.instances().map((i) => i.tag)).toEqual(['r1']);
    expect(reopened.recovery).toMatchObject({ reason: 'line 2 of the journal is damaged (checksum mismatch); 1 later line(s) dropped', generation: 1 });
    expect(warnings[0]).toMatch(/was damaged or incomplete; running with generation 1/);
    // Repaired at once: the rebuilt state is lcd.json, the damaged files are kept aside.
    expect(Lcd.readFile(file())!.instances.map((i) => i.tag)).toEqual(['r1']);
    expect(fs.readFileSync(path.join(dir, 'lcd.journal.damaged'), 'utf8')).toBe(lines.join('\n'));
  });

  it('a damaged lcd.json: falls back to the newest valid kept generation plus the journal, loudly; none valid is an error', async () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files, compactAtJournalBytes: 1 });
    for (let n = 0; n < 8; n++) await add(lcd, n);
    await lcd.idle();
    await lcd.setInstanceInfo('r3', 'after the last compaction');
    const state = lcd.snapshot();
    lcd.close();
    fs.writeFileSync(file(), '{"version": 1, "generation": 7, "loc'); // damaged
    const warnings: string[] = [];
    const back = Lcd.open({ dir, localSystem: 'alpha', files, onWarning: (m) => warnings.push(m) });
    expect(back.snapshot()).toEqual(state);
    expect(back.recovery!.reason).toMatch(/not valid JSON/);
    expect(back.recovery!.source).toMatch(/^lcd\.json\.\d$/);
    expect(warnings).toHaveLength(1);
    expect(fs.readFileSync(path.join(dir, 'lcd.json.damaged'), 'utf8')).toBe('{"version": 1, "generation": 7, "loc');
    await back.setInstanceInfo('r4', 'after the repair');
    back.close();
    expect(Lcd.open({ dir, localSystem: 'alpha', files }).recovery).toBeUndefined();
    for (const n of fs.readdirSync(dir)) if (/^lcd\.json(\.\d)?$/.test(n)) fs.writeFileSync(path.join(dir, n), 'garbage');
    expect(thrown(() => Lcd.open({ dir, localSystem: 'alpha', files })).message).toMatch(/not valid JSON/);
  });

  it('a missing lcd.json on an initialised node is an error; recover and fresh are explicit', async () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files });
    await add(lcd, 1);
    lcd.close();
    fs.rmSync(file());
    const err = thrown(() => Lcd.open({ dir, localSystem: 'alpha', files }));
    expect(err.message).toMatch(/the LCD in .* is missing \(.*lcd\.json does not exist; found lcd\.initialised, lcd\.journal, lcd\.json\.1\), but this node's database was created there before/);
    expect(fs.existsSync(file())).toBe(false);
    const recovered = Lcd.open({ dir, localSystem: 'alpha', files, start: 'recover' });
    expect(recovered.instances().map((i) => i.tag)).toEqual(['r1']);
    expect(recovered.recovery).toMatchObject({ source: 'lcd.json.1' });
    recovered.close();
    expect(thrown(() => Lcd.open({ dir, localSystem: 'alpha', files, start: 'fresh' })).message).toMatch(/--lcd-init: the LCD .* exists/);
    fs.rmSync(file());
    const fresh = Lcd.open({ dir, localSystem: 'alpha', files, start: 'fresh' });
    expect(fresh.instances()).toEqual([]);
    expect(fresh.generation).toBe(0);
    // Only the marker makes the difference: without it (and without leftovers) a start is a first start.
    fresh.close();
    for (const n of fs.readdirSync(dir)) fs.rmSync(path.join(dir, n));
    expect(Lcd.open({ dir, localSystem: 'alpha', files }).generation).toBe(0);
  });

  it('holds the state directory exclusively with lock: a second open is refused naming the pid, until close()', () => {
    const a = Lcd.open({ dir, localSystem: 'alpha', files, lock: true });
    const err = thrown(() => Lcd.open({ dir, localSystem: 'alpha', files, lock: true }));
    expect(err.message).toBe(`the LCD in ${dir} is in use by process ${process.pid} (lock ${path.join(dir, 'lcd.lock')}); only one vigild may run on a state directory`);
    a.close();
    Lcd.open({ dir, localSystem: 'alpha', files, lock: true }).close();
  });

  it('a change must replace committed records, not edit them: an edit in place is refused and changes nothing', async () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files });
    await add(lcd, 1);
    await expect(lcd.mutate('edit in place', (d) => void (d.instances[0]!.info = 'x'))).rejects.toThrow(TypeError);
    expect(lcd.getInstance('r1')!.info).toBe('');
  });
});

describe('checks of a change that touches only instances (the fast path) agree with the full check', () => {
  it('refuses duplicates, unknown systems and removals that dependencies or equivalencies still need, with the full check\'s messages', async () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files });
    await lcd.createSystem({ name: 'beta' });
    await lcd.createInstance({ tag: 'a', id: '/a', app: 'gen', type: 'app' });
    await lcd.createInstance({ tag: 'b', id: '/b', app: 'gen', type: 'app' });
    await lcd.createDependency({ parentTag: 'a', childTag: 'b' });
    await lcd.createInstance({ tag: 'e', id: '/e', app: 'gen', type: 'app' });
    await lcd.createEquivalency({ tag: 'e', otherSystem: 'beta', otherTag: 'e', priority: 1, otherPriority: 2 });
    const before = lcd.snapshot();
    const dupTag = (await rejection(lcd.createInstance({ tag: 'a', id: '/other', app: 'gen', type: 'app' }))) as VigilError;
    expect([dupTag.number, dupTag.message]).toEqual([14, 'Resource with either matching tag a or ID exists on alpha (the tag is in use)']);
    const dupId = (await rejection(lcd.createInstance({ tag: 'z', id: '/a', app: 'gen', type: 'app' }))) as VigilError;
    expect([dupId.number, dupId.message]).toEqual([14, 'Resource with either matching tag z or ID exists on alpha (ID /a is in use)']);
    await expect(lcd.createInstance({ tag: 'x', id: '/x', app: 'gen', type: 'app', system: 'nowhere' })).rejects.toThrow('resource "x" belongs to unknown system "nowhere"');
    const dropChild = (d: ReturnType<Lcd['snapshot']>, tag: string) => void (d.instances = d.instances.filter((i) => i.tag !== tag));
    await expect(lcd.mutate('drop b', (d) => dropChild(d, 'b'))).rejects.toThrow('resource "b" does not exist on system "alpha"');
    await expect(lcd.mutate('drop e', (d) => dropChild(d, 'e'))).rejects.toThrow('resource "e" does not exist on system "alpha"');
    // A replaced id that collides with another instance's.
    await expect(lcd.mutate('re-id', (d) => void (d.instances[0] = { ...d.instances[0]!, id: '/b' }))).rejects.toThrow(/^Resource with either matching tag \w+ or ID exists on alpha \(ID \/b is in use\)$/);
    expect(lcd.snapshot()).toEqual(before);
    // And what is valid passes: a replacement, a removal nothing needs, a new instance.
    await lcd.setInstanceInfo('b', 'fine');
    await lcd.removeInstances([{ system: 'alpha', tag: 'a' }]);
    await lcd.createInstance({ tag: 'a', id: '/a', app: 'gen', type: 'app' });
    lcd.close();
    expect(Lcd.open({ dir, localSystem: 'alpha', files }).instances().map((i) => [i.tag, i.info])).toEqual([['b', 'fine'], ['e', ''], ['a', '']]);
  });
});

describe('Lcd.current() and the hierarchy engine view built on it', () => {
  it('current() is the committed document (frozen records, replaced on change); engineConfig follows every change', async () => {
    const { engineConfig } = await import('../../src/hierarchy/lcd-view.js');
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files });
    await lcd.createInstance({ tag: 'a', id: '/a', app: 'gen', type: 'app', info: '{"restart":"/bin/a"}' });
    await lcd.createInstance({ tag: 'b', id: '/b', app: 'gen', type: 'app', info: 'free text' });
    const before = lcd.current();
    expect(Object.isFrozen(before.instances[0])).toBe(true);
    expect(engineConfig(lcd).resources.map((r) => [r.tag, r.info])).toEqual([
      ['a', { restart: '/bin/a' }],
      ['b', { text: 'free text' }],
    ]);
    await lcd.setInstanceInfo('a', '{"restart":"/bin/a2"}');
    expect(lcd.current().instances[1]).toBe(before.instances[1]); // untouched record: the same object
    expect(lcd.current().instances[0]).not.toBe(before.instances[0]);
    const config = engineConfig(lcd);
    expect(config.resources.map((r) => [r.tag, r.info])).toEqual([
      ['a', { restart: '/bin/a2' }],
      ['b', { text: 'free text' }],
    ]);
    // Shared with every reader, so frozen: a reader's change fails and changes nothing.
    expect(() => {
      config.resources[1]!.info.text = 'changed by a reader';
    }).toThrow(TypeError);
    expect(engineConfig(lcd).resources[1]!.info).toEqual({ text: 'free text' });
  });
});
