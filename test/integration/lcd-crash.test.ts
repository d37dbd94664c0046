// Crash safety of the LCD: a writer process mutating in a loop is killed with SIGKILL hundreds
// of times at random instants; every reload must yield a complete, consistent state that is
// the last committed one or the one being written, never a torn or older one.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lcd } from '../../src/lcd/lcd.js';
import { createMemoryPlatform } from '../../src/platform/memory/index.js';
import { ensureBuilt, repoRoot } from './helpers/core-build.js';

const KILLS = Number(process.env.VIGIL_LCD_CRASH_KILLS ?? 300);
const writer = path.join(repoRoot, 'test/integration/helpers/lcd-writer.mjs');

function runAndKill(dir: string, mode: 'early' | 'running', delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let last = -1;
    let buf = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = () => child.kill('SIGKILL');
    if (mode === 'early') timer = setTimeout(kill, delayMs);
    child.stdout.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) last = Number(l);
      if (mode === 'running' && !timer) timer = setTimeout(kill, delayMs);
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`writer exited by itself (code ${code}): ${stderr}`));
      else resolve(last);
    });
  });
}

type LcdDoc = NonNullable<ReturnType<typeof Lcd.readFile>>;

/**
 * A reloaded state is internally consistent. Generation 0 is the empty database Lcd.open writes
 * on first start (a kill can land after it and before the writer's first change): only the local
 * system, nothing else. From generation 1 on, the counter written in the same change equals the
 * generation, and the window of recent instances is exactly what that generation implies.
 */
function expectConsistent(doc: LcdDoc): void {
  if (doc.generation === 0) {
    expect(doc.systems.map((s) => s.name)).toEqual([doc.localSystem]);
    expect([doc.instances, doc.dependencies, doc.equivalencies, doc.commPaths]).toEqual([[], [], [], []]);
    return;
  }
  const counter = doc.instances.find((i) => i.tag === 'counter');
  expect(counter?.info).toBe(String(doc.generation));
  const tags = doc.instances.filter((i) => i.tag !== 'counter').map((i) => Number(i.tag.slice(1)));
  const expected = [];
  for (let n = Math.max(2, doc.generation - 4); n <= doc.generation; n++) expected.push(n);
  expect(tags.sort((a, b) => a - b)).toEqual(expected);
  for (const d of doc.dependencies) expect(Number(d.parentTag.slice(1)) - 1).toBe(Number(d.childTag.slice(1)));
}

describe('LCD crash safety under SIGKILL', () => {
  let dir: string;
  beforeAll(() => {
    ensureBuilt(['dist/src/lcd/lcd.js']);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-lcd-crash-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('accepts the empty database of a first start, killed before the first change', () => {
    // What a kill leaves when it lands between Lcd.open's first write and the writer's first change.
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-lcd-fresh-'));
    try {
      Lcd.open({ dir: fresh, localSystem: 'writer', files: createMemoryPlatform().durableFiles });
      const doc = Lcd.readFile(path.join(fresh, 'lcd.json'))!;
      expect(doc.generation).toBe(0);
      expectConsistent(doc);
    } finally {
      fs.rmSync(fresh, { recursive: true, force: true });
    }
  });

  it(`survives ${KILLS} kills at random instants with the previous or the new state`, async () => {
    let committed = -1; // highest generation a writer reported as committed
    let progressed = 0;
    for (let k = 0; k < KILLS; k++) {
      const mode = k % 4 === 0 ? 'early' : 'running';
      const delay = mode === 'early' ? 20 + Math.random() * 120 : Math.random() * 25;
      const reported = await runAndKill(dir, mode, delay);
      if (reported > committed) committed = reported;
      const doc = Lcd.readFile(path.join(dir, 'lcd.json')); // validates schema and invariants
      if (!doc) {
        expect(committed).toBe(-1); // killed before the very first write
        continue;
      }
      // Durable: nothing reported committed is lost; atomic: at most the one in-flight change beyond it.
      expect(doc.generation).toBeGreaterThanOrEqual(committed);
      expect(doc.generation).toBeLessThanOrEqual(committed + 1);
      if (doc.generation > committed) committed = doc.generation;
      expectConsistent(doc);
      expect(fs.readdirSync(dir).filter((n) => n !== 'lcd.json' && !n.startsWith('.tmp-'))).toEqual([]);
      progressed = doc.generation;
    }
    console.log(`lcd-crash: ${KILLS} kills, final generation ${progressed}`);
    expect(progressed).toBeGreaterThan(KILLS / 2);
  }, 600_000); // hundreds of process starts: generous on a loaded 2-core machine
});
