// docs/errors.md in full: the core and task table (src/common/error-table.ts) followed by the
// numbers the NAS kit (src/kits/nas/nas-errors.ts) and data replication (src/replication/errors.ts)
// keep in their own tables, each message rendered by the code that prints it, every parameter
// shown by its name in angle brackets (<tag>, <server>).
// Used by `npm run docs:errors` and by the test that keeps docs/errors.md in step.
import { ERROR_TABLE, renderErrorsMarkdown, type ErrorSection } from '../../src/common/error-table.js';
import { NAS_ERR, nasMessages } from '../../src/kits/nas/nas-errors.js';
import { REPLICATION_ERRORS } from '../../src/replication/errors.js';

/** The name each NAS message's parameters are shown by in docs/errors.md, in their order. */
export const NAS_PARAMETER_NAMES: Record<keyof typeof nasMessages, string[]> = {
  createFailed: ['<tag>', '<server>', '<reason>'],
  noAddresses: ['<NFS server>', '<server>', '<reason>'],
  noActiveAddress: ['<NFS server>', '<server>'],
  deviceFormat: ['<device>'],
  cannotRestore: ['<tag>', '<server>', '<reason>'],
  deviceMissing: [],
  nullDevice: ['<tag>', '<server>'],
  mountTableUnreadable: ['<mount table>', '<server>', '<reason>'],
  tagConflict: ['<tag>', '<server>'],
  mkdirFailed: ['<directory>', '<server>', '<reason>'],
  exportNotAccessible: ['<export>', '<server>', '<reason>'],
  mountCheckHung: ['<export>', '<server>', '<ms>'],
  mountPointMounted: ['<mount point>'],
  mountPointNotAbsolute: ['<mount point>'],
  mountPointNotEmpty: ['<mount point>'],
};

/** "Error 107012: text" -> 107012 and "text". */
function split(line: string): { number: number; message: string } {
  const m = /^Error (\d{6}): ([\s\S]*)$/.exec(line);
  if (!m) throw new Error(`not a numbered message: ${line}`);
  return { number: Number(m[1]), message: m[2]! };
}

/** The replication table's rows: its text, then the action when it has one ({0} etc. as <1>...). */
function replicationRows(): ErrorSection['rows'] {
  return Object.keys(REPLICATION_ERRORS).map((n) => {
    const e = REPLICATION_ERRORS[Number(n)]!;
    const fill = (t: string) => t.replace(/\{(\d+)\}/g, (_, i: string) => `<${Number(i) + 1}>`);
    return { number: Number(n), message: e.action ? `${fill(e.text)}. Action: ${fill(e.action)}` : fill(e.text) };
  });
}

/** The NAS kit's rows (107xxx; its mount point numbers 104901-104903 are the replication table's). */
function nasRows(): ErrorSection['rows'] {
  const core = new Set<number>(Object.values(ERROR_TABLE).map((e) => e.number));
  return (Object.keys(nasMessages) as Array<keyof typeof nasMessages>)
    .map((k) => split((nasMessages[k] as (...a: string[]) => string)(...NAS_PARAMETER_NAMES[k])))
    .filter((r) => !(r.number in REPLICATION_ERRORS) && !core.has(r.number));
}

export function errorSections(): ErrorSection[] {
  return [
    {
      title: 'NAS kit (107001-107013)',
      intro:
        'Defined in `src/kits/nas/nas-errors.ts`; when each is reported: [nas.md](nas.md). 107009 is in the table above ' +
        '(a configuration warning); the mount point checks 104901-104903 are the data replication numbers below.',
      rows: nasRows(),
    },
    {
      title: 'Data replication (104001-104054, 104901-104905)',
      intro: 'Defined in `src/replication/errors.ts`; <1>, <2>, ... are the values the message names. When each is reported: [replication.md](replication.md#error-numbers) and [netraid.md](netraid.md).',
      rows: replicationRows(),
    },
  ];
}

/** The whole of docs/errors.md. */
export function renderErrorReference(): string {
  return renderErrorsMarkdown(errorSections());
}

/** Every number the NAS kit names, for the test that none is left out of the reference. */
export const NAS_NUMBERS: readonly number[] = Object.values(NAS_ERR);
