// Declarative description of the administration commands: names, flags and help text. The CLI
// builds its parser from these (so it stays small and fast to start: no zod, no LCD code) and
// the handlers read `req.options` by each option's key. Flags and names follow the seeds.

export interface OptionSpec {
  /**
   * Commander flag syntax: '-t <tag>' (value), '-v' (switch), '--accept-defaults' or
   * '-a, --app <name>'. The key in AdminRequest.options is the long name in camelCase when
   * there is one, else the short letter (what commander's opts() returns).
   */
  flags: string;
  description: string;
  /** The option must be given (checked by the CLI and again by the handler). */
  required?: boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  options: OptionSpec[];
  /** Whether `-d destsys` (run on another system's agent) applies. */
  destsys: boolean;
  /** Positional arguments in commander syntax, e.g. '<tag>' or '[tags...]'. */
  args?: string;
}

/** The key under which an option's value arrives in AdminRequest.options: '-t <tag>' -> 't'. */
export function optionKey(flags: string): string {
  const long = /--([A-Za-z0-9][A-Za-z0-9-]*)/.exec(flags);
  // '--no-wait' arrives as wait: false (commander's negatable flags), and as wait: true without it.
  if (long) return long[1]!.replace(/^no-(?=.)/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  const short = /^-([A-Za-z])\b/.exec(flags.trim());
  if (!short) throw new Error(`option flags need a short (-x) or long (--name) flag: ${flags}`);
  return short[1]!;
}

const fieldSep: OptionSpec = { flags: '-f <C>', description: 'separate output fields with the character C (default: space)' };

export const CORE_COMMAND_SPECS: readonly CommandSpec[] = [
  { name: 'sys_list', summary: 'list the systems in the cluster', destsys: true, options: [fieldSep] },
  {
    name: 'sys_create',
    summary: 'add a system to the configuration database',
    destsys: true,
    options: [{ flags: '-s <sys>', description: 'system name', required: true }],
  },
  {
    name: 'sys_remove',
    summary: 'remove a (gone) system and its comm paths from the configuration database; never the local one (error 424)',
    destsys: true,
    options: [{ flags: '-s <sys>', description: 'system to remove', required: true }],
  },
  {
    name: 'net_list',
    summary: 'list comm paths: SYS OTHERSYS TYPE PRIO STATE then LOCALADDR REMOTEADDR PORT (TCP), DEVICE BAUD (TTY) or DEVICE (DISK)',
    destsys: true,
    options: [
      { flags: '-s <sys>', description: 'only paths from this system' },
      { flags: '-S <othersys>', description: 'only paths to this system' },
      { flags: '-T <type>', description: 'only paths of this type (TCP, TTY, DISK)' },
      fieldSep,
    ],
  },
  {
    name: 'net_create',
    summary: 'create a comm path to another system (the other system is registered if new)',
    destsys: true,
    options: [
      { flags: '-s <sys>', description: 'local end (default: this system)' },
      { flags: '-S <othersys>', description: 'remote end', required: true },
      { flags: '-T <type>', description: 'TCP, TTY or DISK', required: true },
      { flags: '-l <laddr>', description: 'TCP: local address' },
      { flags: '-r <raddr>', description: 'TCP: remote address' },
      { flags: '-P <port>', description: 'TCP: port (default 7365)' },
      { flags: '-D <device>', description: 'TTY/DISK: device path' },
      { flags: '-b <baud>', description: 'TTY: baud rate (default 9600)' },
      { flags: '-p <priority>', description: 'priority 1-99, unique per pair of systems (default: lowest free)' },
    ],
  },
  {
    name: 'net_remove',
    summary: 'remove the comm paths that match the given selectors; with none, the paths to systems no longer in sys_list',
    destsys: true,
    options: [
      { flags: '-s <sys>', description: 'local end (default: this system)' },
      { flags: '-S <othersys>', description: 'remote end (needed with any other selector)' },
      { flags: '-T <type>', description: 'only paths of this type' },
      { flags: '-l <laddr>', description: 'only the TCP path with this local address' },
      { flags: '-r <raddr>', description: 'only the TCP path with this remote address' },
      { flags: '-D <device>', description: 'only the TTY/DISK path on this device' },
      { flags: '-p <priority>', description: 'only the path with this priority' },
    ],
  },
  {
    name: 'eqv_list',
    summary: 'list equivalencies: SYS TAG OTHERSYS OTHERTAG SHARED PRIO OTHERPRIO',
    destsys: true,
    options: [
      { flags: '-s <sys>', description: 'only equivalencies of this system' },
      { flags: '-t <tag>', description: 'only this resource tag' },
      { flags: '-S <othersys>', description: 'only equivalencies with this other system' },
      { flags: '-o <othertag>', description: 'only this other tag' },
      { flags: '-e <type>', description: 'equivalency type (SHARED)' },
      fieldSep,
    ],
  },
  {
    name: 'eqv_create',
    summary: 'create an equivalency between a local resource and its equivalent on another system',
    destsys: true,
    options: [
      { flags: '-s <sys>', description: 'system of the resource (default: this system)' },
      { flags: '-t <tag>', description: 'resource tag', required: true },
      { flags: '-p <priority>', description: 'priority of the resource on its system, 1-999 (default 1)' },
      { flags: '-S <othersys>', description: 'system of the equivalent', required: true },
      { flags: '-o <othertag>', description: 'tag of the equivalent (default: same tag)' },
      { flags: '-r <otherpriority>', description: 'priority on the other system, 1-999', required: true },
      { flags: '-e <type>', description: 'equivalency type (SHARED, the default)' },
    ],
  },
  {
    name: 'eqv_remove',
    summary: 'remove equivalencies of a resource (e.g. with a system that has gone away)',
    destsys: true,
    options: [
      { flags: '-s <sys>', description: 'system of the resource (default: this system)' },
      { flags: '-t <tag>', description: 'resource tag', required: true },
      { flags: '-S <othersys>', description: 'other system' },
      { flags: '-o <othertag>', description: 'other tag' },
      { flags: '-e <type>', description: 'equivalency type (SHARED)' },
    ],
  },
  {
    name: 'ins_list',
    summary: 'list resource instances: SYS APP TYPE TAG ID STATE SWITCHBACK INFO',
    destsys: true,
    options: [
      fieldSep,
      { flags: '-R <top>', description: 'only the hierarchy below (and including) this tag' },
      { flags: '-a <appname>', description: 'only this app' },
      { flags: '-r <typ>', description: 'only this resource type' },
      { flags: '-t <tag>', description: 'only this tag' },
      { flags: '-i <id>', description: 'only this id' },
    ],
  },
  {
    name: 'ins_create',
    summary: 'create a resource instance in the configuration database',
    destsys: true,
    options: [
      { flags: '-a <appname>', description: 'app (e.g. gen)', required: true },
      { flags: '-r <restyp>', description: 'resource type (e.g. app, filesys)', required: true },
      { flags: '-t <tag>', description: 'unique tag (letters, digits, - _ . /)' },
      { flags: '-i <id>', description: 'unique id' },
      { flags: '-v <info>', description: 'kit-specific information' },
      { flags: '-s <switchback>', description: 'switchback type: intelligent (default) or automatic' },
      { flags: '-I <state>', description: 'initial state: ISP, ISU, OSU (default) or OSF' },
    ],
  },
  {
    name: 'ins_remove',
    summary: 'remove resource instances, the resources that depend on them, their dependencies and equivalencies from the configuration database',
    destsys: true,
    options: [
      { flags: '-R <roottag>', description: 'the hierarchy below (and including) this tag' },
      { flags: '-a <appname>', description: 'instances of this app' },
      { flags: '-r <restyp>', description: 'instances of this resource type' },
      { flags: '-t <tag>', description: 'the instance with this tag' },
      { flags: '-i <id>', description: 'the instance with this id' },
      { flags: '-v', description: 'print each removed tag' },
      { flags: '-I', description: 'idempotent clean-up: nothing left to remove is not an error' },
      { flags: '-N', description: 'remove only the selected instances, not the resources that depend on them' },
      { flags: '-G', description: "also remove the equivalent instances on the other systems (through their agents)" },
    ],
  },
  {
    name: 'ins_setas',
    summary: 'set the switchback type of a resource',
    destsys: true,
    options: [
      { flags: '-t <tag>', description: 'resource tag', required: true },
      { flags: '-s <switchback>', description: 'intelligent or automatic', required: true },
    ],
  },
  {
    name: 'ins_setstate',
    summary: 'set the recorded state of a resource (ISP, ISU, OSU, OSF)',
    destsys: true,
    options: [
      { flags: '-t <tag>', description: 'resource tag', required: true },
      { flags: '-S <state>', description: 'ISP, ISU, OSU or OSF', required: true },
      { flags: '-m <reason>', description: 'reason to record with the state' },
    ],
  },
  {
    name: 'dep_list',
    summary: 'list dependencies: SYS PARENT CHILD',
    destsys: true,
    options: [
      fieldSep,
      { flags: '-C <tag>', description: 'all dependencies below this tag' },
      { flags: '-P <tag>', description: 'all dependencies above this tag' },
      { flags: '-c <child>', description: 'dependencies whose child is this tag' },
      { flags: '-p <parent>', description: 'dependencies whose parent is this tag' },
    ],
  },
  {
    name: 'dep_create',
    summary: 'make a parent resource depend on a child resource',
    destsys: true,
    options: [
      { flags: '-p <parent>', description: 'parent tag', required: true },
      { flags: '-c <child>', description: 'child tag', required: true },
    ],
  },
  {
    name: 'dep_remove',
    summary: 'remove a dependency',
    destsys: true,
    options: [
      { flags: '-p <parent>', description: 'parent tag', required: true },
      { flags: '-c <child>', description: 'child tag', required: true },
    ],
  },
  { name: 'lcdsync', summary: 'write runtime state held in memory to the configuration database on disk', destsys: true, options: [] },
  { name: 'lcdstatus', summary: 'show systems, comm paths and resources with their states', destsys: true, options: [] },
];
