// Data replication's rows of the error table: 104001-104054 and the 10490x numbers the creation
// and recovery steps report (the NAS kit reports 104901-104903 too), each message in our words
// and, where the operator has something to do, the action. The seeds' messages take their values
// in order, so the parameters are named <1>, <2>, ... (src/replication/errors.ts fills them).
// Every message ends in an optional ( <reason> ): what the kernel, mdadm or the failed step said,
// or what the operator should set, when the caller knows it; it comes before the action.
import type { ErrorRow } from './row.js';

const ROWS: readonly ErrorRow[] = [
  {
    number: 104001,
    message: 'the data-corrupt flag "<1>_data_corrupt" is set in "<2>" on system "<3>"',
    action: 'the resource is not brought in service, so that an out-of-date copy cannot overwrite a newer one; remove the flag only when you are sure this system was the last primary',
  },
  { number: 104002, message: 'cannot open file "<1>"' },
  {
    number: 104003,
    message: 'cannot start resynchronizing NetRAID device "<1>" of resource "<2>"',
    action: 'look at /proc/mdstat and the system log for the reason',
  },
  {
    number: 104004,
    message: 'cannot stop or remove NetRAID device "<1>" of resource "<2>" on system "<3>"',
    action: 'stop the device by hand (mdadm --stop) once whatever holds it open has let go',
  },
  { number: 104005, message: 'cannot find the NetRAID device number of resource "<1>" on system "<2>"' },
  { number: 104006, message: 'cannot find the NetRAID port number of resource "<1>" on system "<2>"' },
  { number: 104007, message: 'cannot find the local partition of the NetRAID device of resource "<1>" on system "<2>"' },
  { number: 104008, message: 'cannot tell which local IP address network interface "<1>" has', action: 'check the network configuration' },
  { number: 104009, message: 'the local partition is not available' },
  { number: 104010, message: 'cannot create NetRAID device "<1>" on system "<2>"' },
  { number: 104011, message: 'resource "<1>" is already extended to "<2>"' },
  { number: 104012, message: 'cannot extend NetRAID device "<1>" to system "<2>": <3>' },
  {
    number: 104013,
    message: 'NetRAID device "<1>" of resource "<2>" on system "<3>" is not mirroring (state: <4>)',
    action: 'only the system holding the current copy may run the resource now: while a resynchronization runs, wait for it to finish before moving the resource; if this system\'s copy is out of date, bring the resource in service on the system that holds the current copy (normally the last primary), which then copies it in full to this one',
  },
  { number: 104014, message: 'resynchronization of NetRAID device "<1>" of resource "<2>" has started' },
  { number: 104015, message: 'NetRAID device "<1>" of resource "<2>" was removed from system "<3>"' },
  { number: 104016, message: 'NetRAID device "<1>" was created on system "<2>"' },
  { number: 104017, message: 'NetRAID device "<1>" was extended to system "<2>"' },
  { number: 104018, message: 'cannot unextend the NetRAID device of resource "<1>" from system "<2>"' },
  { number: 104019, message: 'the NetRAID device of resource "<1>" was unextended from system "<2>"' },
  { number: 104020, message: 'cannot write the array configuration of NetRAID device "<1>"' },
  { number: 104021, message: 'cannot stop the NBD server listening on port "<1>"' },
  { number: 104022, message: 'cannot load kernel module "<1>"', action: 'check that the module exists for this kernel (or is built in)' },
  { number: 104023, message: 'cannot create block device "<1>"' },
  { number: 104024, message: 'cannot create NetRAID device "<1>" with mdadm' },
  {
    number: 104025,
    message: 'unextending resource "<1>" while NetRAID device "<2>" is resynchronizing',
    action: 'the target partition may be left with an inconsistent copy',
  },
  {
    number: 104026,
    message: 'deleting resource "<1>" while NetRAID device "<2>" is resynchronizing',
    action: 'the target partition may be left with an inconsistent copy',
  },
  { number: 104027, message: 'cannot find the remote system of local resource "<1>"', action: 'check the resource equivalencies' },
  { number: 104028, message: 'cannot find the remote tag of local resource "<1>"', action: 'check the resource equivalencies' },
  { number: 104029, message: 'cannot get the remote information of local resource "<1>"', action: 'check the resource equivalencies' },
  { number: 104030, message: 'resynchronization of NetRAID device "<1>" of resource "<2>" has finished' },
  { number: 104031, message: 'cannot tell the IP address of the system connected to the NBD server on port "<1>"' },
  { number: 104032, message: 'cannot get the size of the source partition of resource "<1>" on system "<2>"' },
  { number: 104033, message: 'cannot set the size of the NBD device to "<1>" for resource "<2>" on system "<3>"' },
  { number: 104034, message: 'another NBD client is already running on port "<1>"', action: 'it is stopped first' },
  { number: 104040, message: 'not enough parameters to create "<1>"' },
  { number: 104041, message: 'running on the wrong system, "<1>"' },
  { number: 104042, message: 'the existing mount point "<1>" is not mounted' },
  { number: 104043, message: 'cannot get the size of "<1>"' },
  {
    number: 104044,
    message: 'the existing file system must fit in the new NetRAID device: it is <1> blocks (KiB) but the NetRAID device would be only <2> blocks (KiB)',
    action: 'shrink the file system, or archive its data, create a new file system and restore the data into it',
  },
  { number: 104045, message: 'mount point "<1>" is busy' },
  { number: 104046, message: 'cannot unmount the existing mount point "<1>"' },
  { number: 104047, message: 'creating the <1> file system on "<2>": this erases all data on the local partition "<3>"' },
  { number: 104048, message: 'cannot create the <1> file system on "<2>"' },
  { number: 104049, message: 'cannot mount "<1>" on "<2>"' },
  { number: 104050, message: 'cannot create the file system hierarchy "<1>"' },
  { number: 104051, message: 'unknown data replication resource type "<1>"' },
  { number: 104052, message: 'cannot get the hardware id of device "<1>"' },
  { number: 104053, message: 'file system type "<1>" is not supported', action: 'use one of the supported file system types' },
  { number: 104054, message: 'this command failed: <1>' },
  { number: 104901, message: 'mount point <1> is mounted', action: 'choose a mount point that is not mounted' },
  { number: 104902, message: 'mount point <1> is not an absolute path', action: 'choose a mount point that starts with a slash' },
  { number: 104903, message: 'mount point <1> is not empty', action: 'choose a mount point that does not exist or is empty' },
  {
    number: 104904,
    message: 'stopping the NBD client timed out',
    action: 'it is most likely waiting in the kernel; recovery is tried again after LKCHECKINTERVAL seconds',
  },
  { number: 104905, message: 'cannot set the resynchronization speed limit in <1>' },
];

export const REPLICATION_ERRORS: readonly ErrorRow[] = ROWS.map((r) => ({ ...r, message: `${r.message}{ (<reason>)}` }));
