// The NAS kit's timing rules and its take-out-of-service on a real hung mount: the FUSE hang
// fixture (getattr held in the daemon, so lookups block in the kernel) stands in for a frozen NFS
// server; the Linux platform (native probe threads, mount(8)/umount(8), /proc holders) does the
// work. Also the mount point and fstab rules of NFS file systems on real directories and files.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FilesysKit } from '../../src/kits/filesys/filesys-kit.js';
import { errorNumberOf, type ActionContext, type ResourceInstance } from '../../src/kits/kit.js';
import { NasKit } from '../../src/kits/nas/nas-kit.js';
import type { NasTools } from '../../src/platform/nas-tools.js';
import { NfsFilesys } from '../../src/kits/nas/nfs-filesys.js';
import { releaseNfsMount } from '../../src/kits/nas/nfs-release.js';
import { createLinuxPlatform } from '../../src/platform/linux/index.js';
import { LinuxFsProbe } from '../../src/platform/linux/fs-probe.js';
import { LinuxMountControl } from '../../src/platform/linux/mount-control.js';
import { LinuxMountHolders } from '../../src/platform/linux/mount-holders.js';
import { FuseHang, fuseUnavailableReason } from '../fixtures/fusehang/harness.js';

const skipReason = fuseUnavailableReason();
const plat = createLinuxPlatform();
const fsPlat = () => ({ mountTable: plat.mounts, timedStat: plat.timedStat, mountControl: new LinuxMountControl(), holders: new LinuxMountHolders(), probe: new LinuxFsProbe() });
const logs: string[] = [];
const ctx = (): ActionContext => ({ system: 'node1', signal: new AbortController().signal, log: (level, msg) => logs.push(`${level} ${msg}`) });
const tools: NasTools = {
  exportList: async () => ({ ok: true, text: '/export *\n' }),
  resolve: async () => [],
  identity: () => ({ addresses: ['127.0.0.1'], names: ['localhost'] }),
};

describe.skipIf(skipReason !== undefined)(`NAS monitor on a hung mount (FUSE stands in for a frozen NFS server)${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let fuse: FuseHang;
  const settings = { syscallMs: 200, overallMs: 1500, onError: 'switch' as const };
  const inst = (): ResourceInstance => ({ tag: 'device-nas-x', id: '10.0.0.5:/export', app: 'gen/nas', info: { mountPoint: fuse.mountPoint } });

  beforeAll(async () => {
    fuse = await FuseHang.mount();
  });
  afterAll(() => fuse?.unmount());

  it('healthy: one probe answers (a fresh name\'s ENOENT is the server\'s answer)', async () => {
    const kit = new NasKit(fsPlat(), { settings, tools });
    expect(await kit.quickCheck(inst(), 10, ctx())).toMatchObject({ ok: true, reason: '' });
  });

  it('frozen past LKNFSTIMEOUT: fails within LKNFSTIMEOUT + one call, the event loop stays free, abandoned threads come back', async () => {
    const kit = new NasKit(fsPlat(), { settings, tools });
    const before = plat.timedStat.counters();
    fuse.hang();
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const t0 = performance.now();
    const r = await kit.quickCheck(inst(), 10, ctx());
    const ms = performance.now() - t0;
    delay.disable();
    const p99 = delay.percentile(99) / 1e6;
    const parked = plat.timedStat.counters().parkedByKey[fuse.mountPoint] ?? 0;
    console.log(`nas-hang: decision after ${Math.round(ms)} ms (LKNFSTIMEOUT ${settings.overallMs} ms, LKNFSSYSCALLTO ${settings.syscallMs} ms), ${parked} abandoned calls parked, event-loop p99 ${p99.toFixed(1)} ms`);
    expect(r).toMatchObject({ ok: false, recoveryClass: 'move-elsewhere' });
    expect(ms).toBeGreaterThanOrEqual(settings.overallMs - 5);
    expect(ms).toBeLessThan(settings.overallMs + settings.syscallMs + 300);
    expect(parked).toBeGreaterThanOrEqual(5);
    expect(p99).toBeLessThan(50);
    fuse.release();
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (plat.timedStat.counters().parkedByKey[fuse.mountPoint] ?? 0) > 0) await new Promise((res) => setTimeout(res, 20));
    const after = plat.timedStat.counters();
    expect(after.parkedByKey[fuse.mountPoint] ?? 0).toBe(0);
    expect(after.reclaimedTotal - before.reclaimedTotal).toBe(parked);
  });

  it('frozen shorter than LKNFSTIMEOUT: no failure, the abandoned calls are reclaimed', async () => {
    const kit = new NasKit(fsPlat(), { settings, tools });
    fuse.hang();
    setTimeout(() => fuse.release(), 700);
    const r = await kit.quickCheck(inst(), 10, ctx());
    expect(r.ok).toBe(true);
    expect(r.reason).toMatch(/answered after \d+ attempts \(\d+ abandoned\)/);
    await new Promise((res) => setTimeout(res, 200));
    expect(plat.timedStat.counters().parkedByKey[fuse.mountPoint] ?? 0).toBe(0);
  });

  it('release of the hung mount is bounded and logged: holder ended, unmount steps until it is free', async () => {
    const holder: ChildProcess = spawn('sleep', ['600'], { cwd: fuse.mountPoint, stdio: 'ignore' });
    await new Promise((res) => setTimeout(res, 200));
    fuse.hang();
    const steps: string[] = [];
    const t0 = performance.now();
    const out = await releaseNfsMount(fuse.mountPoint, fsPlat(), { holdersMs: 3000, graceMs: 300, umountMs: 1000 }, (_l, msg) => steps.push(msg));
    const ms = performance.now() - t0;
    console.log(`nas-hang: release in ${Math.round(ms)} ms: ${out.steps.join(' | ')}`);
    expect(holder.exitCode !== null || holder.signalCode !== null).toBe(true);
    expect(out.free).toBe(true);
    expect(out.steps[0]).toMatch(/^holders: ended \d+/);
    expect(steps.filter((s) => s.startsWith('release of ')).length).toBe(out.steps.length);
    expect(ms).toBeLessThan(3000 + 3 * 2000);
    expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(` ${fuse.mountPoint} `);
    fuse.release();
  });
});

describe('NFS file-system rules on real directories and an fstab copy (no NFS needed)', () => {
  let dir: string;
  let fstab: string;
  let kit: FilesysKit;
  const fs = (mp: string, device = '10.0.0.5:/export'): ResourceInstance => ({ tag: 'fs', id: mp, app: 'gen/filesys', info: { device, fsType: 'nfs' } });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-nas-rules-'));
    fstab = join(dir, 'fstab');
    const settings = { syscallMs: 1000, overallMs: 10_000, onError: 'switch' as const };
    kit = new FilesysKit(fsPlat(), { fstabPath: fstab, nfs: new NfsFilesys(fsPlat(), { fstabPath: fstab, settings, tools, metrics: { probeAttempt() {}, exportFailed() {}, exportReachable() {}, badMountRemounted() {}, releaseStep() {} } }) });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('104902 relative, 104901 mounted, 104903 not empty; an absent or empty directory is fine', async () => {
    expect(errorNumberOf(kit.validate(fs('data')).reason)).toBe(104902);
    expect(errorNumberOf((await kit.canExtend(fs('/proc'))).reason)).toBe(104901);
    const full = join(dir, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'x'), 'x');
    expect(errorNumberOf((await kit.canExtend(fs(full))).reason)).toBe(104903);
    const file = join(dir, 'afile');
    writeFileSync(file, '');
    expect(errorNumberOf((await kit.canExtend(fs(file))).reason)).toBe(104903);
    mkdirSync(join(dir, 'empty'));
    expect((await kit.canExtend(fs(join(dir, 'empty')))).ok).toBe(true);
    expect((await kit.canExtend(fs(join(dir, 'absent')))).ok).toBe(true);
  });

  it('fstab is keyed by the export: two lines for it refuse the extend; extend drops the line and keeps a backup', async () => {
    const mp = join(dir, 'mp');
    const base = '/dev/sda1 / ext4 defaults 0 1\n';
    writeFileSync(fstab, `${base}10.0.0.5:/export ${mp} nfs hard 0 0\n10.0.0.5:/export/ /elsewhere nfs hard 0 0\n`);
    expect((await kit.canExtend(fs(mp))).reason).toMatch(/^Error 107001: .*lists 10\.0\.0\.5:\/export 2 times/);
    writeFileSync(fstab, `${base}10.0.0.5:/export /elsewhere nfs hard 0 0\n`);
    expect((await kit.extend(fs(mp), ctx())).reason).toMatch(/Removing \/etc\/fstab entry: 10\.0\.0\.5:\/export \/elsewhere/);
    expect(readFileSync(fstab, 'utf8')).toBe(base);
    expect(readFileSync(`${fstab}.vigil-backup`, 'utf8')).toContain('/elsewhere');
  });
});
