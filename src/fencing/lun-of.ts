// The LUN a block device lives on: a partition (/dev/sdb1) is fenced through its whole disk
// (/dev/sdb), because reservations belong to the logical unit, not to a partition. Read from
// sysfs: /sys/class/block/<name>/partition exists for partitions, and the parent directory of
// the partition's sysfs node is the disk.
import { access, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function lunOf(device: string, sysClassBlock = '/sys/class/block'): Promise<string> {
  const name = basename(await realpath(device));
  const node = join(sysClassBlock, name);
  try {
    await access(join(node, 'partition'));
  } catch {
    return `/dev/${name}`;
  }
  return `/dev/${basename(dirname(await realpath(node)))}`;
}
