// The Agent's lifecycle: subsystems start in order and stop in reverse, a failed start rolls
// back what had started, stop flushes the LCD and runs once.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/common/config.js';
import { Agent, type Subsystem } from '../../src/daemon/agent.js';
import { Lcd } from '../../src/lcd/lcd.js';
import { memoryDisk } from '../helpers/memory-disk.js';

let root: string;
let dir: string;
// One memory "machine" per test: two agents on the same state directory share its locks.
let disk: ReturnType<typeof memoryDisk>;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-agent-'));
  dir = path.join(root, 'state'); // vigild keeps a marker beside its state directory
  disk = memoryDisk(dir);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function agent(): Agent {
  const { config } = buildConfig({ VIGIL_NODE_NAME: 'alpha', VIGIL_STATE_DIR: dir });
  return new Agent(config, pino({ level: 'silent' }), { platform: disk.platform });
}

function recorder(events: string[], name: string, failStart = false): Subsystem {
  return {
    name,
    start: async () => {
      if (failStart) throw new Error(`${name} cannot start`);
      events.push(`start ${name}`);
    },
    stop: async () => void events.push(`stop ${name}`),
  };
}

describe('Agent', () => {
  it('opens the LCD in the state dir and registers the local system', () => {
    const a = agent();
    expect(a.localSystem).toBe('alpha');
    expect(a.context.localSystem).toBe('alpha');
    expect(Lcd.readFile(path.join(dir, 'lcd.json'))!.systems.map((s) => s.name)).toEqual(['alpha']);
  });
  it('starts in order, stops in reverse, once, and flushes runtime state', async () => {
    const a = agent();
    const ev: string[] = [];
    for (const n of ['one', 'two', 'three']) a.addSubsystem(recorder(ev, n));
    await a.start();
    expect(() => a.addSubsystem(recorder(ev, 'late'))).toThrow(/running agent/);
    await a.lcd.createSystem({ name: 'beta' });
    a.lcd.setSystemState('beta', 'DEAD');
    await Promise.all([a.stop(), a.stop()]);
    expect(ev).toEqual(['start one', 'start two', 'start three', 'stop three', 'stop two', 'stop one']);
    expect(Lcd.readFile(path.join(dir, 'lcd.json'))!.systems.find((s) => s.name === 'beta')!.state).toBe('DEAD');
  });
  it('a subsystem that fails to start stops the ones already started and the error propagates', async () => {
    const a = agent();
    const ev: string[] = [];
    a.addSubsystem(recorder(ev, 'one'));
    a.addSubsystem(recorder(ev, 'two'));
    a.addSubsystem(recorder(ev, 'bad', true));
    a.addSubsystem(recorder(ev, 'never'));
    await expect(a.start()).rejects.toThrow('bad cannot start');
    expect(ev).toEqual(['start one', 'start two', 'stop two', 'stop one']);
  });
  it('a subsystem whose stop throws does not prevent the others from stopping', async () => {
    const a = agent();
    const ev: string[] = [];
    a.addSubsystem(recorder(ev, 'one'));
    a.addSubsystem({ name: 'grumpy', start() {}, stop() { throw new Error('no'); } });
    a.addSubsystem(recorder(ev, 'three'));
    await a.start();
    await a.stop();
    expect(ev).toEqual(['start one', 'start three', 'stop three', 'stop one']);
  });
});

describe('Agent and its state directory', () => {
  it('holds the state directory (a second agent on it is refused) and refuses an empty one of an initialised node', async () => {
    const a = agent();
    expect(() => agent()).toThrow(`the LCD in ${dir} is in use by process ${process.pid}`);
    await a.stop();
    // The state file system "not mounted": the directory is empty, the marker beside it remains.
    fs.renameSync(dir, `${dir}.elsewhere`);
    fs.mkdirSync(dir);
    expect(() => agent()).toThrow(/is missing \(the directory holds no database, but .*\.state\.vigil-lcd-initialised says one was created there\)/);
    expect(fs.readdirSync(dir).filter((n) => n !== 'lcd.lock')).toEqual([]); // no database created
    fs.rmSync(dir, { recursive: true });
    fs.renameSync(`${dir}.elsewhere`, dir);
    const back = agent();
    expect(back.lcd.systems().map((s) => s.name)).toEqual(['alpha']);
    await back.stop();
  });
});
