// The data-replication error numbers (104001-104054 and the 10490x ones the creation and
// recovery steps report), each with its meaning in our words and, where the operator has
// something to do, the action. One table: every replication message with a number comes from
// here, so `vigil errors`-style listings and docs/replication.md cannot drift from the code.
// Placeholders are {0}, {1}, ... in argument order.
import { VigilError } from '../common/errors.js';

export interface ReplicationErrorEntry {
  text: string;
  action?: string;
}

export const REPLICATION_ERRORS: Readonly<Record<number, ReplicationErrorEntry>> = {
  104001: {
    text: 'the data-corrupt flag "{0}_data_corrupt" is set in "{1}" on system "{2}"',
    action: 'the resource is not brought in service, so that an out-of-date copy cannot overwrite a newer one; remove the flag only when you are sure this system was the last primary',
  },
  104002: { text: 'cannot open file "{0}"' },
  104003: {
    text: 'cannot start resynchronizing NetRAID device "{0}" of resource "{1}"',
    action: 'look at /proc/mdstat and the system log for the reason',
  },
  104004: {
    text: 'cannot stop or remove NetRAID device "{0}" of resource "{1}" on system "{2}"',
    action: 'stop the device by hand (mdadm --stop) once whatever holds it open has let go',
  },
  104005: { text: 'cannot find the NetRAID device number of resource "{0}" on system "{1}"' },
  104006: { text: 'cannot find the NetRAID port number of resource "{0}" on system "{1}"' },
  104007: { text: 'cannot find the local partition of the NetRAID device of resource "{0}" on system "{1}"' },
  104008: { text: 'cannot tell which local IP address network interface "{0}" has', action: 'check the network configuration' },
  104009: { text: 'the local partition is not available' },
  104010: { text: 'cannot create NetRAID device "{0}" on system "{1}"' },
  104011: { text: 'resource "{0}" is already extended to "{1}"' },
  104012: { text: 'cannot extend NetRAID device "{0}" to system "{1}": {2}' },
  104013: {
    text: 'NetRAID device "{0}" of resource "{1}" on system "{2}" is not mirroring (state: {3})',
    action: 'only the system holding the current copy may run the resource now: while a resynchronization runs, wait for it to finish before moving the resource; if this system\'s copy is out of date, bring the resource in service on the system that holds the current copy (normally the last primary), which then copies it in full to this one',
  },
  104014: { text: 'resynchronization of NetRAID device "{0}" of resource "{1}" has started' },
  104015: { text: 'NetRAID device "{0}" of resource "{1}" was removed from system "{2}"' },
  104016: { text: 'NetRAID device "{0}" was created on system "{1}"' },
  104017: { text: 'NetRAID device "{0}" was extended to system "{1}"' },
  104018: { text: 'cannot unextend the NetRAID device of resource "{0}" from system "{1}"' },
  104019: { text: 'the NetRAID device of resource "{0}" was unextended from system "{1}"' },
  104020: { text: 'cannot write the array configuration of NetRAID device "{0}"' },
  104021: { text: 'cannot stop the NBD server listening on port "{0}"' },
  104022: { text: 'cannot load kernel module "{0}"', action: 'check that the module exists for this kernel (or is built in)' },
  104023: { text: 'cannot create block device "{0}"' },
  104024: { text: 'cannot create NetRAID device "{0}" with mdadm' },
  104025: {
    text: 'unextending resource "{0}" while NetRAID device "{1}" is resynchronizing',
    action: 'the target partition may be left with an inconsistent copy',
  },
  104026: {
    text: 'deleting resource "{0}" while NetRAID device "{1}" is resynchronizing',
    action: 'the target partition may be left with an inconsistent copy',
  },
  104027: { text: 'cannot find the remote system of local resource "{0}"', action: 'check the resource equivalencies' },
  104028: { text: 'cannot find the remote tag of local resource "{0}"', action: 'check the resource equivalencies' },
  104029: { text: 'cannot get the remote information of local resource "{0}"', action: 'check the resource equivalencies' },
  104030: { text: 'resynchronization of NetRAID device "{0}" of resource "{1}" has finished' },
  104031: { text: 'cannot tell the IP address of the system connected to the NBD server on port "{0}"' },
  104032: { text: 'cannot get the size of the source partition of resource "{0}" on system "{1}"' },
  104033: { text: 'cannot set the size of the NBD device to "{0}" for resource "{1}" on system "{2}"' },
  104034: { text: 'another NBD client is already running on port "{0}"', action: 'it is stopped first' },
  104040: { text: 'not enough parameters to create "{0}"' },
  104041: { text: 'running on the wrong system, "{0}"' },
  104042: { text: 'the existing mount point "{0}" is not mounted' },
  104043: { text: 'cannot get the size of "{0}"' },
  104044: {
    text: 'the existing file system must fit in the new NetRAID device: it is {0} blocks (KiB) but the NetRAID device would be only {1} blocks (KiB)',
    action: 'shrink the file system, or archive its data, create a new file system and restore the data into it',
  },
  104045: { text: 'mount point "{0}" is busy' },
  104046: { text: 'cannot unmount the existing mount point "{0}"' },
  104047: { text: 'creating the {0} file system on "{1}": this erases all data on the local partition "{2}"' },
  104048: { text: 'cannot create the {0} file system on "{1}"' },
  104049: { text: 'cannot mount "{0}" on "{1}"' },
  104050: { text: 'cannot create the file system hierarchy "{0}"' },
  104051: { text: 'unknown data replication resource type "{0}"' },
  104052: { text: 'cannot get the hardware id of device "{0}"' },
  104053: { text: 'file system type "{0}" is not supported', action: 'use one of the supported file system types' },
  104054: { text: 'this command failed: {0}' },
  104901: { text: 'mount point {0} is mounted', action: 'choose a mount point that is not mounted' },
  104902: { text: 'mount point {0} is not an absolute path', action: 'choose a mount point that starts with a slash' },
  104903: { text: 'mount point {0} is not empty', action: 'choose a mount point that does not exist or is empty' },
  104904: {
    text: 'stopping the NBD client timed out',
    action: 'it is most likely waiting in the kernel; recovery is tried again after LKCHECKINTERVAL seconds',
  },
  104905: { text: 'cannot set the resynchronization speed limit in {0}' },
};

/** The message of an entry with its placeholders filled in (missing arguments stay as "?"). */
export function formatReplicationError(number: number, args: readonly (string | number)[] = []): string {
  const entry = REPLICATION_ERRORS[number];
  if (!entry) throw new RangeError(`no replication error ${number}`);
  const fill = (s: string) => s.replace(/\{(\d+)\}/g, (_, i: string) => String(args[Number(i)] ?? '?'));
  return entry.action ? `${fill(entry.text)}. Action: ${fill(entry.action)}` : fill(entry.text);
}

/**
 * A VigilError carrying the replication error number and the table's message; a `reason` in the
 * details (what the kernel or mdadm said) is added to the message so the operator sees it.
 */
export function replicationError(number: number, args: readonly (string | number)[] = [], details: Record<string, unknown> = {}, cause?: unknown): VigilError {
  const reason = typeof details.reason === 'string' && details.reason !== '' ? ` (${details.reason})` : '';
  return new VigilError(number, `${formatReplicationError(number, args)}${reason}`, { ...details, args }, cause === undefined ? undefined : { cause });
}
