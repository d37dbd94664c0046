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
import { createLinuxPlatform } from '../../src/platform/linux/index.js';
import { createMemoryPlatform, type MemoryPlatform } from '../../src/platform/memory/index.js';
import type { DurableFiles } from '../../src/platform/platform.js';
import { migrate } from '../../src/lcd/migrations.js';
import { commPathKey } from '../../src/lcd/schema.js';
import { errorOf } from '../helpers/errors.js';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-lcd-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = () => path.join(dir, 'lcd.json');
/** The real writer: these tests read back what reached the disk. */
const files = createLinuxPlatform().durableFiles;

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
    fs.writeFileSync(path.join(dir, '.tmp-lcd.json.12345'), '{"torn":');
    Lcd.open({ dir, localSystem: 'alpha', files });
    expect(fs.readdirSync(dir)).toEqual(['lcd.json']);
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
      async writeAtomic(p, data, o) {
        writer.started++;
        writer.maxInFlight = Math.max(writer.maxInFlight, ++inFlight);
        try {
          await mem.durableFiles.writeAtomic(p, data, o);
        } finally {
          inFlight--;
        }
      },
    };
  });
  afterEach(() => mem.kernel.clearFaults());

  const open = (writeTimeoutMs = 5000) =>
    Lcd.open({ dir, localSystem: 'alpha', files: writer, writeTimeoutMs, onWarning: (message, details) => warnings.push({ message, details }) });
  /** The LCD as the memory "disk" holds it, undefined before its first write there. */
  const onDisk = () => {
    try {
      return JSON.parse(mem.kernel.readFile(file()).toString()) as ReturnType<Lcd['snapshot']>;
    } catch {
      return undefined;
    }
  };
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
    mem.kernel.failWith(dir, 'EIO', 'fsync');
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
    expect(mem.kernel.list(dir)).toEqual(['lcd.json']);
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
    mem.kernel.hang(dir, 'rename');
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
    expect(warnings[0]!.details.error).toMatch(/rename had started/);
    expect(onDisk()!.instances[0]!.state).toBe('OSU');
    await expect(lcd.setInstanceState('a', 'OSU')).rejects.toBeInstanceOf(LcdStalledError);

    mem.kernel.release(dir);
    await until('the stuck rename to be reclaimed', () => !lcd.stalled);
    expect(onDisk()!.instances[0]!.state).toBe('ISP'); // the rename went through after all
    expect(await lcd.sync()).toBe(true);
    expect(lcd.isDirty).toBe(false);
    expect(onDisk()).toEqual(lcd.snapshot());
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
