// Crash safety of the LCD: a writer process mutating in a loop is killed with SIGKILL hundreds
// of times at random instants; every reload must yield a complete, consistent state that is
// the last committed one or the one being written, never a torn or older one. Twice: with the
// default compaction threshold (kills land in journal appends) and with compaction every few
// changes (kills land in compactions: snapshot rename, journal reset, kept generation).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lcd } from '../../src/lcd/lcd.js';
import { ensureBuilt, repoRoot } from './helpers/core-build.js';

// 100 kills in `npm test` (about a minute); VIGIL_LCD_CRASH_KILLS=1000 for a long run on demand.
// The writer's commit rhythm is the same at every count, so more kills only sample more instants.
const KILLS = Number(process.env.VIGIL_LCD_CRASH_KILLS ?? 100);
const writer = path.join(repoRoot, 'test/integration/helpers/lcd-writer.mjs');

/** What may be in the state directory besides temp files a kill left behind. */
const LCD_FILES = new Set(['lcd.json', 'lcd.journal', 'lcd.initialised', 'lcd.lock', 'lcd.json.1', 'lcd.json.2', 'lcd.json.3']);

function runAndKill(dir: string, mode: 'early' | 'running', delayMs: number, compactAt?: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = compactAt === undefined ? [writer, dir] : [writer, dir, String(compactAt)];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let last = -1;
    let reports = 0;
    let buf = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = () => child.kill('SIGKILL');
    if (mode === 'early') timer = setTimeout(kill, delayMs);
    child.stdout.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        last = Number(l);
        reports++;
      }
      // 'running': the kill lands within delayMs after the writer's first commit of this run (its
      // first line is the generation it opened at), so every such run changes something however
      // slow the host is, and the kill falls inside the appends or compactions that follow.
      if (mode === 'running' && !timer && reports >= 2) timer = setTimeout(kill, delayMs);
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

describe('LCD crash safety under SIGKILL', () => {
  let root: string;
  beforeAll(() => {
    ensureBuilt(['dist/src/lcd/lcd.js']);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-lcd-crash-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  async function killRepeatedly(dir: string, kills: number, compactAt?: number): Promise<number> {
    let committed = -1; // highest generation a writer reported as committed
    let progressed = 0;
    for (let k = 0; k < kills; k++) {
      const mode = k % 4 === 0 ? 'early' : 'running';
      const delay = mode === 'early' ? 20 + Math.random() * 120 : Math.random() * 25;
      const reported = await runAndKill(dir, mode, delay, compactAt);
      if (reported > committed) committed = reported;
      const doc = Lcd.readFile(path.join(dir, 'lcd.json')); // snapshot + journal; validates, and throws on damage
      if (!doc) {
        expect(committed).toBe(-1); // killed before the very first write
        continue;
      }
      // Durable: nothing reported committed is lost; atomic: at most the one in-flight change beyond it.
      expect(doc.generation).toBeGreaterThanOrEqual(committed);
      expect(doc.generation).toBeLessThanOrEqual(committed + 1);
      if (doc.generation > committed) committed = doc.generation;
      expect(fs.readdirSync(dir).filter((n) => !LCD_FILES.has(n) && !n.startsWith('.tmp-'))).toEqual([]);
      if (doc.generation === 0) {
        // Killed after the empty database was first written and before the first change.
        expect(doc.instances).toEqual([]);
        continue;
      }
      // Internally consistent: the counter written in the same change equals the generation,
      // and the window of recent instances is exactly what that generation implies.
      const counter = doc.instances.find((i) => i.tag === 'counter');
      expect(counter?.info).toBe(String(doc.generation));
      const tags = doc.instances.filter((i) => i.tag !== 'counter').map((i) => Number(i.tag.slice(1)));
      const expected = [];
      for (let n = Math.max(2, doc.generation - 4); n <= doc.generation; n++) expected.push(n);
      expect(tags.sort((a, b) => a - b)).toEqual(expected);
      for (const d of doc.dependencies) expect(Number(d.parentTag.slice(1)) - 1).toBe(Number(d.childTag.slice(1)));
      progressed = doc.generation;
    }
    return progressed;
  }

  it(`survives ${KILLS} kills at random instants with the previous or the new state (journal appends)`, async () => {
    const progressed = await killRepeatedly(fs.mkdtempSync(path.join(root, 'journal-')), KILLS);
    console.log(`lcd-crash: ${KILLS} kills, final generation ${progressed}`);
    expect(progressed).toBeGreaterThan(KILLS / 2);
  }, 600_000); // hundreds of process starts: generous on a loaded 2-core machine

  it(`survives ${Math.ceil(KILLS / 2)} kills with a compaction every few changes (kills inside compactions)`, async () => {
    const dir = fs.mkdtempSync(path.join(root, 'compaction-'));
    const progressed = await killRepeatedly(dir, Math.ceil(KILLS / 2), 1);
    console.log(`lcd-crash (compacting): ${Math.ceil(KILLS / 2)} kills, final generation ${progressed}`);
    expect(progressed).toBeGreaterThan(KILLS / 4);
    // Compactions did happen: kept generations exist beside lcd.json.
    expect(fs.readdirSync(dir).filter((n) => /^lcd\.json\.\d$/.test(n)).length).toBeGreaterThan(1);
  }, 600_000);
});
