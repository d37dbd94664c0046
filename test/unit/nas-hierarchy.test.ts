// The NAS hierarchy through the tasks and the engine, two in-process systems over real LCD files:
// create makes the file system and its NAS child with a dependency (the seeds' flow), refusals
// carry the kit's number and leave nothing behind, extend reports 107010 for a tag conflict on the
// target, and a frozen export moves the hierarchy (LKNASERROR=switch) or halts (halt).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { VigilError } from '../../src/common/errors.js';
import type { PeerMessage } from '../../src/hierarchy/engine.js';
import { HIER_MESSAGE, HierarchyService } from '../../src/hierarchy/service.js';
import { createHierarchy, extendHierarchy, handleTaskStep } from '../../src/hierarchy/tasks.js';
import { FilesysKit } from '../../src/kits/filesys/filesys-kit.js';
import { KitRegistry } from '../../src/kits/kit.js';
import { NasKit } from '../../src/kits/nas/nas-kit.js';
import { NO_NAS_METRICS } from '../../src/kits/nas/nas-metrics-events.js';
import type { NasTools } from '../../src/platform/nas-tools.js';
import { NfsFilesys } from '../../src/kits/nas/nfs-filesys.js';
import { Lcd } from '../../src/lcd/lcd.js';
import { memoryDisk } from '../helpers/memory-disk.js';
import type { MemoryPlatform } from '../../src/platform/memory/index.js';
import { MemoryMounts } from '../../src/platform/memory/mounts.js';


describe('NAS hierarchy: create, extend, failover', () => {
  let dir: string;
  const svc: Record<string, HierarchyService> = {};
  const plat: Record<string, MemoryPlatform> = {};
  const mm: Record<string, MemoryMounts> = {};
  const halted: string[] = [];
  let exportsText = '/export 10.0.0.0/24\n';

  async function setup(onError: 'switch' | 'halt') {
    dir = mkdtempSync(join(tmpdir(), 'vigil-nas-hier-'));
    halted.length = 0;
    for (const [me, other, addr] of [['A', 'B', '10.0.0.11'], ['B', 'A', '10.0.0.12']] as const) {
      // Each system one memory machine: its mounts, and its LCD mirrored into the real directory.
      const disk = memoryDisk(join(dir, me));
      const lcd = Lcd.open({ files: disk.files, dir: join(dir, me), localSystem: me });
      await lcd.createSystem({ name: other });
      plat[me] = disk.memory;
      mm[me] = new MemoryMounts(plat[me].kernel);
      const fstab = join(dir, `fstab-${me}`);
      writeFileSync(fstab, '');
      const tools: NasTools = { exportList: async () => ({ ok: true, text: exportsText }), resolve: async () => [], identity: () => ({ addresses: [addr], names: [me.toLowerCase()] }) };
      const settings = { syscallMs: 30, overallMs: 200, onError };
      const fsPlat = { mountTable: plat[me].mounts, mountControl: mm[me], holders: mm[me], probe: mm[me], timedStat: plat[me].timedStat };
      const kits = new KitRegistry();
      kits.register(new FilesysKit(fsPlat, { fstabPath: fstab, nfs: new NfsFilesys(fsPlat, { fstabPath: fstab, settings, tools, metrics: NO_NAS_METRICS, callMs: 200 }) }));
      kits.register(new NasKit(fsPlat, { settings, tools, fstabPath: fstab, tmpDir: dir, retryPauseMs: 10, mountCheckMs: 200 }));
      svc[me] = new HierarchyService({ lcd, kits, log: () => undefined, checkIntervalMs: 100, haltNode: (r) => halted.push(`${me}: ${r}`), tickMs: 20 });
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
    // The export is mounted on A before it is put under protection (the seeds' way).
    plat['A']!.kernel.addDirectory('/mnt/nfs');
    plat['A']!.kernel.addMount({ source: '10.0.0.5:/export', mountPoint: '/mnt/nfs', fsType: 'nfs4', options: ['rw', 'vers=4.2', 'hard'] });
  }
  afterEach(() => {
    svc['A']?.stop();
    svc['B']?.stop();
    rmSync(dir, { recursive: true, force: true });
    exportsText = '/export 10.0.0.0/24\n';
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
  const create = () => createHierarchy(svc['A']!, { kit: 'gen/filesys', tag: 'share', id: '/mnt/nfs', info: { device: '10.0.0.5:/export', fsType: 'nfs' } });
  const rows = (s: string) => svc[s]!.lcd.instances({ system: s }).map((i) => `${i.tag}:${i.state}`).sort();
  const waitFor = async (what: string, cond: () => boolean, ms = 5000) => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('create makes the NAS child under the file system; refusals carry the number and leave nothing', async () => {
    await setup('switch');
    exportsText = '/export 192.168.0.0/24\n';
    const refused = await err(create());
    expect(refused.number).toBe(107012);
    expect(refused.format()).toMatch(/^Error 107012: Failed resource creation of resource device-nas-10\.0\.0\.5\/export on server A: Error 107012: the exported file system/);
    expect(rows('A')).toEqual([]);
    exportsText = '/export 10.0.0.0/24\n';
    const out = await create();
    expect(out.lines.join('\n')).toMatch(/Dependency share-"device-nas-10\.0\.0\.5\/export" Successfully Created on machine "A"/);
    expect(rows('A')).toEqual(['device-nas-10.0.0.5/export:ISU', 'share:ISU']);
    expect(svc['A']!.lcd.dependencies({ system: 'A' }).map((d) => `${d.parentTag}>${d.childTag}`)).toEqual(['share>device-nas-10.0.0.5/export']);
    expect(JSON.parse(svc['A']!.lcd.getInstance('share')!.info)).toMatchObject({ options: 'rw,vers=4.2,hard' });
  });

  it('extend: a tag conflict on the target is 107010; a clean extend carries the options and fails over when the export freezes', async () => {
    await setup('switch');
    await create();
    await svc['B']!.lcd.createInstance({ tag: 'device-nas-10.0.0.5/export', id: 'something-else', app: 'gen', type: 'app', switchback: 'intelligent', state: 'OSU', info: '' });
    expect((await err(extendHierarchy(svc['A']!, { tag: 'share', target: 'B' }))).number).toBe(107010);
    await svc['B']!.lcd.removeInstances([{ system: 'B', tag: 'device-nas-10.0.0.5/export' }]);
    svc['B']!.reconfigureNow();
    await extendHierarchy(svc['A']!, { tag: 'share', target: 'B' });
    expect(JSON.parse(svc['B']!.lcd.getInstance('share')!.info)).toMatchObject({ device: '10.0.0.5:/export', options: 'rw,vers=4.2,hard' });
    plat['A']!.kernel.hang('/mnt/nfs');
    mm['A']!.hungUnmounts.add('/mnt/nfs');
    await waitFor('share in service on B', () => svc['B']!.engine.state('share') === 'ISP', 10_000);
    expect(mm['B']!.calls).toContain('mount 10.0.0.5:/export /mnt/nfs rw,vers=4.2,hard');
    expect(mm['A']!.calls).toEqual(expect.arrayContaining(['umount /mnt/nfs', 'umount -f /mnt/nfs', 'umount -l /mnt/nfs']));
    expect(halted).toEqual([]);
    plat['A']!.kernel.release('/mnt/nfs');
  }, 20_000);

  it('LKNASERROR=halt: a frozen export halts the system at once', async () => {
    await setup('halt');
    await create();
    plat['A']!.kernel.hang('/mnt/nfs');
    await waitFor('a halt request', () => halted.length > 0, 5000);
    expect(halted[0]).toMatch(/^A: device-nas-10\.0\.0\.5\/export: NFS export .*LKNASERROR=halt/);
    plat['A']!.kernel.release('/mnt/nfs');
  });
});
