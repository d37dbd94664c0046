// The task commands (create, extend, unextend, delete, dep, properties) with two in-process
// hierarchy services over LCDs on the memory platform (mirrored into real directories), an
// in-memory transport, and a memory kit. Checks the seeds' error numbers, that refused input
// changes nothing, and the admin lock.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { VigilError } from '../../../src/common/errors.js';
import { Lcd } from '../../../src/lcd/lcd.js';
import { DEFAULT_TIME_LIMITS, KitRegistry, failed, ok, type ActionResult, type Kit, type ResourceInstance } from '../../../src/kits/kit.js';
import type { PeerMessage } from '../../../src/hierarchy/engine.js';
import { HIER_MESSAGE, HierarchyService } from '../../../src/hierarchy/service.js';
import { createHierarchy, deleteHierarchy, dependency, extendHierarchy, handleTaskStep, properties, unextendHierarchy } from '../../../src/hierarchy/tasks.js';
import { memoryDisk } from '../../helpers/memory-disk.js';

/** A kit whose resources live in a set per system; hooks make actions fail or wait. */
class MemoryKit implements Kit {
  readonly app: string = 'test/mem';
  readonly timeLimits = { ...DEFAULT_TIME_LIMITS, restore: 5_000, remove: 5_000, extend: 10_000 };
  readonly supportsRecover = false;
  readonly maxCheckDepth = 0 as const;
  readonly running = new Set<string>();
  /** Set to make this kit refuse automatic switchback, as scsi/netraid does. */
  refusesAutomaticSwitchback: string | undefined;
  failRestore = new Set<string>();
  extendGate: Promise<void> | undefined;
  /** How many extend actions have started (an extend waiting at the gate counts). */
  extendsStarted = 0;
  validate(i: ResourceInstance): ActionResult {
    return i.info['bad'] ? failed('fatal', 'bad setting') : ok();
  }
  async create(): Promise<ActionResult> {
    return ok();
  }
  async canExtend(i: ResourceInstance): Promise<ActionResult> {
    return i.info['noExtend'] ? failed('fatal', 'device missing') : ok();
  }
  async extend(): Promise<ActionResult> {
    this.extendsStarted++;
    await this.extendGate;
    return ok();
  }
  async unextend(i: ResourceInstance): Promise<ActionResult> {
    return this.running.has(i.tag) ? failed('fatal', 'running') : ok();
  }
  async delete(): Promise<ActionResult> {
    return ok();
  }
  async restore(i: ResourceInstance): Promise<ActionResult> {
    if (this.failRestore.has(i.tag)) return failed('move-elsewhere', 'cannot start');
    this.running.add(i.tag);
    return ok();
  }
  async remove(i: ResourceInstance): Promise<ActionResult> {
    this.running.delete(i.tag);
    return ok();
  }
  async quickCheck(i: ResourceInstance): Promise<ActionResult> {
    return this.running.has(i.tag) ? ok() : failed('retry-here', 'not running');
  }
  async recover(): Promise<ActionResult> {
    return failed('move-elsewhere', 'no recovery');
  }
  canFailoverNow(): { ok: boolean; reason: string } {
    return { ok: true, reason: '' };
  }
}

describe('hierarchy tasks', () => {
  let dir: string;
  const svc: Record<string, HierarchyService> = {};
  const kit: Record<string, MemoryKit> = {};

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-tasks-'));
    for (const [me, other] of [['A', 'B'], ['B', 'A']] as const) {
      // Each system its own memory machine; its LCD mirrored into the real directory it opens.
      const lcd = Lcd.open({ files: memoryDisk(join(dir, me)).files, dir: join(dir, me), localSystem: me });
      await lcd.createSystem({ name: other });
      const kits = new KitRegistry();
      kit[me] = new MemoryKit();
      kits.register(kit[me]);
      svc[me] = new HierarchyService({ lcd, kits, log: () => undefined, checkIntervalMs: 60_000, haltNode: () => undefined, tickMs: 20 });
      svc[me].taskHandler = (from, body) => handleTaskStep(svc[me]!, from, body);
    }
    for (const [me, other] of [['A', 'B'], ['B', 'A']] as const) {
      svc[me]!.setTransport({
        request: async (to, type, body) => {
          if (to !== other) throw new Error(`unreachable ${to}`);
          if (type === HIER_MESSAGE) {
            svc[other]!.handlePeerMessage(me, body as PeerMessage);
            return { ok: true };
          }
          return handleTaskStep(svc[other]!, me, body);
        },
      });
      svc[me]!.start();
      svc[me]!.systemUp(other);
    }
  });
  afterEach(() => {
    svc['A']?.stop();
    svc['B']?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const err = async (p: Promise<unknown>): Promise<VigilError> => {
    try {
      await p;
    } catch (e) {
      if (e instanceof VigilError) return e;
      throw e;
    }
    throw new Error('expected a VigilError');
  };
  const create = (tag: string, info: Record<string, string> = {}) => createHierarchy(svc['A']!, { kit: 'test/mem', tag, id: `id-${tag}`, info });
  const rows = (s: string) => svc[s]!.lcd.instances({ system: s }).map((i) => `${i.tag}:${i.state}`).sort();

  it('create: checks with the seeds\' numbers and changes nothing when refused', async () => {
    expect((await err(createHierarchy(svc['A']!, { kit: 'test/mem', id: 'x', info: {} }))).number).toBe(30);
    // create's usage errors have the seeds' create number, 000012 (the other tasks' is 000002).
    expect((await err(createHierarchy(svc['A']!, { tag: 't', id: 'x', info: {} }))).number).toBe(12);
    expect((await err(createHierarchy(svc['A']!, { kit: 'test/nope', tag: 't', id: 'x', info: {} }))).message).toMatch(/no recovery kit named test\/nope/);
    expect((await err(create('bad', { bad: '1' }))).number).toBe(18);
    const limit = await err(create('slow', { restoreTimeoutMs: '-5' }));
    expect(limit.number).toBe(12);
    expect(limit.message).toBe('Usage error: restoreTimeoutMs must be a positive whole number of milliseconds, not "-5"');
    const out = await create('app');
    expect(out.lines.at(-1)).toMatch(/unprotected \(ISU\)/);
    expect(rows('A')).toEqual(['app:ISU']);
    const dup = await err(create('app'));
    expect(dup.number).toBe(14);
    expect(dup.format()).toBe('Error 000014: Resource with either matching tag app or ID exists (the tag is in use)');
    kit['A']!.failRestore.add('broken');
    const bad = await err(create('broken'));
    expect(bad.number).toBe(23);
    expect(bad.message).toMatch(/Error bringing resource broken in service on server A/);
    expect(rows('A')).toEqual(['app:ISU']);
  });

  it('extend: template checks, priorities, success makes it ISP with equivalencies on both sides', async () => {
    expect((await err(extendHierarchy(svc['A']!, { tag: 'nope', target: 'B' }))).number).toBe(3);
    await create('app');
    await create('fs');
    await dependency(svc['A']!, 'create', { parent: 'app', child: 'fs' });
    expect((await err(extendHierarchy(svc['A']!, { tag: 'app', target: 'B', targetPriority: '1' }))).message).toMatch(/priority 1 is already used by A/);
    expect((await err(extendHierarchy(svc['A']!, { tag: 'app', target: 'B', targetPriority: '1000' }))).message).toMatch(/1 to 999/);
    expect(rows('B')).toEqual([]);
    const out = await extendHierarchy(svc['A']!, { tag: 'fs', target: 'B' });
    expect(out.lines).toContain('Pre Extend checks were successful');
    expect(rows('B')).toEqual(['app:OSU', 'fs:OSU']);
    expect(svc['B']!.lcd.dependencies({ system: 'B' }).map((d) => `${d.parentTag}>${d.childTag}`)).toEqual(['app>fs']);
    expect(svc['A']!.lcd.equivalencies({ system: 'A' }).map((e) => `${e.tag} ${e.otherSystem} ${e.priority} ${e.otherPriority}`).sort()).toEqual(['app B 1 10', 'fs B 1 10']);
    expect(svc['B']!.lcd.equivalencies({ system: 'B' }).map((e) => `${e.tag} ${e.otherSystem} ${e.priority} ${e.otherPriority}`).sort()).toEqual(['app A 10 1', 'fs A 10 1']);
    // The states become ISP once their durable LCD writes land: wait for that, not a fixed time.
    await expect.poll(() => rows('A'), { timeout: 10_000 }).toEqual(['app:ISP', 'fs:ISP']);
    expect((await err(extendHierarchy(svc['A']!, { tag: 'app', target: 'B' }))).number).toBe(4);
    const p = await properties(svc['B']!, { tag: 'app' });
    expect(p.lines).toContain('Hierarchy:    app, in service on A');
  });

  it('extend refuses a hierarchy that is not in service on the template, and a failing canExtend (000008)', async () => {
    await create('app');
    await svc['A']!.admin({ type: 'adminOutOfService', tag: 'app' });
    expect((await err(extendHierarchy(svc['A']!, { tag: 'app', target: 'B' }))).number).toBe(8);
    await svc['A']!.admin({ type: 'adminInService', tag: 'app' });
    await create('fs', { noExtend: '1' });
    const e = await err(extendHierarchy(svc['A']!, { tag: 'fs', target: 'B' }));
    expect(e.format()).toBe('Error 000008: Cannot extend resource fs to server B: device missing');
    expect(rows('B')).toEqual([]);
  });

  it("extend to a server without the hierarchy's kit is the seeds' 000005 and leaves the target as it was", async () => {
    // A kit only A has (B runs a Vigil without it).
    class OnlyOnA extends MemoryKit {
      override readonly app = 'test/only-a';
    }
    svc['A']!.kits.register(new OnlyOnA());
    await createHierarchy(svc['A']!, { kit: 'test/only-a', tag: 'odd', id: 'id-odd', info: {} });
    const e = await err(extendHierarchy(svc['A']!, { tag: 'odd', target: 'B' }));
    expect(e.format()).toBe('Error 000005: Cannot access canextend script on server B: no recovery kit test/only-a here for odd');
    expect(rows('B')).toEqual([]);
    expect(svc['A']!.lcd.equivalencies({})).toEqual([]);
  });

  it('a second administrator gets a lock error while an extend runs', async () => {
    await create('app');
    let release!: () => void;
    kit['B']!.extendGate = new Promise((r) => (release = r));
    const first = extendHierarchy(svc['A']!, { tag: 'app', target: 'B' });
    await expect.poll(() => kit['B']!.extendsStarted, { timeout: 5_000 }).toBe(1); // the extend holds its locks

    // From the other system (cluster-wide lock) and from the same one.
    const fromB = await err(svc['B']!.lock('app', 'unextend'));
    expect(fromB.message).toBe('hierarchy app is locked by extend on A; try again when it finishes');
    const second = await err(properties(svc['A']!, { tag: 'app', switchback: 'automatic' }));
    expect(second.message).toBe('hierarchy app is locked by extend on A; try again when it finishes');
    release();
    await first;
    const later = await properties(svc['A']!, { tag: 'app', switchback: 'automatic' });
    expect(later.lines).toContain('Switchback:   automatic');
    expect(svc['B']!.lcd.getInstance('app')!.switchback).toBe('automatic');
  });

  it('dependencies: cycles and servers that differ are refused', async () => {
    await create('a');
    await create('b');
    await dependency(svc['A']!, 'create', { parent: 'a', child: 'b' });
    expect((await err(dependency(svc['A']!, 'create', { parent: 'b', child: 'a' }))).message).toMatch(/cycle/);
    await create('c');
    await extendHierarchy(svc['A']!, { tag: 'c', target: 'B' });
    expect((await err(dependency(svc['A']!, 'create', { parent: 'a', child: 'c' }))).message).toMatch(/must be extended to the same servers/);
    expect((await err(dependency(svc['A']!, 'delete', { parent: 'a', child: 'c' }))).number).toBe(19);
    await dependency(svc['A']!, 'delete', { parent: 'a', child: 'b' });
    expect(svc['A']!.lcd.dependencies({ system: 'A' })).toEqual([]);
  });

  it('unextend refuses the system where it runs; unextend and delete leave no rows', async () => {
    await create('app');
    await extendHierarchy(svc['A']!, { tag: 'app', target: 'B' });
    await expect.poll(() => rows('A'), { timeout: 10_000 }).toEqual(['app:ISP']);
    const refused = await err(unextendHierarchy(svc['B']!, { tag: 'app', target: 'A' }));
    expect(refused.message).toMatch(/in service on A/);
    // A rule, not a malformed command line: no catch-all usage error (000002).
    expect(refused.number).toBe(0);
    expect((await err(unextendHierarchy(svc['A']!, { tag: 'app', target: 'A' }))).number).toBe(0);
    expect((await err(unextendHierarchy(svc['A']!, { tag: 'nosuch', target: 'B' }))).number).toBe(19);
    await unextendHierarchy(svc['A']!, { tag: 'app', target: 'B' });
    expect(rows('B')).toEqual([]);
    expect(svc['A']!.lcd.equivalencies({})).toEqual([]);
    await expect.poll(() => rows('A'), { timeout: 10_000 }).toEqual(['app:ISU']);
    await extendHierarchy(svc['A']!, { tag: 'app', target: 'B' });
    await deleteHierarchy(svc['A']!, { tag: 'app' });
    expect(rows('A')).toEqual([]);
    expect(rows('B')).toEqual([]);
    expect(kit['A']!.running.size).toBe(0);
  });

  it("no catch-all usage error (000002) for refusals: automatic switchback a kit refuses, unextend's own usage, an unknown task step", async () => {
    kit['A']!.refusesAutomaticSwitchback = 'switched back by hand only';
    // A well-formed command line the kit turns down: create's 000018, extend's 000008, properties none.
    const created = await err(createHierarchy(svc['A']!, { kit: 'test/mem', tag: 'app', id: 'id-app', switchback: 'automatic', info: {} }));
    expect(created.format()).toBe('Error 000018: Error creating resource app on server A: switchback type automatic is refused: switched back by hand only');
    expect(rows('A')).toEqual([]);
    await create('app');
    const extended = await err(extendHierarchy(svc['A']!, { tag: 'app', target: 'B', switchback: 'automatic' }));
    expect(extended.format()).toBe('Error 000008: Cannot extend resource app to server B: switchback type automatic is refused: switched back by hand only');
    expect(rows('B')).toEqual([]);
    const props = await err(properties(svc['A']!, { tag: 'app', switchback: 'automatic' }));
    expect([props.number, props.message]).toEqual([0, 'switchback type automatic is refused: switched back by hand only']);
    expect(svc['A']!.lcd.getInstance('app')!.switchback).toBe('intelligent');
    // A malformed switchback type stays a usage error: create's 000012, the other tasks' 000002.
    expect((await err(createHierarchy(svc['A']!, { kit: 'test/mem', tag: 'x', id: 'x', switchback: 'sometimes', info: {} }))).number).toBe(12);
    expect((await err(properties(svc['A']!, { tag: 'app', switchback: 'sometimes' }))).number).toBe(2);
    // unextend without a tag: 000002 with unextend's words, not extend's 000030.
    const noTag = await err(unextendHierarchy(svc['A']!, { target: 'B' }));
    expect([noTag.number, noTag.message]).toEqual([2, 'Usage error: the tag (-t) is not specified']);
    // A step from a peer running another version: no seed number fits.
    const step = await err(handleTaskStep(svc['B']!, 'A', { kind: 'from-the-future' }));
    expect([step.number, step.message]).toEqual([0, 'unknown task step from-the-future from A: run the same Vigil version on every system']);
  });
});
