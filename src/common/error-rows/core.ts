// The core and task rows of the error table: the seeds' task numbers 1-30, the configuration
// database's 424, and the numbers of single messages reported outside a kit's own range (107009,
// a configuration warning; gen/app's 108001). Each row is named, so call sites read
// `CORE_ERRORS.NOT_FOUND.number`; each says what it means and who reports it (docs/errors.md).
import type { ErrorForm, ErrorRow } from './row.js';

/** A core or task row: its form is explicit and docs/errors.md gives its meaning and source. */
export interface CoreErrorRow extends ErrorRow {
  form: ErrorForm;
  meaning: string;
  reportedBy: string;
}

export const CORE_ERRORS = {
  TASK_SENDEVENT: {
    number: 1,
    form: 'task',
    message: 'Calling sendevent for resource <tag> on server <server>',
    meaning: 'A local recovery of <tag> failed and the hierarchy is being failed over (logged, not a refusal).',
    reportedBy: 'hierarchy engine',
  },
  USAGE: {
    number: 2,
    form: 'task',
    message: 'Usage error: <usage>',
    meaning: 'A task command was given a malformed or contradictory argument (bad tag syntax, priority out of 1-999, unknown switchback type, key=value expected).',
    reportedBy: 'create, extend, unextend, delete, dependency tasks',
  },
  TEMPLATE_MISSING: {
    number: 3,
    form: 'task',
    message: 'Template resource <tag> on server <server> does not exist',
    meaning: 'extend/properties named a tag that is not on the template (local) server.',
    reportedBy: 'extend',
  },
  ALREADY_EXTENDED: {
    number: 4,
    form: 'task',
    message: 'Template resource <tag> cannot be extended to server <server> because it already exists there',
    meaning: 'The target server already has a resource with this tag.',
    reportedBy: 'extend',
  },
  CANEXTEND_UNAVAILABLE: {
    number: 5,
    form: 'task',
    message: 'Cannot access canextend script on server <server>: <reason>',
    meaning: "The target server has no recovery kit for a resource of the hierarchy (a Vigil without that kit), so its extend checks cannot run there.",
    reportedBy: 'extend',
  },
  CANNOT_EXTEND: {
    number: 8,
    form: 'task',
    message: 'Cannot extend resource <tag> to server <server>: <reason>',
    meaning: 'A pre-extend check failed: the hierarchy is not in service on the template server, no live comm path to the target, a kit check on the target failed, or a kit in the hierarchy refuses the switchback type (automatic, for a replicated resource).',
    reportedBy: 'extend',
  },
  TEMPLATE_ARGS: {
    number: 9,
    form: 'task',
    message: 'Either <templatesys> or <templatetag> argument missing',
    meaning: 'extend was run without the target server; the message names the two arguments extend needs (the target server (-s) and the tag (-t)) in place of <templatesys> and <templatetag>.',
    reportedBy: 'extend',
  },
  CREATE_USAGE: {
    number: 12,
    form: 'task',
    message: 'Usage error: <usage>',
    meaning: 'The create task was given a missing, malformed or contradictory argument (no kit or id, an unknown kit, a bad switchback type or time-limit override). The seeds give create its own usage number; the other tasks report 000002.',
    reportedBy: 'create',
  },
  TAG_AND_ID_MISSING: {
    number: 11,
    form: 'task',
    message: 'Both Tag and ID name not specified',
    meaning: 'ins_create was given neither -t nor -i.',
    reportedBy: 'ins_create',
  },
  TAG_OR_ID_EXISTS: {
    number: 14,
    form: 'task',
    message: 'Resource with either matching tag <tag> or ID exists{ on <server>}{ (<detail>)}',
    meaning: 'A resource with this tag or this id already exists on the system; the detail says which of the two is in use (the seeds name the tag only).',
    reportedBy: 'create, extend, ins_create',
  },
  INS_CREATE_FAILED: {
    number: 15,
    form: 'task',
    message: 'ins_create failed on server <server>: <reason>',
    meaning: 'Recording the new resource in the configuration database failed.',
    reportedBy: 'create, extend',
  },
  CREATE_ERROR: {
    number: 18,
    form: 'task',
    message: 'Error creating resource <tag> on server <server>: <reason>',
    meaning: "The kit rejected the resource's settings before anything was created (also the switchback type: a replicated resource refuses automatic).",
    reportedBy: 'create, extend',
  },
  NOT_FOUND: {
    number: 19,
    form: 'task',
    message: 'Resource not found on local server <server>: <tag>{ (<detail>)}',
    meaning: "The named resource (or dependency, or equivalency to the target) does not exist here. The seeds' text, then the server and what was looked for.",
    reportedBy: 'unextend, delete, dependency, properties, ins_list -R, ins_remove, dep_list',
  },
  REMOVING_AFTER_ERROR: {
    number: 21,
    form: 'task',
    message: 'Removing resource instance <tag>{ created above <child tag>} from server <server> due to an error during creation',
    meaning: 'A failed create is being backed out (logged); a resource the create made above the new one names it.',
    reportedBy: 'create',
  },
  IN_SERVICE_FAILED: {
    number: 22,
    form: 'task',
    message: 'END failed hierarchy <tag> in service on server <server>{: <reason>}',
    meaning: 'Bringing a hierarchy in service (manual switchover) failed.',
    reportedBy: 'in service',
  },
  RESTORE_ON_CREATE: {
    number: 23,
    form: 'task',
    message: 'Error bringing resource <tag> in service on server <server>: <reason>',
    meaning: 'The new resource was created but its restore action failed.',
    reportedBy: 'create',
  },
  CREATE_FAILED: {
    number: 24,
    form: 'task',
    message: 'Failed resource creation of resource <tag> on server <server>: <reason>',
    meaning: "The kit's create step failed.",
    reportedBy: 'create',
  },
  ACTION_SIGNAL: {
    number: 26,
    form: 'task',
    message: 'END failed <action> for <tag> on server <server> due to <signal> signal',
    meaning: "A gen/app program (restore, remove, quickCheck, recover) was ended by a signal that was not the agent's own time limit (which reports 'passed its time limit'); the action failed and the hierarchy moves elsewhere.",
    reportedBy: 'gen/app actions (hier_events, perform_action, in service)',
  },
  REMOVING_DEPENDENCY: {
    number: 27,
    form: 'task',
    message: 'Removing file system dependency from <parent tag> to <child tag> on server <server> due to an error during creation',
    meaning: 'A failed create is backing out the dependency it had made (logged).',
    reportedBy: 'create',
  },
  REMOVING_CHILD_HIERARCHY: {
    number: 28,
    form: 'task',
    message: 'Removing file system hierarchy <filesys tag> created by <parent tag> on server <server> due to an error during creation',
    meaning: 'A failed create is backing out the file system hierarchy it had made under the parent (logged).',
    reportedBy: 'create',
  },
  SWITCHBACK_MISMATCH: {
    number: 29,
    form: 'task',
    message: 'Switchback type mismatch between parent <parent> and child <child> on server <server>',
    action: 'a mismatch can make the hierarchy switch back unexpectedly; align the two with ins_setas',
    meaning: 'A dependency joins resources with different switchback types (warning; fix with ins_setas).',
    reportedBy: 'dependency create',
  },
  TAG_MISSING: {
    number: 30,
    form: 'task',
    message: '<task>: tag name not specified',
    meaning: 'create, extend or ins_create was run without a tag (<task> is create or extend, as in the seeds; ins_create says create).',
    reportedBy: 'create, extend, ins_create',
  },
  APP_PROGRAM_UNSAFE: {
    // Vigil's own number (the seeds' task range ends at 30; 108xxx is gen/app's range here).
    number: 108001,
    form: 'task',
    message: '<action> program <path> is not safe to run as root: <reason>',
    meaning: 'gen/app runs its programs as root: create and extend refuse a program that someone other than root could change (not owned by root, writable by group or others, or in a directory that is; a directory with the sticky bit, like /tmp, is allowed).',
    reportedBy: 'create, extend (gen/app)',
  },
  REMOVE_LOCAL_SYSTEM: {
    number: 424,
    form: 'core',
    message: `can't remove entry for local system "<system>"`,
    meaning: 'sys_remove was asked to remove the system it runs on; remove a system from the other systems of the cluster.',
    reportedBy: 'sys_remove',
  },
  NAS_DEFAULTS_ILLOGICAL: {
    number: 107009,
    form: 'task',
    message: 'Illogical settings for NAS defaults on <server>. Using defaults of 120 for LKNFSTIMEOUT and 5 for LKNFSSYSCALLTO',
    action: 'set them so that 3 x LKNFSSYSCALLTO + 5 is less than LKNFSTIMEOUT{ (they were LKNFSSYSCALLTO <LKNFSSYSCALLTO> and LKNFSTIMEOUT <LKNFSTIMEOUT>)}',
    meaning: '3 x LKNFSSYSCALLTO + 5 is not below LKNFSTIMEOUT; the agent uses 120 and 5 instead (warning).',
    reportedBy: 'vigild start-up (configuration)',
  },
} as const satisfies Record<string, CoreErrorRow>;

export type CoreErrorName = keyof typeof CORE_ERRORS;
