// The hierarchy task commands as CLI specs (the seeds' wizards as commands): create, extend,
// unextend, delete, dep, in-service, out-of-service, properties, perform_action, hier_events.
// Parsed by the generic spec machinery in src/cli/main.ts and handled in vigild by
// src/admin/commands/hierarchy.ts. `extend` has its own CLI command (extend.ts) because its
// interactive mode asks questions before it sends the request.
import type { CommandSpec } from '../../admin/command-specs.js';

const tag = { flags: '-t <tag>', description: 'resource tag' };
const noWait = { flags: '--no-wait', description: 'return once the change is started; it continues in the background (default: return when it has settled)' };

export const EXTEND_OPTIONS = [
  { flags: '-t <tag>', description: 'tag of the hierarchy to extend (on the template server, where it is in service)' },
  { flags: '-s <server>', description: 'target server to extend to' },
  { flags: '--template-priority <n>', description: 'priority of the template server, 1-999 (first extend only; default 1)' },
  { flags: '--target-priority <n>', description: 'priority of the target server, 1-999, unused (default: next free of 10, 20, ...)' },
  { flags: '--switchback <type>', description: 'intelligent or automatic (default: the hierarchy\'s current type)' },
  { flags: '--accept-defaults', description: 'do not ask; use the defaults for everything not given' },
];

export const HIERARCHY_COMMAND_SPECS: readonly CommandSpec[] = [
  {
    name: 'create',
    summary: 'create a resource and bring it in service here (unprotected, ISU, until extended)',
    destsys: true,
    options: [
      { flags: '-a <kit>', description: 'recovery kit: gen/app, gen/filesys or scsi/netraid' },
      tag,
      { flags: '-i <id>', description: 'resource id (gen/filesys: the mount point)' },
      { flags: '--switchback <type>', description: 'intelligent (default) or automatic' },
      { flags: '--restore <program>', description: 'gen/app: program that starts the application' },
      { flags: '--remove <program>', description: 'gen/app: program that stops it' },
      { flags: '--quick-check <program>', description: 'gen/app: monitor program' },
      { flags: '--recover <program>', description: 'gen/app: local recovery program' },
      { flags: '--arg <value>', description: 'gen/app: argument passed to every program' },
      { flags: '--device <path>', description: 'gen/filesys: block device, or SERVER:/path with --fstype nfs (the NAS kit)' },
      { flags: '--fstype <type>', description: 'gen/filesys: file system type (e.g. ext4)' },
      { flags: '--options <opts>', description: 'gen/filesys: mount options, comma separated' },
      { flags: '--info <key=value...>', description: 'other kit settings (e.g. restoreTimeoutMs=600000, checkDepth=20)' },
      { flags: '--yes-destroy-data', description: 'scsi/netraid type=new-fs: confirm that the local partition is formatted (all its data lost)' },
    ],
  },
  {
    name: 'unextend',
    summary: 'remove a hierarchy from one server (not the one where it is in service)',
    destsys: true,
    options: [tag, { flags: '-s <server>', description: 'server to remove the hierarchy from' }],
  },
  { name: 'delete', summary: 'delete a hierarchy from every server (taken out of service first)', destsys: true, options: [tag] },
  {
    name: 'dep',
    args: '<create|delete>',
    summary: 'create or delete a dependency (parent depends on child) on every server of the hierarchy',
    destsys: true,
    options: [
      { flags: '-p <parent>', description: 'parent tag' },
      { flags: '-c <child>', description: 'child tag' },
    ],
  },
  { name: 'in-service', summary: 'bring the hierarchy in service on this server (switching it over if it runs elsewhere)', destsys: true, options: [tag, noWait] },
  { name: 'out-of-service', summary: 'take the hierarchy out of service on this server', destsys: true, options: [tag, noWait] },
  {
    name: 'properties',
    summary: 'show (or change the switchback type of) a resource',
    destsys: true,
    options: [tag, { flags: '--switchback <type>', description: 'set intelligent or automatic on every server' }],
  },
  {
    name: 'perform_action',
    summary: 'run restore or remove on one resource only',
    destsys: true,
    options: [
      { flags: '-a <action>', description: 'restore or remove' },
      tag,
    ],
  },
  {
    name: 'hier_events',
    summary: 'recent hierarchy engine events (restores, removes, checks, failovers) with times',
    destsys: true,
    options: [{ flags: '-n <count>', description: 'how many (default 50)' }],
  },
];

/** Options of the daemon-side `extend` request (the CLI's extend.ts sends these). */
export const EXTEND_SPEC: CommandSpec = {
  name: 'extend',
  summary: 'extend a hierarchy to another server (asks like the wizard unless --accept-defaults)',
  destsys: true,
  options: EXTEND_OPTIONS,
};
