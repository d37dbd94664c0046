// gen/filesys on the memory platform: restore/remove idempotence, holders, fstab, check depths,
// local recovery by remount, and time limits on hung probes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { FilesysKit } from '../../../src/kits/filesys/filesys-kit.js';
import type { ActionContext, ResourceInstance } from '../../../src/kits/kit.js';
import { createMemoryPlatform, type MemoryPlatform } from '../../../src/platform/memory/index.js';
import { MemoryMounts } from '../../../src/platform/memory/mounts.js';

const ctx = (): ActionContext => ({ system: 'A', signal: new AbortController().signal, log: () => undefined });

describe('gen/filesys kit (memory platform)', () => {
  let plat: MemoryPlatform;
  let mm: MemoryMounts;
  let kit: FilesysKit;
  let dir: string;
  let fstab: string;
  const inst: ResourceInstance = { tag: 'data', id: '/srv/data', app: 'gen/filesys', info: { device: '/dev/sdb1', fsType: 'ext4', options: 'noatime' } };

  beforeEach(() => {
    plat = createMemoryPlatform();
    plat.kernel.addBlockDevice('/dev/sdb1', { sizeBytes: 1 << 30, logicalSectorSize: 512, readOnly: false });
    mm = new MemoryMounts(plat.kernel);
    dir = mkdtempSync(join(tmpdir(), 'vigil-fstab-'));
    fstab = join(dir, 'fstab');
    writeFileSync(fstab, '# comment\n/dev/sda1 / ext4 defaults 0 1\n/dev/sdb1 /srv/data ext4 noatime 0 2\n');
    kit = new FilesysKit({ mountTable: plat.mounts, mountControl: mm, holders: mm, probe: mm, timedStat: plat.timedStat }, { fstabPath: fstab, callTimeoutMs: 300, holderGraceMs: 10 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('validates settings', () => {
    expect(kit.validate(inst).ok).toBe(true);
    expect(kit.validate({ ...inst, id: 'relative' })).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    expect(kit.validate({ ...inst, info: { ...inst.info, device: '' } }).reason).toMatch(/device/);
    expect(kit.validate({ ...inst, info: { ...inst.info, options: 'a b' } }).reason).toMatch(/spaces/);
  });

  it('restore mounts with the options and is idempotent; remove unmounts and is idempotent', async () => {
    expect((await kit.restore(inst, ctx())).ok).toBe(true);
    expect(mm.calls).toEqual(['mount /dev/sdb1 /srv/data noatime']);
    expect(await kit.restore(inst, ctx())).toMatchObject({ ok: true, reason: 'already mounted' });
    expect(mm.calls).toHaveLength(1);
    expect((await kit.remove(inst, ctx())).ok).toBe(true);
    expect(await kit.remove(inst, ctx())).toMatchObject({ ok: true, reason: 'not mounted' });
    expect(plat.kernel.mounts.some((m) => m.mountPoint === '/srv/data')).toBe(false);
  });

  it('a failing mount is move-elsewhere with the reason; another fs on the mount point is fatal', async () => {
    mm.mountFailures.set('/srv/data', 'mount: wrong fs type, bad superblock');
    expect(await kit.restore(inst, ctx())).toMatchObject({ ok: false, recoveryClass: 'move-elsewhere', reason: 'mount: wrong fs type, bad superblock' });
    plat.kernel.addMount({ source: '/dev/other', mountPoint: '/srv/data', fsType: 'xfs', options: ['rw'] });
    expect(await kit.restore(inst, ctx())).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    expect(await kit.remove(inst, ctx())).toMatchObject({ ok: false, recoveryClass: 'fatal' });
  });

  it('remove ends the processes that hold the mount, then unmounts', async () => {
    await kit.restore(inst, ctx());
    mm.holding.set('/srv/data', [{ pid: 4242, how: 'cwd', command: 'sh' }, { pid: 4343, how: 'fd 3', command: 'db', ignoresTerm: true }]);
    expect((await kit.remove(inst, ctx())).ok).toBe(true);
    expect(mm.signals).toEqual([{ pid: 4242, signal: 'SIGTERM' }, { pid: 4343, signal: 'SIGTERM' }, { pid: 4343, signal: 'SIGKILL' }]);
  });

  it('create needs the file system mounted or its device usable; it removes the fstab line, keeping a backup', async () => {
    expect(await kit.create({ ...inst, info: { ...inst.info, device: '/dev/nope' } }, ctx())).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    expect(readFileSync(fstab, 'utf8')).toContain('/srv/data');
    plat.kernel.addMount({ source: '/dev/other', mountPoint: '/srv/data', fsType: 'xfs', options: ['rw'] });
    expect((await kit.create(inst, ctx())).reason).toMatch(/another file system/);
    plat.kernel.mounts.pop();
    await kit.restore(inst, ctx());
    const r = await kit.create(inst, ctx());
    expect(r).toMatchObject({ ok: true });
    expect(r.reason).toContain('/dev/sdb1 /srv/data ext4 noatime 0 2');
    expect(readFileSync(fstab, 'utf8')).toBe('# comment\n/dev/sda1 / ext4 defaults 0 1\n');
    expect(readFileSync(`${fstab}.vigil-backup`, 'utf8')).toContain('/srv/data');
    expect(await kit.create(inst, ctx())).toMatchObject({ ok: true, reason: 'no fstab entry' });
  });

  it('canExtend needs the block device; unextend refuses while mounted', async () => {
    expect((await kit.canExtend(inst)).ok).toBe(true);
    expect(await kit.canExtend({ ...inst, info: { ...inst.info, device: '/dev/nope' } })).toMatchObject({ ok: false, recoveryClass: 'fatal' });
    plat.kernel.addFile('/dev/plainfile');
    expect((await kit.canExtend({ ...inst, info: { ...inst.info, device: '/dev/plainfile' } })).reason).toMatch(/not a block device/);
    await kit.restore(inst, ctx());
    expect((await kit.unextend(inst)).ok).toBe(false);
    await kit.remove(inst, ctx());
    expect((await kit.unextend(inst)).ok).toBe(true);
  });

  it('quickCheck depths: 0 mounted, 10 readable, 20 writable; a hung file system fails within the limit', async () => {
    expect(await kit.quickCheck(inst, 0)).toMatchObject({ ok: false, recoveryClass: 'retry-here', reason: '/srv/data is not mounted' });
    await kit.restore(inst, ctx());
    for (const d of [0, 10, 20] as const) expect((await kit.quickCheck(inst, d)).ok).toBe(true);
    mm.readOnlyFailures.add('/srv/data');
    expect((await kit.quickCheck(inst, 10)).ok).toBe(true);
    expect((await kit.quickCheck(inst, 20)).reason).toMatch(/cannot write/);
    plat.kernel.hang('/srv/data');
    const t0 = Date.now();
    const r = await kit.quickCheck(inst, 10);
    expect(r).toMatchObject({ ok: false, recoveryClass: 'retry-here' });
    expect(r.reason).toMatch(/cannot read \/srv\/data/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect((await kit.quickCheck(inst, 0)).ok).toBe(true);
    plat.kernel.clearFaults();
  });

  it('recover mounts again when unmounted and remounts when it cannot write', async () => {
    await kit.restore(inst, ctx());
    plat.kernel.mounts.splice(plat.kernel.mounts.findIndex((m) => m.mountPoint === '/srv/data'), 1);
    expect(await kit.recover(inst, ctx())).toMatchObject({ ok: true, reason: 'mounted again' });
    mm.readOnlyFailures.add('/srv/data');
    expect(await kit.recover(inst, ctx())).toMatchObject({ ok: true, reason: 'remounted' });
    expect(mm.calls.at(-1)).toBe('remount /srv/data rw,noatime');
    expect((await kit.quickCheck(inst, 20)).ok).toBe(true);
  });

  it('extend creates the mount point and drops a stray fstab line', async () => {
    expect((await kit.extend(inst, ctx())).ok).toBe(true);
    expect((await plat.timedStat.stat('/srv/data', 100)).mode & 0o040000).toBeTruthy();
    expect(readFileSync(fstab, 'utf8')).not.toContain('/srv/data');
    expect(existsSync(`${fstab}.vigil-backup`)).toBe(true);
  });
});
