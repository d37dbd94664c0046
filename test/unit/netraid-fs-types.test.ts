// scsi/netraid's two file-system types through the create task, on the memory platform: the
// NetRAID kit and the gen/filesys kit registered in one hierarchy service, md and mounts in the
// memory kernel, mkfs and dumpe2fs as memory programs. Checks what each type makes (the array,
// the file system, the mount on /dev/mdN, both resources and their dependency), that bad input
// and a refused confirmation change nothing, and that a failure after the array was made undoes
// every step (the array gone with its superblock, an existing file system mounted on its
// partition again, no LCD rows).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { VigilError } from '../../src/common/errors.js';
import { FilesysKit } from '../../src/kits/filesys/filesys-kit.js';
import { fileSystemSize, makeFileSystem } from '../../src/kits/netraid/file-systems.js';
import { KitRegistry } from '../../src/kits/kit.js';
import { NetraidKit } from '../../src/kits/netraid/netraid-kit.js';
import { peersOver } from '../../src/kits/netraid/peer-messages.js';
import { Lcd } from '../../src/lcd/lcd.js';
import { HierarchyService } from '../../src/hierarchy/service.js';
import { createHierarchy } from '../../src/hierarchy/tasks.js';
import { mdDataSizeBytes } from '../../src/platform/md-layout.js';
import type { MemoryPlatform } from '../../src/platform/memory/index.js';
import { REPLICATION_DEFAULTS } from '../../src/replication/config.js';
import { ReplicaServer } from '../../src/replication/replica-server.js';
import { ReplicaStates } from '../../src/replication/replica-state.js';
import { MapFiles } from '../helpers/map-state-files.js';
import { memoryDisk } from '../helpers/memory-disk.js';

const MiB = 1 << 20;
const PART = '/dev/sdc';
const PART_BYTES = 32 * MiB;


let dir: string;
let svc: HierarchyService;
let p: MemoryPlatform;
let netraid: NetraidKit;
let states: ReplicaStates;
/** The size dumpe2fs reports for the file system on the partition (and later on /dev/md1). */
let fsBytes: number;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-nrfs-'));
  const disk = memoryDisk(join(dir, 'A'));
  p = disk.memory;
  p.kernel.addBlockDevice(PART, { sizeBytes: PART_BYTES, logicalSectorSize: 512, readOnly: false });
  p.replication.addBlockDevice(PART, PART_BYTES);
  // The node udev makes for the array (the memory kernel's md has no device nodes of its own).
  p.kernel.addBlockDevice('/dev/md1', { sizeBytes: mdDataSizeBytes(PART_BYTES), logicalSectorSize: 512, readOnly: false });
  p.kernel.addDirectory('/data');
  fsBytes = 16 * MiB;
  p.programs.define('mkfs.ext4', { code: 0 });
  p.programs.define('dumpe2fs', () => ({ code: 0, stdout: `Filesystem volume name:   <none>\nBlock count:              ${fsBytes / 4096}\nBlock size:               4096\n` }));
  const lcd = Lcd.open({ files: disk.files, dir: join(dir, 'A'), localSystem: 'A' });
  await lcd.createSystem({ name: 'B' });
  states = new ReplicaStates('/var/lib/vigil', new MapFiles());
  const replica = new ReplicaServer({
    localSystem: 'A',
    states,
    newServer: () => ({ listen: async (host: string, port: number) => ({ host, port }), exportMirror: async () => undefined, unexportMirror: async () => undefined, close: async () => undefined }),
    inServiceHere: (t) => netraid.inService(t),
    knows: () => true,
  });
  netraid = new NetraidKit({
    localSystem: 'A',
    platform: p,
    config: { ...REPLICATION_DEFAULTS, bitmapChunkKiB: 1024, callTimeoutMs: 1000 },
    states,
    replica,
    peers: peersOver(async () => {
      throw new Error('no other system in this test');
    }),
    linkTo: () => {
      throw new Error('no backup in this test');
    },
    exportName: (tag, g, primary) => `${tag}:${g}:${primary}`,
    loadModule: async () => undefined,
  });
  const kits = new KitRegistry();
  kits.register(netraid);
  kits.register(new FilesysKit({ mountTable: p.mounts, mountControl: p.mountControl, holders: p.mountHolders, probe: p.fsProbe, timedStat: p.timedStat }, { fstabPath: join(dir, 'fstab'), callTimeoutMs: 1000 }));
  svc = new HierarchyService({ lcd, kits, log: () => undefined, checkIntervalMs: 60_000, haltNode: () => undefined, tickMs: 20 });
  svc.start();
});

afterEach(() => {
  svc.stop();
  netraid.close();
  rmSync(dir, { recursive: true, force: true });
});

const info = (type: string, extra: Record<string, string> = {}) => ({ type, number: '1', 'partition@A': PART, 'partition@B': '/dev/sdd', 'address@A': '10.9.0.1', 'address@B': '10.9.0.2', mountPoint: '/data', fsType: 'ext4', fsTag: 'datafs', ...extra });
const create = (type: string, extra: Record<string, string> = {}) => createHierarchy(svc, { kit: 'scsi/netraid', tag: 'lkdr1', id: '/dev/md1', info: info(type, extra) });
const refusal = async (pr: Promise<unknown>): Promise<VigilError> => {
  try {
    await pr;
  } catch (e) {
    if (e instanceof VigilError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
};
const rows = () => svc.lcd.instances({ system: 'A' }).map((i) => `${i.tag}:${i.app}/${i.type}:${i.state}`).sort();
const mountAt = (mp: string) => p.kernel.mounts.filter((m) => m.mountPoint === mp).at(-1);
const mdadmRuns = () => p.replication.programRuns.map((r) => r.join(' '));
const mountOriginal2 = () => p.kernel.addMount({ source: PART, mountPoint: '/data', fsType: 'ext4', options: ['rw'] });
const mkfsRuns = () => p.programs.calls.filter((c) => c.file.startsWith('mkfs')).map((c) => `${c.file} ${c.args.join(' ')}`);

/** Nothing of the NetRAID device is left: no array, no superblock on the partition, no LCD rows, no replica state. */
async function nothingLeft(): Promise<void> {
  expect(p.replication.hasArray('/dev/md1')).toBe(false);
  expect(p.replication.device(PART).superblock).toBeUndefined();
  expect(rows()).toEqual([]);
  expect(await states.get('lkdr1')).toBeUndefined();
}

describe('scsi/netraid type=new-fs', () => {
  it('without --yes-destroy-data prints the seeds\' warning and changes nothing', async () => {
    const e = await refusal(create('new-fs'));
    expect(e.message).toContain('WARNING: You are about to create a new filesystem');
    expect(e.message).toContain(`ALL DATA ON ${PART} WILL BE LOST.`);
    expect(e.message).toContain('--yes-destroy-data');
    expect(mdadmRuns()).toEqual([]);
    expect(mkfsRuns()).toEqual([]);
    await nothingLeft();
  });

  it('creates the device, formats it, mounts it and protects both: the file system depends on the device', async () => {
    const out = await create('new-fs', { formatConfirmed: 'yes' });
    const text = out.lines.join('\n');
    expect(text).toContain('netraid_create: Creating the RAID1 (/dev/md1) device ...');
    expect(text).toMatch(/WARNING: creating the ext4 file system on "\/dev\/md1": this erases all data on the local partition "\/dev\/sdc"/);
    expect(text).toContain('Dependency "datafs"- "lkdr1" Successfully Created on machine "A"');
    expect(mdadmRuns()[0]).toBe(`mdadm --create /dev/md1 ${PART} missing`);
    expect(mkfsRuns()).toEqual(['mkfs.ext4 -q -F /dev/md1']);
    expect(mountAt('/data')).toMatchObject({ source: '/dev/md1', fsType: 'ext4' });
    expect(rows()).toEqual(['datafs:gen/filesys:ISU', 'lkdr1:scsi/netraid:ISU']);
    expect(svc.lcd.dependencies({ system: 'A' }).map((d) => `${d.parentTag}->${d.childTag}`)).toEqual(['datafs->lkdr1']);
    const fs = svc.lcd.getInstance('datafs')!;
    expect(fs.id).toBe('/data');
    expect(JSON.parse(fs.info)).toMatchObject({ device: '/dev/md1', fsType: 'ext4', deviceMadeBy: 'lkdr1', fence: 'none' });
  });

  it('refuses a mounted partition or mount point before anything is made', async () => {
    p.kernel.addMount({ source: '/dev/sdx', mountPoint: '/data', fsType: 'ext4', options: ['rw'] });
    expect((await refusal(create('new-fs', { formatConfirmed: 'yes' }))).message).toMatch(/Error 104901: mount point \/data is mounted/);
    p.kernel.mounts.length = 0;
    p.kernel.addDirectory('/elsewhere');
    p.kernel.addMount({ source: PART, mountPoint: '/elsewhere', fsType: 'ext4', options: ['rw'] });
    expect((await refusal(create('new-fs', { formatConfirmed: 'yes' }))).message).toMatch(/Error 104009: .*\/dev\/sdc is mounted on \/elsewhere/);
    expect(mdadmRuns()).toEqual([]);
    expect(mkfsRuns()).toEqual([]);
    await nothingLeft();
  });

  it('mkfs failing: the array is stopped and its superblock erased, nothing is protected', async () => {
    p.programs.define('mkfs.ext4', { code: 1, stderr: 'mkfs.ext4: Device size reported to be zero.\n' });
    const e = await refusal(create('new-fs', { formatConfirmed: 'yes' }));
    expect(e.message).toMatch(/Error 104048: cannot create the ext4 file system on "\/dev\/md1" \(mkfs.ext4 -q -F \/dev\/md1 exited with 1: mkfs.ext4: Device size reported to be zero.\)/);
    await nothingLeft();
    expect(mountAt('/data')).toBeUndefined();
  });

  it('the mount failing at the end: every step is undone in reverse', async () => {
    p.memoryMounts.mountFailures.set('/data', 'mount: /data: wrong fs type, bad option, bad superblock on /dev/md1');
    const e = await refusal(create('new-fs', { formatConfirmed: 'yes' }));
    expect(e.number).toBe(23);
    expect(e.message).toMatch(/Error bringing resource datafs in service on server A: .*wrong fs type/);
    const lines = (e.details as { lines: string[] }).lines.join('\n');
    expect(lines).toMatch(/Removing resource instance datafs created above lkdr1/);
    expect(lines).toMatch(/Removed \/dev\/md1 from \/dev\/sdc/);
    await nothingLeft();
    expect(mountAt('/data')).toBeUndefined();
  });
});

describe('scsi/netraid type=existing-fs', () => {
  const mountOriginal = () => p.kernel.addMount({ source: PART, mountPoint: '/data', fsType: 'ext4', options: ['rw', 'noatime'] });

  it('a file system that fits is unmounted, mirrored in place (no mkfs) and mounted from /dev/md1', async () => {
    mountOriginal();
    fsBytes = mdDataSizeBytes(PART_BYTES); // exactly as large as the device will be
    const out = await create('existing-fs');
    const text = out.lines.join('\n');
    expect(text).toMatch(/The ext4 file system on \/dev\/sdc \(32704 KiB\) fits in the NetRAID device \(32704 KiB of the partition's 32768 KiB\)/);
    expect(text).toContain('Unmounted /data from /dev/sdc');
    expect(mdadmRuns()[0]).toBe(`mdadm --create /dev/md1 ${PART} missing`);
    expect(mkfsRuns()).toEqual([]);
    expect(mountAt('/data')).toMatchObject({ source: '/dev/md1', fsType: 'ext4' });
    expect(rows()).toEqual(['datafs:gen/filesys:ISU', 'lkdr1:scsi/netraid:ISU']);
  });

  it('a file system larger than the device would be is refused with both sizes, still mounted, nothing made', async () => {
    mountOriginal();
    fsBytes = mdDataSizeBytes(PART_BYTES) + 4096;
    const e = await refusal(create('existing-fs'));
    expect(e.message).toContain('Error 104044: the existing file system must fit in the new NetRAID device: it is 32708 blocks (KiB) but the NetRAID device would be only 32704 blocks (KiB)');
    expect(mountAt('/data')).toMatchObject({ source: PART });
    expect(mdadmRuns()).toEqual([]);
    await nothingLeft();
  });

  it('bad input changes nothing: not mounted (104042), another device, another type, a busy mount point (104045)', async () => {
    expect((await refusal(create('existing-fs'))).message).toMatch(/Error 104042: the existing mount point "\/data" is not mounted/);
    p.kernel.addMount({ source: '/dev/sdz', mountPoint: '/data', fsType: 'ext4', options: ['rw'] });
    expect((await refusal(create('existing-fs'))).message).toMatch(/\/data is mounted from \/dev\/sdz, not from the partition given, \/dev\/sdc/);
    p.kernel.mounts.length = 0;
    mountOriginal();
    expect((await refusal(create('existing-fs', { fsType: 'xfs' }))).message).toMatch(/\/data holds a ext4 file system, not xfs/);
    p.memoryMounts.holding.set('/data', [{ pid: 4242, how: 'cwd', command: 'postgres' }]);
    expect((await refusal(create('existing-fs'))).message).toMatch(/Error 104045: mount point "\/data" is busy \(held by postgres\[4242\] cwd/);
    expect(mountAt('/data')).toMatchObject({ source: PART });
    expect(p.memoryMounts.calls.filter((c) => c.startsWith('umount'))).toEqual([]);
    expect(mdadmRuns()).toEqual([]);
    await nothingLeft();
  });

  it('a failure after the mirror was made: the array goes, the file system is mounted on its partition again, its fstab line is back', async () => {
    mountOriginal();
    const fstab = '/dev/sda1 / ext4 defaults 0 1\n/dev/sdc /data ext4 noatime 0 2\n';
    writeFileSync(join(dir, 'fstab'), fstab);
    p.memoryMounts.mountFailures.set('/data', 'mount: /data: cannot mount /dev/md1');
    const e = await refusal(create('existing-fs'));
    expect(e.number).toBe(23);
    const lines = (e.details as { lines: string[] }).lines.join('\n');
    expect(lines).toContain('removed fstab entry: /dev/sdc /data ext4 noatime 0 2');
    expect(lines).toContain('Mounted /dev/sdc on /data again');
    expect(lines).toContain('put back fstab entry: /dev/sdc /data ext4 noatime 0 2');
    expect(readFileSync(join(dir, 'fstab'), 'utf8')).toBe(fstab);
    expect(mountAt('/data')).toMatchObject({ source: PART, fsType: 'ext4', options: ['noatime'] });
    await nothingLeft();
  });

  it('success removes the file system\'s fstab line (the agent mounts it from now on)', async () => {
    mountOriginal();
    writeFileSync(join(dir, 'fstab'), '/dev/sda1 / ext4 defaults 0 1\n/dev/sdc /data ext4 noatime 0 2\n');
    await create('existing-fs');
    expect(readFileSync(join(dir, 'fstab'), 'utf8')).toBe('/dev/sda1 / ext4 defaults 0 1\n');
  });
});

describe('scsi/netraid: a failure between the two creates', () => {
  it('the file system resource cannot be created (its fstab cannot be read): the running array goes, the file system is mounted on its partition again', async () => {
    mountOriginal2();
    // A directory where the fstab file should be: gen/filesys's create cannot rewrite it.
    mkdirSync(join(dir, 'fstab'));
    writeFileSync(join(dir, 'fstab', 'x'), '');
    const e = await refusal(create('existing-fs'));
    expect(e.message).toMatch(/Failed resource creation of resource datafs on server A: .*EISDIR/);
    const lines = (e.details as { lines: string[] }).lines.join('\n');
    expect(lines).toContain('Removed /dev/md1 from /dev/sdc');
    expect(lines).toContain('Mounted /dev/sdc on /data again');
    expect(mountAt('/data')).toMatchObject({ source: PART, fsType: 'ext4' });
    await nothingLeft();
  });
});

describe('scsi/netraid settings of the file-system types', () => {
  it('refuses what it cannot do before the task starts', async () => {
    expect((await refusal(create('existing-fs', { mountPoint: '' }))).message).toMatch(/Error 104040: .*mountPoint/);
    expect((await refusal(create('existing-fs', { mountPoint: 'data' }))).message).toMatch(/Error 104902: mount point data is not an absolute path/);
    expect((await refusal(create('new-fs', { fsType: 'vfat', formatConfirmed: 'yes' }))).message).toMatch(/Error 104053: file system type "vfat" is not supported/);
    expect((await refusal(create('mirror'))).message).toMatch(/Error 104051: unknown data replication resource type "mirror"/);
    expect((await refusal(create('new-fs', { fsTag: 'lkdr1', formatConfirmed: 'yes' }))).message).toMatch(/matching tag lkdr1/);
    expect(mdadmRuns()).toEqual([]);
    await nothingLeft();
  });
});

describe('mdDataSizeBytes (mdadm, metadata 1.0, internal bitmap, RAID1)', () => {
  it('keeps 8 KiB superblock + 4 KiB bad-block log + the bitmap space at the end, rounded down to 64 KiB', () => {
    expect(mdDataSizeBytes(32 * MiB) / 1024).toBe(32704);
    expect(mdDataSizeBytes(16 * MiB + 4096) / 1024).toBe(16320);
    // Above 8 GiB mdadm keeps 64 KiB for the bitmap.
    expect(mdDataSizeBytes(8 * 1024 * MiB) / 1024).toBe(8 * 1024 * 1024 - 64);
    expect(mdDataSizeBytes(8 * 1024 * MiB + 64 * 1024) / 1024).toBe(8 * 1024 * 1024 - 64);
    expect(mdDataSizeBytes(8 * 1024 * MiB + 128 * 1024) / 1024).toBe(8 * 1024 * 1024);
    expect(mdDataSizeBytes(32 * 1024)).toBe(0);
  });
});

describe('the pieces: gen/filesys on a device made beneath it, the file-system tools', () => {
  it('gen/filesys does not look for a device made by the resource beneath (the backup has no /dev/mdN before takeover)', async () => {
    const fsKit = new FilesysKit({ mountTable: p.mounts, mountControl: p.mountControl, holders: p.mountHolders, probe: p.fsProbe, timedStat: p.timedStat }, { fstabPath: join(dir, 'fstab'), callTimeoutMs: 1000 });
    const inst = { tag: 'fs', id: '/srv', app: 'gen/filesys', info: { device: '/dev/md9', fsType: 'ext4', fence: 'none' } };
    expect((await fsKit.canExtend(inst)).reason).toMatch(/device \/dev\/md9 is not usable here/);
    expect((await fsKit.canExtend({ ...inst, info: { ...inst.info, deviceMadeBy: 'lkdr9' } })).ok).toBe(true);
  });

  it('sizes come from the file system\'s own superblock; mkfs forces and is time-limited', async () => {
    p.programs.define('xfs_db', (c) => ({ code: 0, stdout: c.args.at(-1) === '/dev/md4' ? 'dblocks = 3072\nblocksize = 4096\n' : '' }));
    expect(await fileSystemSize(p.programs, 'xfs', '/dev/md4', 1000)).toBe(3072 * 4096);
    await expect(fileSystemSize(p.programs, 'xfs', '/dev/md5', 1000)).rejects.toThrow(/no dblocks\/blocksize/);
    fsBytes = 8 * MiB;
    expect(await fileSystemSize(p.programs, 'ext3', PART, 1000)).toBe(8 * MiB);
    p.programs.define('mkfs.xfs', { runsMs: Infinity });
    await expect(makeFileSystem(p.programs, 'xfs', '/dev/md4', 50)).rejects.toThrow(/mkfs.xfs -q -f \/dev\/md4 did not finish within 50 ms/);
  });
});
