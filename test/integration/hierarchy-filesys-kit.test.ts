// gen/filesys against the real kernel: an ext4 file system on a loop device, mount/unmount with
// options, check depths, holders found via /proc and ended, remount recovery, fstab handling.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FilesysKit } from '../../src/kits/filesys/filesys-kit.js';
import type { ActionContext, ResourceInstance } from '../../src/kits/kit.js';
import { createLinuxPlatform } from '../../src/platform/linux/index.js';
import { LinuxFsProbe } from '../../src/platform/linux/fs-probe.js';
import { LinuxMountControl } from '../../src/platform/linux/mount-control.js';
import { LinuxMountHolders } from '../../src/platform/linux/mount-holders.js';
import { isMounted, loopSkipReason, makeLoopExt4, type LoopFs } from './hierarchy/loop-device.js';

const ctx = (): ActionContext => ({ system: 'local', signal: new AbortController().signal, log: () => undefined });

describe.skipIf(loopSkipReason !== '')(`gen/filesys on a loop device${loopSkipReason ? ` (skipped: ${loopSkipReason})` : ''}`, () => {
  let fs: LoopFs;
  let kit: FilesysKit;
  let inst: ResourceInstance;
  let fstab: string;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    fs = makeLoopExt4();
    fstab = join(fs.dir, 'fstab');
    writeFileSync(fstab, `proc /proc proc defaults 0 0\n${fs.device} ${fs.mountPoint} ext4 noatime 0 2\n`);
    const plat = createLinuxPlatform();
    kit = new FilesysKit(
      { mountTable: plat.mounts, timedStat: plat.timedStat, mountControl: new LinuxMountControl(), holders: new LinuxMountHolders(), probe: new LinuxFsProbe() },
      { fstabPath: fstab, holderGraceMs: 2_000 },
    );
    inst = { tag: 'fs-data', id: fs.mountPoint, app: 'gen/filesys', info: { device: fs.device, fsType: 'ext4', options: 'noatime' } };
  });
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    fs?.cleanup();
  });

  it('restore mounts with the options; restore again is a no-op', async () => {
    expect(await kit.canExtend(inst)).toMatchObject({ ok: true });
    expect(await kit.restore(inst, ctx())).toMatchObject({ ok: true });
    expect(isMounted(fs.mountPoint)).toBe(true);
    const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === fs.mountPoint)!;
    expect(line.split(' ')[5]).toContain('noatime');
    expect(await kit.restore(inst, ctx())).toMatchObject({ ok: true, reason: 'already mounted' });
  });

  it('create drops the fstab line and keeps a backup', async () => {
    const r = await kit.create(inst, ctx());
    expect(r.ok).toBe(true);
    expect(readFileSync(fstab, 'utf8')).toBe('proc /proc proc defaults 0 0\n');
    expect(readFileSync(`${fstab}.vigil-backup`, 'utf8')).toContain(fs.mountPoint);
  });

  it('checks at depth 0, 10 and 20 succeed and leave no probe file', async () => {
    for (const d of [0, 10, 20] as const) expect(await kit.quickCheck(inst, d)).toMatchObject({ ok: true });
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain(fs.mountPoint);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(fs.mountPoint).filter((n) => n.startsWith('.vigil-probe'))).toEqual([]);
  });

  it('a read-only mount is not write-probed; recover remounts with the configured options', async () => {
    const { execFileSync } = await import('node:child_process');
    execFileSync('mount', ['-o', 'remount,ro', fs.mountPoint]);
    expect(await kit.quickCheck(inst, 20)).toMatchObject({ ok: true });
    expect(await kit.recover(inst, ctx())).toMatchObject({ ok: true, reason: 'remounted' });
    const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === fs.mountPoint)!;
    expect(line.split(' ')[5]!.split(',')).toEqual(expect.arrayContaining(['rw', 'noatime']));
    expect(await kit.quickCheck(inst, 20)).toMatchObject({ ok: true });
  });

  it('remove finds holders through /proc, ends them and unmounts; remove again is a no-op', async () => {
    writeFileSync(join(fs.mountPoint, 'data.txt'), 'kept');
    // One process with its cwd inside, one with a file open inside that ignores TERM.
    const a = spawn('sleep', ['300'], { cwd: fs.mountPoint, stdio: 'ignore' });
    const b = spawn('sh', ['-c', `trap '' TERM; exec 3<${join(fs.mountPoint, 'data.txt')}; while :; do sleep 1; done`], { stdio: 'ignore' });
    children.push(a, b);
    await new Promise((r) => setTimeout(r, 300));
    const holders = await new LinuxMountHolders().find(fs.mountPoint);
    expect(holders.map((h) => h.pid).sort()).toEqual(expect.arrayContaining([a.pid, b.pid]));
    const exits = [a, b].map((c) => new Promise((r) => c.once('exit', (code, sig) => r(sig))));
    expect(await kit.remove(inst, ctx())).toMatchObject({ ok: true });
    expect(await Promise.all(exits)).toEqual(['SIGTERM', 'SIGKILL']);
    expect(isMounted(fs.mountPoint)).toBe(false);
    expect(await kit.remove(inst, ctx())).toMatchObject({ ok: true, reason: 'not mounted' });
    expect(await kit.quickCheck(inst, 0)).toMatchObject({ ok: false, reason: `${fs.mountPoint} is not mounted` });
  });

  it('recover mounts it again with the data intact', async () => {
    expect(await kit.recover(inst, ctx())).toMatchObject({ ok: true, reason: 'mounted again' });
    expect(readFileSync(join(fs.mountPoint, 'data.txt'), 'utf8')).toBe('kept');
    expect(await kit.remove(inst, ctx())).toMatchObject({ ok: true });
    expect(existsSync(join(fs.mountPoint, 'data.txt'))).toBe(false);
  });

  it('a wrong device fails restore as move-elsewhere with mount\'s message', async () => {
    const r = await kit.restore({ ...inst, info: { ...inst.info, device: '/dev/loop-does-not-exist' } }, ctx());
    expect(r).toMatchObject({ ok: false, recoveryClass: 'move-elsewhere' });
    expect(r.reason).toMatch(/mount/);
  });
});
