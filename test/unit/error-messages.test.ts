// The exact text of every numbered message the agent prints, core and task, NAS kit and data
// replication, rendered with sample values: scripts and operators grep these lines, so a change
// to the error table that alters one byte of them fails here. The expected strings are written
// out in full on purpose (no snapshot file), so a reviewer sees what is printed.
import { describe, expect, it } from 'vitest';
import { CORE_ERRORS, errorNumbers, renderErrorLine, type ErrorName } from '../../src/common/error-table.js';
import { templateParameters } from '../../src/common/error-template.js';
import { nasMessages } from '../../src/kits/nas/nas-errors.js';
import { formatReplicationError, replicationError, replicationErrorLine } from '../../src/replication/errors.js';

/** The sample value of each named parameter of the core and task messages. */
const SAMPLE: Record<string, string | number> = { tag: 'web', server: 'node2', reason: 'disk full', action: 'restore', signal: 'SIGKILL', 'parent tag': 'app1', 'filesys tag': 'fs1', parent: 'app1', child: 'fs1', path: '/opt/app/start', system: 'node1', usage: 'the tag (-t) is not specified', detail: 'the detail', task: 'create', templatesys: 'the target server (-s)', templatetag: 'the tag (-t)', 'child tag': 'fs1', LKNFSSYSCALLTO: 5, LKNFSTIMEOUT: 20 };

/** A core or task row printed with the sample values (a parameter with no sample stays as written). */
function core(name: ErrorName): string {
  const e = CORE_ERRORS[name];
  const template = 'action' in e ? `${e.message} ${e.action}` : e.message;
  return renderErrorLine(e.number, Object.fromEntries(templateParameters(template).map((p) => [p, SAMPLE[p] ?? `<${p}>`])));
}

const CORE: Record<ErrorName, string> = {
    TASK_SENDEVENT: "Error 000001: Calling sendevent for resource web on server node2",
    USAGE: "Error 000002: Usage error: the tag (-t) is not specified",
    TEMPLATE_MISSING: "Error 000003: Template resource web on server node2 does not exist",
    ALREADY_EXTENDED: "Error 000004: Template resource web cannot be extended to server node2 because it already exists there",
    CANEXTEND_UNAVAILABLE: "Error 000005: Cannot access canextend script on server node2: disk full",
    CANNOT_EXTEND: "Error 000008: Cannot extend resource web to server node2: disk full",
    TEMPLATE_ARGS: "Error 000009: Either the target server (-s) or the tag (-t) argument missing",
    CREATE_USAGE: "Error 000012: Usage error: the tag (-t) is not specified",
    TAG_AND_ID_MISSING: "Error 000011: Both Tag and ID name not specified",
    TAG_OR_ID_EXISTS: "Error 000014: Resource with either matching tag web or ID exists on node2 (the detail)",
    INS_CREATE_FAILED: "Error 000015: ins_create failed on server node2: disk full",
    CREATE_ERROR: "Error 000018: Error creating resource web on server node2: disk full",
    NOT_FOUND: "Error 000019: Resource not found on local server node2: web (the detail)",
    REMOVING_AFTER_ERROR: "Error 000021: Removing resource instance web created above fs1 from server node2 due to an error during creation",
    IN_SERVICE_FAILED: "Error 000022: END failed hierarchy web in service on server node2: disk full",
    RESTORE_ON_CREATE: "Error 000023: Error bringing resource web in service on server node2: disk full",
    CREATE_FAILED: "Error 000024: Failed resource creation of resource web on server node2: disk full",
    ACTION_SIGNAL: "Error 000026: END failed restore for web on server node2 due to SIGKILL signal",
    REMOVING_DEPENDENCY: "Error 000027: Removing file system dependency from app1 to fs1 on server node2 due to an error during creation",
    REMOVING_CHILD_HIERARCHY: "Error 000028: Removing file system hierarchy fs1 created by app1 on server node2 due to an error during creation",
    SWITCHBACK_MISMATCH: "Error 000029: Switchback type mismatch between parent app1 and child fs1 on server node2. Action: a mismatch can make the hierarchy switch back unexpectedly; align the two with ins_setas",
    TAG_MISSING: "Error 000030: create: tag name not specified",
    APP_PROGRAM_UNSAFE: "Error 108001: restore program /opt/app/start is not safe to run as root: disk full",
    REMOVE_LOCAL_SYSTEM: "*ERROR* (No. 424) can't remove entry for local system \"node1\"",
    NAS_DEFAULTS_ILLOGICAL: "Error 107009: Illogical settings for NAS defaults on node2. Using defaults of 120 for LKNFSTIMEOUT and 5 for LKNFSSYSCALLTO. Action: set them so that 3 x LKNFSSYSCALLTO + 5 is less than LKNFSTIMEOUT (they were LKNFSSYSCALLTO 5 and LKNFSTIMEOUT 20)",
};

const NAS: Array<[string, (m: typeof nasMessages) => string, string]> = [
    ["createFailed", (m) => m.createFailed("nas1", "node1", "fstab has two lines for the export"), "Error 107001: could not create the NAS resource nas1 on node1: fstab has two lines for the export"],
    ["noAddresses", (m) => m.noAddresses("filer", "node1", "ENOTFOUND"), "Error 107002: could not get the addresses of NFS server filer on node1: ENOTFOUND"],
    ["noActiveAddress", (m) => m.noActiveAddress("filer", "node1"), "Error 107003: no address of NFS server filer answers from node1"],
    ["deviceFormat", (m) => m.deviceFormat("filer/export"), "Error 107004: the device \"filer/export\" is not an NFS export; write it as SERVER:/path (an IPv4 address, [IPv6] address or host name, then an absolute path)"],
    ["cannotRestore", (m) => m.cannotRestore("nas1", "node1", "mount timed out"), "Error 107005: cannot bring NAS resource nas1 in service on node1: mount timed out. Correct the problem, then bring the resource in service by hand"],
    ["deviceMissing", (m) => m.deviceMissing(), "Error 107006: create: no device (NFS export) was given"],
    ["nullDevice", (m) => m.nullDevice("nas1", "node1"), "Error 107007: the configuration database gives no device (NFS export) for nas1 on node1; its record is damaged: delete the resource and create it again, or extend the hierarchy again from a system where it is intact"],
    ["nullDevice", (m) => m.nullDevice("nas1", ""), "Error 107007: the configuration database gives no device (NFS export) for nas1; its record is damaged: delete the resource and create it again, or extend the hierarchy again from a system where it is intact"],
    ["mountTableUnreadable", (m) => m.mountTableUnreadable("/proc/self/mounts", "node1", "EACCES"), "Error 107008: cannot read the mount table /proc/self/mounts on node1: EACCES"],
    ["mountTableUnreadable", (m) => m.mountTableUnreadable("/proc/self/mounts", "", "EACCES"), "Error 107008: cannot read the mount table /proc/self/mounts: EACCES"],
    ["tagConflict", (m) => m.tagConflict("nas1", "node2"), "Error 107010: tag nas1 is already used on the target node2; delete the conflicting resource and extend again"],
    ["mkdirFailed", (m) => m.mkdirFailed("/tmp/vigil-check", "node1", "EROFS"), "Error 107011: could not create the directory \"/tmp/vigil-check\" on node1: EROFS"],
    ["exportNotAccessible", (m) => m.exportNotAccessible("filer:/export", "node1", "access denied by server"), "Error 107012: the exported file system filer:/export cannot be accessed from node1: access denied by server. Check that this system is in the server's export list (showmount lists only the most specific entry when an export names both everyone and single systems), fix the export, then create or extend again"],
    ["mountCheckHung", (m) => m.mountCheckHung("filer:/export", "node1", 15000), "Error 107013: the mount authorization check of \"filer:/export\" on node1 did not finish within 15000 ms and looks hung; giving up. Fix the access problem, then create or extend again"],
    ["mountPointMounted", (m) => m.mountPointMounted("/mnt/a"), "Error 104901: mount point /mnt/a is mounted. Action: choose a mount point that is not mounted"],
    ["mountPointNotAbsolute", (m) => m.mountPointNotAbsolute("mnt/a"), "Error 104902: mount point mnt/a is not an absolute path. Action: choose a mount point that starts with a slash"],
    ["mountPointNotEmpty", (m) => m.mountPointNotEmpty("/mnt/a"), "Error 104903: mount point /mnt/a is not empty. Action: choose a mount point that does not exist or is empty"],
];

const REPLICATION: Array<[number, string[], string]> = [
    [104001, ["a1","a2","a3"], "the data-corrupt flag \"a1_data_corrupt\" is set in \"a2\" on system \"a3\". Action: the resource is not brought in service, so that an out-of-date copy cannot overwrite a newer one; remove the flag only when you are sure this system was the last primary"],
    [104002, ["a1"], "cannot open file \"a1\""],
    [104003, ["a1","a2"], "cannot start resynchronizing NetRAID device \"a1\" of resource \"a2\". Action: look at /proc/mdstat and the system log for the reason"],
    [104004, ["a1","a2","a3"], "cannot stop or remove NetRAID device \"a1\" of resource \"a2\" on system \"a3\". Action: stop the device by hand (mdadm --stop) once whatever holds it open has let go"],
    [104005, ["a1","a2"], "cannot find the NetRAID device number of resource \"a1\" on system \"a2\""],
    [104006, ["a1","a2"], "cannot find the NetRAID port number of resource \"a1\" on system \"a2\""],
    [104007, ["a1","a2"], "cannot find the local partition of the NetRAID device of resource \"a1\" on system \"a2\""],
    [104008, ["a1"], "cannot tell which local IP address network interface \"a1\" has. Action: check the network configuration"],
    [104009, [], "the local partition is not available"],
    [104010, ["a1","a2"], "cannot create NetRAID device \"a1\" on system \"a2\""],
    [104011, ["a1","a2"], "resource \"a1\" is already extended to \"a2\""],
    [104012, ["a1","a2","a3"], "cannot extend NetRAID device \"a1\" to system \"a2\": a3"],
    [104013, ["a1","a2","a3","a4"], "NetRAID device \"a1\" of resource \"a2\" on system \"a3\" is not mirroring (state: a4). Action: only the system holding the current copy may run the resource now: while a resynchronization runs, wait for it to finish before moving the resource; if this system's copy is out of date, bring the resource in service on the system that holds the current copy (normally the last primary), which then copies it in full to this one"],
    [104014, ["a1","a2"], "resynchronization of NetRAID device \"a1\" of resource \"a2\" has started"],
    [104015, ["a1","a2","a3"], "NetRAID device \"a1\" of resource \"a2\" was removed from system \"a3\""],
    [104016, ["a1","a2"], "NetRAID device \"a1\" was created on system \"a2\""],
    [104017, ["a1","a2"], "NetRAID device \"a1\" was extended to system \"a2\""],
    [104018, ["a1","a2"], "cannot unextend the NetRAID device of resource \"a1\" from system \"a2\""],
    [104019, ["a1","a2"], "the NetRAID device of resource \"a1\" was unextended from system \"a2\""],
    [104020, ["a1"], "cannot write the array configuration of NetRAID device \"a1\""],
    [104021, ["a1"], "cannot stop the NBD server listening on port \"a1\""],
    [104022, ["a1"], "cannot load kernel module \"a1\". Action: check that the module exists for this kernel (or is built in)"],
    [104023, ["a1"], "cannot create block device \"a1\""],
    [104024, ["a1"], "cannot create NetRAID device \"a1\" with mdadm"],
    [104025, ["a1","a2"], "unextending resource \"a1\" while NetRAID device \"a2\" is resynchronizing. Action: the target partition may be left with an inconsistent copy"],
    [104026, ["a1","a2"], "deleting resource \"a1\" while NetRAID device \"a2\" is resynchronizing. Action: the target partition may be left with an inconsistent copy"],
    [104027, ["a1"], "cannot find the remote system of local resource \"a1\". Action: check the resource equivalencies"],
    [104028, ["a1"], "cannot find the remote tag of local resource \"a1\". Action: check the resource equivalencies"],
    [104029, ["a1"], "cannot get the remote information of local resource \"a1\". Action: check the resource equivalencies"],
    [104030, ["a1","a2"], "resynchronization of NetRAID device \"a1\" of resource \"a2\" has finished"],
    [104031, ["a1"], "cannot tell the IP address of the system connected to the NBD server on port \"a1\""],
    [104032, ["a1","a2"], "cannot get the size of the source partition of resource \"a1\" on system \"a2\""],
    [104033, ["a1","a2","a3"], "cannot set the size of the NBD device to \"a1\" for resource \"a2\" on system \"a3\""],
    [104034, ["a1"], "another NBD client is already running on port \"a1\". Action: it is stopped first"],
    [104040, ["a1"], "not enough parameters to create \"a1\""],
    [104041, ["a1"], "running on the wrong system, \"a1\""],
    [104042, ["a1"], "the existing mount point \"a1\" is not mounted"],
    [104043, ["a1"], "cannot get the size of \"a1\""],
    [104044, ["a1","a2"], "the existing file system must fit in the new NetRAID device: it is a1 blocks (KiB) but the NetRAID device would be only a2 blocks (KiB). Action: shrink the file system, or archive its data, create a new file system and restore the data into it"],
    [104045, ["a1"], "mount point \"a1\" is busy"],
    [104046, ["a1"], "cannot unmount the existing mount point \"a1\""],
    [104047, ["a1","a2","a3"], "creating the a1 file system on \"a2\": this erases all data on the local partition \"a3\""],
    [104048, ["a1","a2"], "cannot create the a1 file system on \"a2\""],
    [104049, ["a1","a2"], "cannot mount \"a1\" on \"a2\""],
    [104050, ["a1"], "cannot create the file system hierarchy \"a1\""],
    [104051, ["a1"], "unknown data replication resource type \"a1\""],
    [104052, ["a1"], "cannot get the hardware id of device \"a1\""],
    [104053, ["a1"], "file system type \"a1\" is not supported. Action: use one of the supported file system types"],
    [104054, ["a1"], "this command failed: a1"],
    [104901, ["a1"], "mount point a1 is mounted. Action: choose a mount point that is not mounted"],
    [104902, ["a1"], "mount point a1 is not an absolute path. Action: choose a mount point that starts with a slash"],
    [104903, ["a1"], "mount point a1 is not empty. Action: choose a mount point that does not exist or is empty"],
    [104904, [], "stopping the NBD client timed out. Action: it is most likely waiting in the kernel; recovery is tried again after LKCHECKINTERVAL seconds"],
    [104905, ["a1"], "cannot set the resynchronization speed limit in a1"],
];

describe('printed error messages', () => {
  it('core and task entries', () => {
    for (const [name, want] of Object.entries(CORE)) expect(core(name as ErrorName), name).toBe(want);
    expect(Object.keys(CORE).sort()).toEqual(Object.keys(CORE_ERRORS).sort());
  });

  it('core and task entries without their optional parts, as most call sites print them', () => {
    const line = (name: ErrorName, params: Record<string, string>) => renderErrorLine(CORE_ERRORS[name].number, params);
    expect(line('TAG_OR_ID_EXISTS', { tag: 'web' })).toBe('Error 000014: Resource with either matching tag web or ID exists');
    expect(line('NOT_FOUND', { tag: 'web', server: 'node2' })).toBe('Error 000019: Resource not found on local server node2: web');
    expect(line('REMOVING_AFTER_ERROR', { tag: 'web', server: 'node2' })).toBe('Error 000021: Removing resource instance web from server node2 due to an error during creation');
    expect(line('IN_SERVICE_FAILED', { tag: 'web', server: 'node2' })).toBe('Error 000022: END failed hierarchy web in service on server node2');
    expect(line('TAG_MISSING', { task: 'extend' })).toBe('Error 000030: extend: tag name not specified');
    expect(line('NAS_DEFAULTS_ILLOGICAL', { server: 'node2' })).toBe(
      'Error 107009: Illogical settings for NAS defaults on node2. Using defaults of 120 for LKNFSTIMEOUT and 5 for LKNFSSYSCALLTO. Action: set them so that 3 x LKNFSSYSCALLTO + 5 is less than LKNFSTIMEOUT',
    );
  });

  it('NAS kit messages', () => {
    for (const [name, render, want] of NAS) expect(render(nasMessages), name).toBe(want);
    expect(new Set(NAS.map(([name]) => name))).toEqual(new Set(Object.keys(nasMessages)));
  });

  it('data replication messages', () => {
    for (const [n, args, want] of REPLICATION) {
      expect(formatReplicationError(n, args), String(n)).toBe(want);
      expect(replicationError(n, args).format(), String(n)).toBe(`Error ${n}: ${want}`);
    }
  });

  it('every row of the table is among them', () => {
    const printed = [...Object.values(CORE), ...NAS.map(([, , want]) => want), ...REPLICATION.map(([n]) => `Error ${n}: `)];
    const numbers = new Set(printed.map((line) => Number(/^(?:Error (\d{6})|\*ERROR\* \(No\. (\d+)\))/.exec(line)!.slice(1).find(Boolean))));
    expect([...numbers].sort((a, b) => a - b)).toEqual(errorNumbers());
  });

  it('data replication: a missing argument prints "?", a reason fills the message\'s ( <reason> ), before the action', () => {
    expect(replicationError(104003, ['/dev/md1', 'lkdr1'], { reason: 'the local partition has failed' }).format()).toBe(
      'Error 104003: cannot start resynchronizing NetRAID device "/dev/md1" of resource "lkdr1" (the local partition has failed). Action: look at /proc/mdstat and the system log for the reason',
    );
    expect(replicationErrorLine(104040, ['new-fs'], 'set mountPoint=/data')).toBe('Error 104040: not enough parameters to create "new-fs" (set mountPoint=/data)');
    expect(replicationError(104012, ['md0', 'node2'], { reason: 'connection refused' }).format()).toBe('Error 104012: cannot extend NetRAID device "md0" to system "node2": ? (connection refused)');
    expect(replicationError(104012, ['md0', 'node2', 'EIO'], { reason: '' }).format()).toBe('Error 104012: cannot extend NetRAID device "md0" to system "node2": EIO');
    expect(() => formatReplicationError(104999)).toThrow(RangeError);
  });
});
