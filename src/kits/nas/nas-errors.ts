// The NAS kit's failure reasons, rendered from the error table (src/common/error-rows/nas.ts has
// the numbers and texts). Kit actions answer with a reason string; each NAS reason starts with
// "Error NNNNNN:" so the operator can look the number up, and the create and extend tasks report
// that number (see errorNumberOf in ../kit.ts). These functions only give the parameters names.
import { NAS_ERRORS, renderErrorLine } from '../../common/error-table.js';

/** The NAS kit's own numbers by name. */
export const NAS_ERR = Object.fromEntries(Object.entries(NAS_ERRORS).map(([name, row]) => [name, row.number])) as {
  readonly [K in keyof typeof NAS_ERRORS]: (typeof NAS_ERRORS)[K]['number'];
};

/** The mount point checks the replicated file systems make too: data replication's rows. */
const MOUNT_POINT_MOUNTED = 104901;
const MOUNT_POINT_NOT_ABSOLUTE = 104902;
const MOUNT_POINT_NOT_EMPTY = 104903;

// Each is "Error 107012: ..." (renderErrorLine), the form every NAS failure reason takes.
// `system` is '' when the caller does not know its system's name (a monitor check): the messages
// that allow it then leave out "on <server>".
export const nasMessages = {
  createFailed: (tag: string, system: string, why: string) => renderErrorLine(NAS_ERR.CREATE_FAILED, { tag, server: system, reason: why }),
  noAddresses: (server: string, system: string, why: string) => renderErrorLine(NAS_ERR.NO_ADDRESSES, { 'NFS server': server, server: system, reason: why }),
  noActiveAddress: (server: string, system: string) => renderErrorLine(NAS_ERR.NO_ACTIVE_ADDRESS, { 'NFS server': server, server: system }),
  deviceFormat: (device: string) => renderErrorLine(NAS_ERR.DEVICE_FORMAT, { device }),
  cannotRestore: (tag: string, system: string, why: string) => renderErrorLine(NAS_ERR.CANNOT_RESTORE, { tag, server: system, reason: why }),
  deviceMissing: () => renderErrorLine(NAS_ERR.DEVICE_MISSING, {}),
  nullDevice: (tag: string, system: string) => renderErrorLine(NAS_ERR.NULL_DEVICE, { tag, server: system }),
  mountTableUnreadable: (path: string, system: string, why: string) =>
    renderErrorLine(NAS_ERR.MOUNT_TABLE_UNREADABLE, { 'mount table': path, server: system, reason: why }),
  tagConflict: (tag: string, system: string) => renderErrorLine(NAS_ERR.TAG_CONFLICT, { tag, server: system }),
  mkdirFailed: (dir: string, system: string, why: string) => renderErrorLine(NAS_ERR.MKDIR_FAILED, { directory: dir, server: system, reason: why }),
  exportNotAccessible: (exp: string, system: string, why: string) => renderErrorLine(NAS_ERR.EXPORT_NOT_ACCESSIBLE, { export: exp, server: system, reason: why }),
  mountCheckHung: (exp: string, system: string, ms: number) => renderErrorLine(NAS_ERR.MOUNT_CHECK_HUNG, { export: exp, server: system, ms }),
  mountPointMounted: (mp: string) => renderErrorLine(MOUNT_POINT_MOUNTED, { 1: mp }),
  mountPointNotAbsolute: (mp: string) => renderErrorLine(MOUNT_POINT_NOT_ABSOLUTE, { 1: mp }),
  mountPointNotEmpty: (mp: string) => renderErrorLine(MOUNT_POINT_NOT_EMPTY, { 1: mp }),
};
