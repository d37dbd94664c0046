// The NAS kit's product errors (numbers from the LifeKeeper NAS kit's administration guide),
// with messages in our own words. Kit actions answer with a reason string; each NAS reason
// starts with "Error NNNNNN:" so the operator can look the number up, and the create and extend
// tasks report that number (see errorNumberOf in ../kit.ts).

import { formatReplicationError } from '../../replication/errors.js';

export const NAS_ERR = {
  /** Creating the NAS resource failed (generic wrapper for create-time refusals). */
  CREATE_FAILED: 107001,
  /** The NFS server's host name gave no address. */
  NO_ADDRESSES: 107002,
  /** None of the server's addresses answered. */
  NO_ACTIVE_ADDRESS: 107003,
  DEVICE_FORMAT: 107004,
  CANNOT_RESTORE: 107005,
  DEVICE_MISSING: 107006,
  /** An NFS file system's record names no device (the seeds' getld answered a null device). */
  NULL_DEVICE: 107007,
  /** The mount table could not be read (the seeds' /etc/mtab; here /proc/self/mounts). */
  MOUNT_TABLE_UNREADABLE: 107008,
  ILLOGICAL_DEFAULTS: 107009,
  TAG_CONFLICT: 107010,
  MKDIR_FAILED: 107011,
  EXPORT_NOT_ACCESSIBLE: 107012,
  MOUNT_CHECK_HUNG: 107013,
  MOUNT_POINT_MOUNTED: 104901,
  MOUNT_POINT_NOT_ABSOLUTE: 104902,
  MOUNT_POINT_NOT_EMPTY: 104903,
} as const;

/** " on node1", or nothing when the caller does not know its system's name (a monitor check). */
function onSystem(system: string): string {
  return system ? ` on ${system}` : '';
}

/** "Error 107012: ..." — the form every NAS failure reason takes. */
export function nasError(number: number, message: string): string {
  return `Error ${String(number).padStart(6, '0')}: ${message}`;
}

export const nasMessages = {
  createFailed: (tag: string, system: string, why: string) =>
    nasError(NAS_ERR.CREATE_FAILED, `could not create the NAS resource ${tag} on ${system}: ${why}`),
  noAddresses: (server: string, system: string, why: string) =>
    nasError(NAS_ERR.NO_ADDRESSES, `could not get the addresses of NFS server ${server} on ${system}: ${why}`),
  noActiveAddress: (server: string, system: string) =>
    nasError(NAS_ERR.NO_ACTIVE_ADDRESS, `no address of NFS server ${server} answers from ${system}`),
  deviceFormat: (device: string) =>
    nasError(NAS_ERR.DEVICE_FORMAT, `the device "${device}" is not an NFS export; write it as SERVER:/path (an IPv4 address, [IPv6] address or host name, then an absolute path)`),
  cannotRestore: (tag: string, system: string, why: string) =>
    nasError(NAS_ERR.CANNOT_RESTORE, `cannot bring NAS resource ${tag} in service on ${system}: ${why}. Correct the problem, then bring the resource in service by hand`),
  deviceMissing: () => nasError(NAS_ERR.DEVICE_MISSING, 'create: no device (NFS export) was given'),
  nullDevice: (tag: string, system: string) =>
    nasError(NAS_ERR.NULL_DEVICE, `the configuration database gives no device (NFS export) for ${tag}${onSystem(system)}; its record is damaged: delete the resource and create it again, or extend the hierarchy again from a system where it is intact`),
  mountTableUnreadable: (path: string, system: string, why: string) =>
    nasError(NAS_ERR.MOUNT_TABLE_UNREADABLE, `cannot read the mount table ${path}${onSystem(system)}: ${why}`),
  tagConflict: (tag: string, system: string) =>
    nasError(NAS_ERR.TAG_CONFLICT, `tag ${tag} is already used on the target ${system}; delete the conflicting resource and extend again`),
  mkdirFailed: (dir: string, system: string, why: string) =>
    nasError(NAS_ERR.MKDIR_FAILED, `could not create the directory "${dir}" on ${system}: ${why}`),
  exportNotAccessible: (exp: string, system: string, why: string) =>
    nasError(
      NAS_ERR.EXPORT_NOT_ACCESSIBLE,
      `the exported file system ${exp} cannot be accessed from ${system}: ${why}. ` +
        'Check that this system is in the server\'s export list (showmount lists only the most specific entry when an export names both everyone and single systems), fix the export, then create or extend again',
    ),
  mountCheckHung: (exp: string, system: string, ms: number) =>
    nasError(NAS_ERR.MOUNT_CHECK_HUNG, `the mount authorization check of "${exp}" on ${system} did not finish within ${ms} ms and looks hung; giving up. Fix the access problem, then create or extend again`),
  // 104901-104903 are the mount point checks the replicated file systems make too: one text per
  // number, the replication table's (the seeds list them under both products).
  mountPointMounted: (mp: string) => nasError(NAS_ERR.MOUNT_POINT_MOUNTED, formatReplicationError(NAS_ERR.MOUNT_POINT_MOUNTED, [mp])),
  mountPointNotAbsolute: (mp: string) => nasError(NAS_ERR.MOUNT_POINT_NOT_ABSOLUTE, formatReplicationError(NAS_ERR.MOUNT_POINT_NOT_ABSOLUTE, [mp])),
  mountPointNotEmpty: (mp: string) => nasError(NAS_ERR.MOUNT_POINT_NOT_EMPTY, formatReplicationError(NAS_ERR.MOUNT_POINT_NOT_EMPTY, [mp])),
};
