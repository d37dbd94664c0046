// vigild's step after a takeover: with the state file active, the hierarchy roots not in service
// are brought in service once the primary is decided DEAD (or after the grace with no word of it);
// never while the primary is ALIVE, never when the standby is listening.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StandbyBootService } from '../../../src/standby/standby-boot-service.js';
import type { StandbySettings } from '../../../src/standby/standby-settings.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-sbb-'));
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

function run(state: string | undefined, primary: () => string | undefined) {
  if (state) writeFileSync(join(dir, 'standby.json'), JSON.stringify({ state, why: 'node1 stopped', since: 0, primary: 'node1', heartbeats: 3, rejectedRecords: 0, updated: 0, pid: 0 }));
  const s = { primary: 'node1', standby: 'node2', role: 'standby', stateDir: dir } as StandbySettings;
  const brought: string[] = [];
  const logs: string[] = [];
  const svc = new StandbyBootService(s, {
    systemState: primary,
    rootsOutOfService: () => ['fs-a', 'app-b'],
    inService: async (tag) => (brought.push(tag), { ok: true, message: '' }),
    log: { info: (_f, m) => void logs.push(m), warn: (_f, m) => void logs.push(`warn: ${m}`) },
    graceMs: 10_000,
  });
  svc.start();
  return { svc, brought, logs };
}

// The service reads its state file with real file I/O, which fake timers do not wait for: each
// step also gives the real event loop a moment, and expectations of something happening wait
// for it (on a loaded machine the read can take longer than one step).
const realSetTimeout = globalThis.setTimeout;
const advance = async (ms: number) => {
  for (let t = 0; t < ms; t += 500) {
    await vi.advanceTimersByTimeAsync(500);
    await new Promise((r) => realSetTimeout(r, 5));
  }
};
const eventually = (check: () => void) => vi.waitFor(check, { timeout: 5000, interval: 50 });

describe('StandbyBootService', () => {
  it('active, primary DEAD: every root out of service is brought in service, once', async () => {
    let p = 'UNKNOWN';
    const r = run('active', () => p);
    await advance(3000);
    expect(r.brought).toEqual([]);
    p = 'DEAD';
    await advance(2000);
    await eventually(() => expect(r.brought).toEqual(['fs-a', 'app-b']));
    await advance(5000);
    expect(r.brought).toEqual(['fs-a', 'app-b']);
    expect(r.logs[0]).toBe('standby took over from node1 (node1 stopped): bringing fs-a, app-b in service');
    r.svc.stop();
  });
  it('active, no word of the primary: waits out the grace, then brings the roots in service', async () => {
    const r = run('active', () => undefined);
    await advance(9000);
    expect(r.brought).toEqual([]);
    await advance(3000);
    await eventually(() => expect(r.brought).toEqual(['fs-a', 'app-b']));
    r.svc.stop();
  });
  it('primary ALIVE: nothing is brought in service', async () => {
    const r = run('active', () => 'ALIVE');
    await advance(15_000);
    expect(r.brought).toEqual([]);
    await eventually(() => expect(r.logs).toEqual(['warn: standby active but node1 is ALIVE: not bringing hierarchies in service here']));
    r.svc.stop();
  });
  it('listening or no state file: an ordinary start', async () => {
    for (const state of ['listening', undefined]) {
      const r = run(state, () => 'DEAD');
      await advance(15_000);
      expect(r.brought).toEqual([]);
      r.svc.stop();
    }
  });
});
