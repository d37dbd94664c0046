// The LCD store: first start, reopen, ownership check, validation on load, migrations entry
// point, stale temp files, runtime state vs durable config, change notifications.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VigilError } from '../../src/common/errors.js';
import { Lcd, type LcdChange } from '../../src/lcd/lcd.js';
import { migrate } from '../../src/lcd/migrations.js';
import { commPathKey } from '../../src/lcd/schema.js';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-lcd-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = () => path.join(dir, 'lcd.json');

function thrown(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (e) {
    if (e instanceof VigilError) return e;
    throw e;
  }
  throw new Error('expected a VigilError');
}

describe('Lcd.open', () => {
  it('registers the local system on first start and reopens the same state', () => {
    const a = Lcd.open({ dir, localSystem: 'alpha' });
    expect(a.systems().map((s) => [s.name, s.state])).toEqual([['alpha', 'ALIVE']]);
    a.createInstance({ tag: 'fs', id: '/mnt', app: 'gen', type: 'filesys' });
    const b = Lcd.open({ dir, localSystem: 'alpha' });
    expect(b.getInstance('fs')).toMatchObject({ system: 'alpha', state: 'OSU', switchback: 'intelligent' });
    expect(b.generation).toBe(a.generation);
    expect(fs.statSync(file()).mode & 0o777).toBe(0o600);
  });
  it('refuses a database that belongs to another system, and a bad local name', () => {
    Lcd.open({ dir, localSystem: 'alpha' });
    expect(thrown(() => Lcd.open({ dir, localSystem: 'beta' })).message).toMatch(/belongs to system "alpha", not "beta"/);
    expect(thrown(() => Lcd.open({ dir: path.join(dir, 'x'), localSystem: 'bad name' })).message).toMatch(/invalid local system name/);
  });
  it('validates what it loads: torn JSON, bad records and broken invariants are errors, not silently used', () => {
    Lcd.open({ dir, localSystem: 'alpha' });
    const good = fs.readFileSync(file(), 'utf8');
    fs.writeFileSync(file(), good.slice(0, good.length / 2));
    expect(thrown(() => Lcd.open({ dir, localSystem: 'alpha' })).message).toMatch(/not valid JSON/);
    const doc = JSON.parse(good);
    doc.instances.push({ system: 'alpha', tag: 'bad tag!', id: '/x', app: 'gen', type: 'app' });
    fs.writeFileSync(file(), JSON.stringify(doc));
    expect(thrown(() => Lcd.open({ dir, localSystem: 'alpha' })).message).toMatch(/instances\.0\.tag/);
    doc.instances = [];
    doc.dependencies.push({ system: 'alpha', parentTag: 'a', childTag: 'b' });
    fs.writeFileSync(file(), JSON.stringify(doc));
    expect(thrown(() => Lcd.open({ dir, localSystem: 'alpha' })).message).toMatch(/resource "a" does not exist/);
  });
  it('removes temp files a crashed writer left behind', () => {
    Lcd.open({ dir, localSystem: 'alpha' });
    fs.writeFileSync(path.join(dir, '.tmp-lcd.json.12345'), '{"torn":');
    Lcd.open({ dir, localSystem: 'alpha' });
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
  it('a failing mutation changes neither memory nor disk', () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha' });
    lcd.createInstance({ tag: 'a', id: '/a', app: 'gen', type: 'app' });
    const disk = fs.readFileSync(file(), 'utf8');
    const gen = lcd.generation;
    expect(() =>
      lcd.mutate('half-done', (d) => {
        d.instances.push({ system: 'alpha', tag: 'b', id: '/b', app: 'gen', type: 'app', switchback: 'automatic', state: 'OSU', info: '', reason: '' });
        d.dependencies.push({ system: 'alpha', parentTag: 'b', childTag: 'missing' });
      }),
    ).toThrow(/resource "missing" does not exist/);
    expect(() => lcd.mutate('throws', () => { throw new Error('boom'); })).toThrow('boom');
    expect(lcd.instances().map((i) => i.tag)).toEqual(['a']);
    expect(lcd.generation).toBe(gen);
    expect(fs.readFileSync(file(), 'utf8')).toBe(disk);
  });
  it('runtime state is kept in memory until sync(); config changes are written at once; listeners hear both', () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha' });
    const seen: LcdChange[] = [];
    lcd.onChange((c) => seen.push(c));
    const p = lcd.createCommPath({ type: 'TCP', system: 'alpha', otherSystem: 'beta', priority: 1, localAddress: '127.0.0.1', remoteAddress: '127.0.0.2' });
    expect(Lcd.readFile(file())!.commPaths).toHaveLength(1);
    expect(lcd.setCommPathState(commPathKey(p), 'ALIVE')).toBe(true);
    expect(lcd.setCommPathState(commPathKey(p), 'ALIVE')).toBe(false);
    expect(lcd.setSystemState('beta', 'ALIVE', 1234)).toBe(true);
    expect(lcd.setSystemState('nobody', 'ALIVE')).toBe(false);
    expect(lcd.isDirty).toBe(true);
    expect(Lcd.readFile(file())!.commPaths[0]!.state).toBe('UNKNOWN');
    expect(lcd.sync()).toBe(true);
    expect(lcd.sync()).toBe(false);
    const disk = Lcd.readFile(file())!;
    expect(disk.commPaths[0]!.state).toBe('ALIVE');
    expect(disk.systems.find((s) => s.name === 'beta')).toMatchObject({ state: 'ALIVE', stateChangedAt: 1234 });
    expect(seen.map((c) => c.kind)).toEqual(['config', 'state', 'state', 'sync']);
    expect(lcd.writes).toBeGreaterThanOrEqual(2);
  });
  it('removeSystem: 424 for the local system, refused while equivalencies name it, drops its records otherwise', () => {
    const lcd = Lcd.open({ dir, localSystem: 'alpha' });
    expect(thrown(() => lcd.removeSystem('alpha')).number).toBe(424);
    lcd.createSystem({ name: 'beta' });
    lcd.createInstance({ tag: 'a', id: '/a', app: 'gen', type: 'app' });
    lcd.createEquivalency({ tag: 'a', otherSystem: 'beta', otherTag: 'a', priority: 1, otherPriority: 2 });
    expect(thrown(() => lcd.removeSystem('beta')).message).toMatch(/still has 1 equivalencies/);
    lcd.removeEquivalencies({ tag: 'a' });
    lcd.removeSystem('beta');
    expect(lcd.systems().map((s) => s.name)).toEqual(['alpha']);
    expect(thrown(() => lcd.removeSystem('beta')).message).toMatch(/does not exist/);
  });
});
