// lunOf: a partition is fenced through its whole disk, found through sysfs (a fake tree here:
// /sys/class/block/<name> links into the device tree, and a partition's node sits inside its disk's).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { lunOf } from '../../../src/fencing/lun-of.js';

describe('lunOf', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'vigil-lunof-'));
    const disk = join(root, 'devices', 'host0', 'block', 'sdb');
    mkdirSync(join(disk, 'sdb1'), { recursive: true });
    writeFileSync(join(disk, 'sdb1', 'partition'), '1\n');
    mkdirSync(join(root, 'class'), { recursive: true });
    symlinkSync(disk, join(root, 'class', 'sdb'));
    symlinkSync(join(disk, 'sdb1'), join(root, 'class', 'sdb1'));
    mkdirSync(join(root, 'dev'));
    for (const n of ['sdb', 'sdb1']) writeFileSync(join(root, 'dev', n), '');
    symlinkSync(join(root, 'dev', 'sdb1'), join(root, 'dev', 'by-label'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('maps a partition (also through a symlink) to its disk, and a disk to itself', async () => {
    expect(await lunOf(join(root, 'dev', 'sdb1'), join(root, 'class'))).toBe('/dev/sdb');
    expect(await lunOf(join(root, 'dev', 'by-label'), join(root, 'class'))).toBe('/dev/sdb');
    expect(await lunOf(join(root, 'dev', 'sdb'), join(root, 'class'))).toBe('/dev/sdb');
  });

  it('fails for a device that does not exist', async () => {
    await expect(lunOf(join(root, 'dev', 'nope'), join(root, 'class'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
