// The replication rows of the error table cover the seeds' numbers and fills its placeholders.
import { describe, expect, it } from 'vitest';

import { REPLICATION_ERRORS } from '../../../src/common/error-rows/replication.js';
import { formatReplicationError, replicationError } from '../../../src/replication/errors.js';

describe('replication errors', () => {
  it('has every number the data replication guide lists', () => {
    const expected = [
      ...Array.from({ length: 34 }, (_, i) => 104001 + i),
      ...Array.from({ length: 15 }, (_, i) => 104040 + i),
      104901, 104902, 104903, 104904, 104905,
    ];
    expect(REPLICATION_ERRORS.map((r) => r.number).sort()).toEqual(expected.sort());
  });
  it('fills placeholders in order and adds the action', () => {
    expect(formatReplicationError(104044, [2048, 1024])).toBe(
      'the existing file system must fit in the new NetRAID device: it is 2048 blocks (KiB) but the NetRAID device would be only 1024 blocks (KiB). Action: shrink the file system, or archive its data, create a new file system and restore the data into it',
    );
    expect(replicationError(104905, ['/sys/block/md0/md/sync_speed_max']).format()).toBe('Error 104905: cannot set the resynchronization speed limit in /sys/block/md0/md/sync_speed_max');
  });
});
