// How large /dev/mdN will be over a given partition: the NetRAID array is a RAID1 with md
// metadata 1.0 and an internal write-intent bitmap (linux/md-control.ts creates it so; the memory twin sizes its arrays with this too), which
// keeps the data at offset 0 and puts the superblock, a bad-block log and the bitmap at the end
// of the member. Replicating an existing file system in place is safe only when the file system
// ends before that area, so the size is computed before mdadm writes anything.
//
// The arithmetic is mdadm's (super1.c validate_geometry1 and choose_bm_space; Create.c), in
// 512-byte sectors:
//   room  = size rounded down to 4 KiB, less 8 KiB (superblock), 4 KiB (bad-block log) and the
//           bitmap space (none under 64 KiB, 4 KiB up to 8 GiB, 64 KiB up to 200 GiB, 128 KiB above)
//   array = room rounded down to 64 KiB (mdadm rounds a RAID1's size so it could be reshaped)
// The seeds' "up to 4 KiB smaller" was the old raidtools' figure; with mdadm it is up to about
// 80 KiB below 8 GiB and up to about 200 KiB above. The VM test compares this with the size the
// kernel reports for a real array.

const SECTOR = 512;

/** The bitmap space mdadm reserves for a member of `sectors` sectors. */
function bitmapSectors(sectors: number): number {
  if (sectors < 64 * 2) return 0;
  if (sectors - 64 * 2 >= 200 * 1024 * 1024 * 2) return 128 * 2;
  if (sectors - 4 * 2 > 8 * 1024 * 1024 * 2) return 64 * 2;
  return 4 * 2;
}

/** Bytes of data a NetRAID device over a partition of `partitionBytes` holds (0 when too small). */
export function mdDataSizeBytes(partitionBytes: number): number {
  const sectors = Math.floor(partitionBytes / SECTOR);
  const room = (sectors - (sectors % 8)) - (8 * 2 + 8 + bitmapSectors(sectors));
  if (room <= 0) return 0;
  const kib = Math.floor(room / 2);
  return (kib - (kib % 64)) * 1024;
}
