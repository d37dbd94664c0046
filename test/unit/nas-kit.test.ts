// The NAS kit on the memory platform: export format and export-list rules, the LKNFSSYSCALLTO /
// LKNFSTIMEOUT probe loop (abandoned calls counted and reclaimed), LKNASERROR switch and halt,
// the create checks with the seeds' numbers, NFS file systems in gen/filesys (mount point rules,
// bad mount remounted by address, bounded release of a hung mount).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { FilesysKit } from '../../src/kits/filesys/filesys-kit.js';
import type { ActionContext, ResourceInstance } from '../../src/kits/kit.js';
import { errorNumberOf } from '../../src/kits/kit.js';
import { accessFor, parseShowmount } from '../../src/kits/nas/export-list.js';
import { probeExport } from '../../src/kits/nas/export-probe.js';
import { parseExport } from '../../src/kits/nas/export-spec.js';
import { NasKit } from '../../src/kits/nas/nas-kit.js';
import type { NasMetricsEvents } from '../../src/kits/nas/nas-metrics-events.js';
import { NfsFilesys } from '../../src/kits/nas/nfs-filesys.js';
import { optionWarnings } from '../../src/kits/nas/nfs-options.js';
import { createMemoryPlatform, type MemoryPlatform } from '../../src/platform/memory/index.js';
import { formatReplicationError } from '../../src/replication/errors.js';
import { MemoryMounts } from '../../src/platform/memory/mounts.js';
import { MemoryNasTools } from '../../src/platform/memory/nas-tools.js';

const logs: string[] = [];
const ctx = (signal = new AbortController().signal): ActionContext => ({ system: 'node1', signal, log: (level, msg) => logs.push(`${level} ${msg}`) });
const num = (r: { reason: string }) => errorNumberOf(r.reason);

class Recorder implements NasMetricsEvents {
  events: string[] = [];
  probeAttempt(tag: string, outcome: string) {
    this.events.push(`probe ${tag} ${outcome}`);
  }
  exportFailed(tag: string, cause: string) {
    this.events.push(`failed ${tag} ${cause}`);
  }
  exportReachable(tag: string, r: boolean) {
    this.events.push(`reachable ${tag} ${r}`);
  }
  badMountRemounted(tag: string, ok: boolean) {
    this.events.push(`badmount ${tag} ${ok}`);
  }
  releaseStep(step: string, outcome: string) {
    this.events.push(`release ${step} ${outcome}`);
  }
}

describe('NFS export names and export lists (pure rules)', () => {
  it('parses SERVER:/path, refusing bad formats with 107004 and no device with 107006', () => {
    expect(parseExport('10.0.0.5:/export/')).toEqual({ ok: true, value: { server: '10.0.0.5', path: '/export', byAddress: true } });
    expect(parseExport('[fd00::5]:/e')).toMatchObject({ ok: true, value: { server: 'fd00::5', byAddress: true } });
    expect(parseExport('nfshost.example.com:/e')).toMatchObject({ ok: true, value: { byAddress: false } });
    for (const bad of ['/dev/sdb1', '10.0.0.5:export', '999.1.1.1:/e', 'bad host:/e', ':/e', '[10.0.0.5]:/e']) {
      const r = parseExport(bad);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(errorNumberOf(r.reason), bad).toBe(107004);
    }
    const none = parseExport('');
    expect(!none.ok && errorNumberOf(none.reason)).toBe(107006);
  });

  it('matches this system against the export list as exports(5) does', () => {
    const me = { addresses: ['10.0.0.11'], names: ['node1', 'node1.example.com'] };
    const list = parseShowmount('Export list for s:\n/export 10.0.0.0/24\n/a 10.0.0.0/255.255.255.0\n/b *.example.com\n/c node2,node3\n/c/sub *\n/d @admins\n/e (everyone)\n');
    expect(accessFor(list, '/export/x', me).verdict).toBe('allowed');
    expect(accessFor(list, '/a', me).verdict).toBe('allowed');
    expect(accessFor(list, '/b', me).verdict).toBe('allowed');
    expect(accessFor(list, '/c', me)).toMatchObject({ verdict: 'denied' });
    expect(accessFor(list, '/c/sub/deeper', me).verdict).toBe('allowed');
    expect(accessFor(list, '/d', me).verdict).toBe('unknown');
    expect(accessFor(list, '/e', me).verdict).toBe('allowed');
    expect(accessFor(list, '/nowhere', me).verdict).toBe('denied');
  });

  it('warns about options current kernels ignore or that lose data', () => {
    const t = { syscallMs: 5000, overallMs: 120000 };
    expect(optionWarnings(['intr', 'hard'], t).join('\n')).toMatch(/no effect since Linux 2\.6\.25/);
    expect(optionWarnings(['soft', 'timeo=100', 'retrans=2'], t).join('\n')).toMatch(/about 30 s/);
    expect(optionWarnings(['bg'], t).join('\n')).toMatch(/background/);
  });
});

describe('the probe loop (LKNFSSYSCALLTO per call, LKNFSTIMEOUT overall)', () => {
  let plat: MemoryPlatform;
  beforeEach(() => {
    plat = createMemoryPlatform();
    plat.kernel.addDirectory('/mnt/nfs');
    plat.kernel.addMount({ source: '10.0.0.5:/export', mountPoint: '/mnt/nfs', fsType: 'nfs4', options: ['rw'] });
  });

  it('answers at once on a healthy mount (ENOENT of a fresh name counts as an answer)', async () => {
    const v = await probeExport(plat.timedStat, '/mnt/nfs/.probe-x', { syscallMs: 100, overallMs: 1000 }, { healthy: (e) => (e as { code?: string }).code === 'ENOENT' });
    expect(v).toMatchObject({ ok: true, attempts: 1, hung: 0 });
  });

  it('abandons each hung call after syscallMs, keeps trying until overallMs, then fails; threads come back when the server does', async () => {
    plat.kernel.hang('/mnt/nfs');
    const causes: string[] = [];
    const v = await probeExport(plat.timedStat, '/mnt/nfs', { syscallMs: 60, overallMs: 400 }, { key: '/mnt/nfs', events: { attempt: (o) => causes.push(o) } });
    expect(v.ok).toBe(false);
    expect(v.cause).toBe('hung');
    expect(v.hung).toBeGreaterThanOrEqual(5);
    expect(v.elapsedMs).toBeGreaterThanOrEqual(400);
    expect(v.elapsedMs).toBeLessThan(700);
    expect(causes.every((c) => c === 'hung')).toBe(true);
    expect(plat.timedStat.counters().parkedByKey['/mnt/nfs']).toBe(v.hung);
    plat.kernel.release('/mnt/nfs');
    await new Promise((r) => setTimeout(r, 10));
    expect(plat.timedStat.counters()).toMatchObject({ parked: 0, reclaimedTotal: v.hung });
  });

  it('succeeds when the server comes back before overallMs (a short freeze is no failure)', async () => {
    plat.kernel.hang('/mnt/nfs');
    setTimeout(() => plat.kernel.release('/mnt/nfs'), 150);
    const v = await probeExport(plat.timedStat, '/mnt/nfs', { syscallMs: 50, overallMs: 1000 }, { key: '/mnt/nfs' });
    expect(v.ok).toBe(true);
    expect(v.hung).toBeGreaterThanOrEqual(2);
  });

  it('keeps trying while the per-mount bound of stuck threads refuses new calls, and retries quick errors after a pause', async () => {
    plat.timedStat.configure({ maxParkedPerKey: 2 });
    plat.kernel.hang('/mnt/nfs');
    const v = await probeExport(plat.timedStat, '/mnt/nfs', { syscallMs: 30, overallMs: 300, retryPauseMs: 20 }, { key: '/mnt/nfs' });
    expect(v).toMatchObject({ ok: false, cause: 'capacity', hung: 2 });
    plat.kernel.clearFaults();
    plat.kernel.failWith('/mnt/nfs', 'ESTALE');
    const e = await probeExport(plat.timedStat, '/mnt/nfs', { syscallMs: 30, overallMs: 200, retryPauseMs: 50 }, { key: '/mnt/nfs' });
    expect(e).toMatchObject({ ok: false, cause: 'error' });
    expect(e.attempts).toBeGreaterThanOrEqual(3);
    expect(e.attempts).toBeLessThanOrEqual(6);
  });
});

describe('gen/nas and NFS file systems in gen/filesys', () => {
  let plat: MemoryPlatform;
  let mm: MemoryMounts;
  let tools: MemoryNasTools;
  let metrics: Recorder;
  let dir: string;
  let fstab: string;
  const nasInst = (over: Partial<ResourceInstance> = {}): ResourceInstance => ({ tag: 'device-nas-10.0.0.5/export', id: '10.0.0.5:/export', app: 'gen/nas', info: { mountPoint: '/mnt/nfs', fsType: 'nfs' }, ...over });
  const fsInst = (info: Record<string, string> = {}, id = '/mnt/nfs'): ResourceInstance => ({ tag: 'fs', id, app: 'gen/filesys', info: { device: '10.0.0.5:/export', fsType: 'nfs', ...info } });
  const make = (onError: 'switch' | 'halt' = 'switch') => {
    const settings = { syscallMs: 40, overallMs: 300, onError };
    const fsPlat = { mountTable: plat.mounts, mountControl: mm, holders: mm, probe: mm, timedStat: plat.timedStat };
    const nas = new NasKit(fsPlat, { settings, tools, fstabPath: fstab, tmpDir: dir, metrics, retryPauseMs: 20, mountCheckMs: 300 });
    const fs = new FilesysKit(fsPlat, { fstabPath: fstab, nfs: new NfsFilesys(fsPlat, { fstabPath: fstab, settings, tools, metrics, holderGraceMs: 10, callMs: 200 }) });
    return { nas, fs };
  };

  beforeEach(() => {
    logs.length = 0;
    plat = createMemoryPlatform();
    mm = new MemoryMounts(plat.kernel);
    tools = new MemoryNasTools();
    metrics = new Recorder();
    dir = mkdtempSync(join(tmpdir(), 'vigil-nas-'));
    fstab = join(dir, 'fstab');
    writeFileSync(fstab, '/dev/sda1 / ext4 defaults 0 1\n10.0.0.5:/export /mnt/nfs nfs vers=4.2,hard,noac 0 0\n');
    plat.kernel.addDirectory('/mnt/nfs');
    plat.kernel.addMount({ source: '10.0.0.5:/export', mountPoint: '/mnt/nfs', fsType: 'nfs4', options: ['rw', 'vers=4.2', 'hard', 'addr=10.0.0.5', 'clientaddr=10.0.0.11'] });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('create: the file system makes its NAS child; checks pass, fstab options are carried, the fstab line goes', async () => {
    const { nas, fs } = make();
    expect(fs.childrenForCreate(fsInst())).toEqual([nasInst({ info: { mountPoint: '/mnt/nfs', fsType: 'nfs' } })]);
    const n = await nas.create(nasInst(), ctx());
    expect(n).toMatchObject({ ok: true, info: { options: 'vers=4.2,hard,noac' } });
    expect(n.reason).toMatch(/export list: \/export 10\.0\.0\.0\/24.*mount authorization check passed/);
    expect(mm.calls.some((c) => c.startsWith(`mount 10.0.0.5:/export ${dir}/nas_mntpt.`) && c.endsWith(',ro'))).toBe(true);
    const f = await fs.create(fsInst(), ctx());
    expect(f).toMatchObject({ ok: true, info: { options: 'vers=4.2,hard,noac' } });
    expect(f.reason).toMatch(/Removing \/etc\/fstab entry/);
    expect(readFileSync(fstab, 'utf8')).toBe('/dev/sda1 / ext4 defaults 0 1\n');
    expect(readFileSync(`${fstab}.vigil-backup`, 'utf8')).toMatch(/10\.0\.0\.5:\/export/);
  });

  it('create refusals carry the seeds\' numbers and change nothing', async () => {
    const { nas, fs } = make();
    const before = readFileSync(fstab, 'utf8');
    const mountsBefore = plat.kernel.mounts.map((m) => m.mountPoint);
    expect(num(fs.validate(fsInst({ device: '10.0.0.5' })))).toBe(107004);
    expect(num(fs.validate(fsInst({ device: '' })))).toBe(107006);
    expect(num(fs.validate(fsInst({}, 'relative/mp')))).toBe(104902);
    // Listed twice in fstab (keyed by the export, not the mount point).
    writeFileSync(fstab, `${before}10.0.0.5:/export/ /mnt/other nfs defaults 0 0\n`);
    expect(num(await nas.create(nasInst(), ctx()))).toBe(107001);
    writeFileSync(fstab, before);
    // Mounted twice.
    plat.kernel.addMount({ source: '10.0.0.5:/export', mountPoint: '/mnt/again', fsType: 'nfs4', options: ['rw'] });
    expect((await nas.create(nasInst(), ctx())).reason).toMatch(/107001: .*mounted more than once/);
    plat.kernel.mounts.pop();
    // Not exported to this system.
    tools.exports = '/export 192.168.1.0/24\n';
    expect(num(await nas.create(nasInst(), ctx()))).toBe(107012);
    // No export list (NFSv4-only server): the test mount decides; a refusal is 107012, a hang 107013.
    tools.listMissing = true;
    mm.sourceFailures.set('10.0.0.5:/export', 'mount.nfs: access denied by server while mounting 10.0.0.5:/export');
    expect((await nas.create(nasInst(), ctx())).reason).toMatch(/^Error 107012: .*access denied by server/);
    mm.sourceFailures.clear();
    mm.hungSources.add('10.0.0.5:/export');
    const t0 = Date.now();
    expect(num(await nas.create(nasInst(), ctx()))).toBe(107013);
    expect(Date.now() - t0).toBeLessThan(300 + 400);
    mm.hungSources.clear();
    // The temporary mount point cannot be made.
    const nasNoTmp = new NasKit({ mountTable: plat.mounts, mountControl: mm, timedStat: plat.timedStat }, { settings: { syscallMs: 40, overallMs: 300, onError: 'switch' }, tools, fstabPath: fstab, tmpDir: join(dir, 'missing', 'deeper') });
    expect(num(await nasNoTmp.create(nasInst(), ctx()))).toBe(107011);
    expect(readFileSync(fstab, 'utf8')).toBe(before);
    expect(plat.kernel.mounts.map((m) => m.mountPoint)).toEqual(mountsBefore);
  });

  it('a record with no device answers 107007 and an unreadable mount table 107008; neither changes anything', async () => {
    const { nas, fs } = make();
    plat.kernel.mounts.length = 0;
    const callsBefore = mm.calls.length;
    const damaged = fsInst({ device: '' });
    for (const r of [await fs.restore(damaged, ctx()), await fs.recover(damaged, ctx())]) {
      expect(r).toMatchObject({ ok: false, recoveryClass: 'move-elsewhere' });
      expect(num(r)).toBe(107007);
      expect(r.reason).toMatch(/for fs on node1/);
    }
    // Nothing mounted and no device: there is nothing to take out of service.
    expect(await fs.remove(damaged, ctx())).toMatchObject({ ok: true, reason: 'not mounted' });
    plat.kernel.addMount({ source: '10.0.0.5:/export', mountPoint: '/mnt/nfs', fsType: 'nfs4', options: ['rw'] });
    expect(num(await fs.remove(damaged, ctx()))).toBe(107007);
    expect(mm.calls.length).toBe(callsBefore);

    plat.mounts.failWith = 'EMFILE';
    const before = readFileSync(fstab, 'utf8');
    for (const r of [await nas.create(nasInst(), ctx()), await fs.create(fsInst(), ctx()), await fs.restore(fsInst(), ctx()), await fs.quickCheck(fsInst(), 0)]) {
      expect(num(r)).toBe(107008);
      expect(r.reason).toMatch(/cannot read the mount table \/proc\/self\/mounts.*EMFILE/);
    }
    expect(readFileSync(fstab, 'utf8')).toBe(before);
    expect(mm.calls.length).toBe(callsBefore);
    // The export's own monitor still probes the export: the table is not its question.
    expect((await nas.quickCheck(nasInst(), 10, ctx())).ok).toBe(true);
    expect(logs.some((l) => /^warn .*Error 107008: .*probing the export anyway/.test(l))).toBe(true);
    plat.kernel.hang('/mnt/nfs');
    expect((await nas.quickCheck(nasInst(), 10, ctx())).reason).toMatch(/did not answer/);
    plat.kernel.release('/mnt/nfs');
    plat.mounts.failWith = undefined;
  });

  it('mount point rules on a system where the export is not mounted: 104901 mounted, 104903 not empty', async () => {
    const { fs } = make();
    plat.kernel.mounts.length = 0;
    plat.kernel.addMount({ source: '/dev/sdc', mountPoint: '/mnt/nfs', fsType: 'ext4', options: ['rw'] });
    // One text per number: the replicated file systems report 104901-104903 from the same table.
    expect((await fs.canExtend(fsInst())).reason).toBe(`Error 104901: ${formatReplicationError(104901, ['/mnt/nfs'])}`);
    plat.kernel.mounts.length = 0;
    plat.kernel.addFile('/mnt/nfs/leftover', 10);
    expect((await fs.canExtend(fsInst())).reason).toBe(`Error 104903: ${formatReplicationError(104903, ['/mnt/nfs'])}`);
    expect(num(await fs.create(fsInst(), ctx()))).toBe(104903);
    plat.kernel.remove('/mnt/nfs/leftover');
    expect((await fs.canExtend(fsInst())).ok).toBe(true);
    expect((await fs.canExtend(fsInst({}, '/mnt/new'))).ok).toBe(true);
  });

  it('quickCheck: a frozen server fails after LKNFSTIMEOUT and moves the hierarchy (switch), counting abandoned calls', async () => {
    const { nas } = make('switch');
    expect((await nas.quickCheck(nasInst(), 10, ctx())).ok).toBe(true);
    plat.kernel.hang('/mnt/nfs');
    const r = await nas.quickCheck(nasInst(), 10, ctx());
    expect(r).toMatchObject({ ok: false, recoveryClass: 'move-elsewhere' });
    expect(r.haltNode).toBeUndefined();
    expect(r.reason).toMatch(/did not answer .*LKNASERROR=switch/);
    expect(metrics.events).toContain('failed device-nas-10.0.0.5/export hung');
    expect(metrics.events.filter((e) => e.endsWith(' hung') && e.startsWith('probe')).length).toBeGreaterThanOrEqual(5);
    expect((await nas.recover(nasInst())).recoveryClass).toBe('move-elsewhere');
    expect(nas.supportsRecover).toBe(false);
    plat.kernel.release('/mnt/nfs');
  });

  it('quickCheck with LKNASERROR=halt asks for the node to be halted', async () => {
    const { nas } = make('halt');
    plat.kernel.failWith('/mnt/nfs', 'EIO');
    const r = await nas.quickCheck(nasInst(), 10, ctx());
    expect(r).toMatchObject({ ok: false, recoveryClass: 'move-elsewhere', haltNode: true });
    expect(r.reason).toMatch(/LKNASERROR=halt/);
  });

  it('a mount by host name is a bad mount: warned at create, remounted by address by local recovery', async () => {
    const { fs } = make();
    plat.kernel.mounts.length = 0;
    plat.kernel.addMount({ source: 'nfshost:/export', mountPoint: '/mnt/nfs', fsType: 'nfs4', options: ['rw', 'vers=4.2'] });
    mm.holding.set('/mnt/nfs', [{ pid: 4242, how: 'cwd', command: 'app' }]);
    const inst = fsInst({ device: 'nfshost:/export', options: 'vers=4.2' });
    expect((await fs.create(inst, ctx())).reason).toMatch(/bad mount/);
    const q = await fs.quickCheck(inst, 0);
    expect(q).toMatchObject({ ok: false, recoveryClass: 'retry-here' });
    expect(q.reason).toMatch(/bad mount/);
    const r = await fs.recover(inst, ctx());
    expect(r).toMatchObject({ ok: true });
    expect(mm.signals).toContainEqual({ pid: 4242, signal: 'SIGTERM' });
    expect(mm.calls.slice(-2)).toEqual(['umount /mnt/nfs', 'mount 10.0.0.5:/export /mnt/nfs vers=4.2']);
    expect((await fs.quickCheck(inst, 0)).ok).toBe(true);
    expect(metrics.events).toContain('badmount fs true');
    // Restore after a failover mounts by address straight away.
    await fs.remove(inst, ctx());
    expect((await fs.restore(inst, ctx())).reason).toBe('mounted 10.0.0.5:/export');
  });

  it('taking a hung mount out of service is bounded: holders ended, umount and -f time out, -l detaches', async () => {
    const { fs } = make();
    mm.hungUnmounts.add('/mnt/nfs');
    mm.holding.set('/mnt/nfs', [{ pid: 77, how: 'fd 3', command: 'writer', ignoresTerm: true }]);
    const t0 = Date.now();
    const r = await fs.remove(fsInst(), ctx());
    const ms = Date.now() - t0;
    expect(r).toMatchObject({ ok: true, reason: 'released (lazy)' });
    expect(mm.signals).toEqual([{ pid: 77, signal: 'SIGTERM' }, { pid: 77, signal: 'SIGKILL' }]);
    expect(mm.calls.slice(-3)).toEqual(['umount /mnt/nfs', 'umount -f /mnt/nfs', 'umount -l /mnt/nfs']);
    expect(ms).toBeLessThan(3 * 200 + 2 * 1000 + 500);
    expect(metrics.events).toEqual(expect.arrayContaining(['release holders ok', 'release umount timeout', 'release force timeout', 'release lazy ok']));
    expect(logs.filter((l) => l.includes('release of /mnt/nfs')).length).toBe(4);
    expect(plat.kernel.mounts.some((m) => m.mountPoint === '/mnt/nfs')).toBe(false);
  });

  it('extend on the target re-runs the access checks; an NFS file system without the NAS kit is refused', async () => {
    const { nas } = make();
    tools.exports = '/export node2\n';
    expect(num(await nas.canExtend(nasInst(), ctx()))).toBe(107012);
    const plain = new FilesysKit({ mountTable: plat.mounts, mountControl: mm, holders: mm, probe: mm, timedStat: plat.timedStat });
    expect(plain.validate(fsInst()).reason).toMatch(/need the NAS kit/);
    expect(nas.tagConflictError).toBe(107010);
  });
});
