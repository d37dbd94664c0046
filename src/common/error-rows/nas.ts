// The NAS kit's rows of the error table (107001-107013; numbers from the LifeKeeper NAS kit's
// administration guide, messages in our own words). 107009 is a core row (a configuration
// warning) and the mount point checks 104901-104903 are data replication's rows: the seeds list
// them under both products, and each number has one row. src/kits/nas/nas-errors.ts renders them.
import type { ErrorRow } from './row.js';

export const NAS_ERRORS = {
  /** Creating the NAS resource failed (generic wrapper for create-time refusals). */
  CREATE_FAILED: { number: 107001, message: 'could not create the NAS resource <tag> on <server>: <reason>' },
  /** The NFS server's host name gave no address. */
  NO_ADDRESSES: { number: 107002, message: 'could not get the addresses of NFS server <NFS server> on <server>: <reason>' },
  /** None of the server's addresses answered. */
  NO_ACTIVE_ADDRESS: { number: 107003, message: 'no address of NFS server <NFS server> answers from <server>' },
  DEVICE_FORMAT: {
    number: 107004,
    message: 'the device "<device>" is not an NFS export; write it as SERVER:/path (an IPv4 address, [IPv6] address or host name, then an absolute path)',
  },
  CANNOT_RESTORE: {
    number: 107005,
    message: 'cannot bring NAS resource <tag> in service on <server>: <reason>. Correct the problem, then bring the resource in service by hand',
  },
  DEVICE_MISSING: { number: 107006, message: 'create: no device (NFS export) was given' },
  /** An NFS file system's record names no device (the seeds' getld answered a null device). */
  NULL_DEVICE: {
    number: 107007,
    message:
      'the configuration database gives no device (NFS export) for <tag>{ on <server>}; its record is damaged: delete the resource and create it again, or extend the hierarchy again from a system where it is intact',
  },
  /** The mount table could not be read (the seeds' /etc/mtab; here /proc/self/mounts). */
  MOUNT_TABLE_UNREADABLE: { number: 107008, message: 'cannot read the mount table <mount table>{ on <server>}: <reason>' },
  TAG_CONFLICT: { number: 107010, message: 'tag <tag> is already used on the target <server>; delete the conflicting resource and extend again' },
  MKDIR_FAILED: { number: 107011, message: 'could not create the directory "<directory>" on <server>: <reason>' },
  EXPORT_NOT_ACCESSIBLE: {
    number: 107012,
    message:
      "the exported file system <export> cannot be accessed from <server>: <reason>. Check that this system is in the server's export list (showmount lists only the most specific entry when an export names both everyone and single systems), fix the export, then create or extend again",
  },
  MOUNT_CHECK_HUNG: {
    number: 107013,
    message: 'the mount authorization check of "<export>" on <server> did not finish within <ms> ms and looks hung; giving up. Fix the access problem, then create or extend again',
  },
} as const satisfies Record<string, ErrorRow>;
