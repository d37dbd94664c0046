// The periodic LCD flush: writes dirty runtime state; while an LCD write is stuck in the kernel
// it skips (no write is even attempted) and says so once; once the stuck write is reclaimed it
// flushes again and says so.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/common/config.js';
import { Agent } from '../../src/daemon/agent.js';
import { lcdFlushSubsystem } from '../../src/daemon/lcd-flush.js';
import { memoryDiskState, seedMemoryDisk } from '../helpers/lcd-memory-disk.js';
import { Lcd } from '../../src/lcd/lcd.js';
import { createMemoryPlatform } from '../../src/platform/memory/index.js';
import { waitFor } from '../../scripts/lib/wait.js';
import type { DurableFiles } from '../../src/platform/platform.js';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-flush-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const until = (what: string, cond: () => boolean) => waitFor(cond, { deadlineMs: 5000, intervalMs: 5, what });

describe('lcd-flush', () => {
  it('flushes dirty state, skips while a write is stuck in the kernel, and resumes after it returns', async () => {
    const mem = createMemoryPlatform();
    mem.kernel.addDirectory(dir);
    let attempts = 0;
    const files: DurableFiles = {
      keyFor: (p) => mem.durableFiles.keyFor(p),
      stuck: (k) => mem.durableFiles.stuck(k),
      tryLockExclusive: (p) => mem.durableFiles.tryLockExclusive(p),
      writeAtomic: (p, d, o) => mem.durableFiles.writeAtomic(p, d, o),
      append: (p, d, o) => {
        attempts++;
        return mem.durableFiles.append(p, d, o);
      },
    };
    const lines: { level: string; msg: string }[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: string; msg: string }) });
    const lcd = Lcd.open({ dir, localSystem: 'alpha', files, writeTimeoutMs: 50 });
    seedMemoryDisk(mem.kernel, dir);
    const { config } = buildConfig({ VIGIL_NODE_NAME: 'alpha', VIGIL_STATE_DIR: dir });
    const flush = lcdFlushSubsystem(new Agent(config, log, { platform: mem, lcd }), 20);
    flush.start();
    try {
      lcd.setSystemState('alpha', 'DEAD');
      await until('the first flush', () => !lcd.isDirty);
      expect(attempts).toBe(1);

      mem.kernel.hang(dir);
      await expect(lcd.createSystem({ name: 'beta' })).rejects.toThrow(/within 50 ms/);
      expect(lcd.stalled).toBe(true);
      lcd.setSystemState('alpha', 'ALIVE');
      const stuckAttempts = attempts;
      await new Promise((r) => setTimeout(r, 150)); // about seven flush periods
      expect(attempts).toBe(stuckAttempts);
      expect(lcd.isDirty).toBe(true);
      expect(lines.filter((l) => /periodic LCD flush skipped/.test(l.msg))).toHaveLength(1);

      mem.kernel.release(dir);
      await until('the flush after release', () => !lcd.isDirty);
      expect(attempts).toBe(stuckAttempts + 1);
      expect(lines.some((l) => /periodic LCD flush resumed/.test(l.msg))).toBe(true);
      expect(memoryDiskState(mem.kernel, dir)!.systems[0]!.state).toBe('ALIVE');
    } finally {
      flush.stop();
      mem.kernel.clearFaults();
    }
  });
});
