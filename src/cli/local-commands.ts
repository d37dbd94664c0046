// Commands the CLI runs itself (no daemon request): each is loaded only when it is the command
// being run (or asked for with `vigil help NAME`), so that the common case — a daemon command
// — does not pay for crypto, the platform layer or the demo at start-up. The summaries here
// are what `vigil --help` lists; each module's own Command carries the full help.
import type { Command } from 'commander';

export interface LocalCommand {
  name: string;
  summary: string;
  /** Build the real command; `socketOf` gives the --socket value for commands that talk to vigild. */
  load(socketOf: () => string | undefined): Promise<Command>;
}

// The NetRAID utilities (src/cli/commands/netraid.ts), listed here without loading that module.
const NETRAID_SUMMARIES: Record<string, string> = {
  netraid_create: 'create NetRAID device /dev/mdN on a partition (RAID1 with a write-intent bitmap)',
  netraid_extend: "extend a NetRAID device to the target's NBD server",
  netraid_unextend: 'stop replicating a NetRAID device to its backup',
  netraid_delete: 'stop a NetRAID device and disconnect its NBD device',
  netraid_resync: 'bring the backup of a NetRAID device up to date',
  netraid_info: 'show a NetRAID device',
  netraid_status: 'print (and exit with) the state of a NetRAID device: -3..100',
  netraid_monitor: "follow a NetRAID device's md events in the foreground",
};

export const LOCAL_COMMANDS: readonly LocalCommand[] = [
  {
    name: 'keygen',
    summary: 'create the cluster key file (root-only, mode 0600) used to authenticate and encrypt comm paths',
    load: async () => (await import('../cluster/keygen.js')).keygenCommand(),
  },
  {
    name: 'extend',
    summary: 'extend a hierarchy to another server (asks like the wizard unless --accept-defaults)',
    load: async (socketOf) => (await import('./commands/extend.js')).extendCommand(socketOf),
  },
  {
    name: 'demo',
    summary: 'run a two-node cluster on 127.0.0.1/127.0.0.2 and show failover and switchback',
    load: async () => (await import('./commands/demo.js')).demoCommand(),
  },
  {
    name: 'devices',
    summary: "list this node's block devices and probe every mount with a time limit",
    load: async () => (await import('./commands/devices.js')).devicesCommand(),
  },
  {
    name: 'aliases',
    summary: "install (or --remove) executables named like the seeds' commands that run vigil",
    load: async () => (await import('./aliases.js')).aliasesCommand(),
  },
  ...Object.entries(NETRAID_SUMMARIES).map(([name, summary]) => ({
    name,
    summary,
    load: async () => {
      const m = await import('./commands/netraid.js');
      return m.netraidCommand(name as (typeof m.NETRAID_COMMAND_NAMES)[number]);
    },
  })),
];

/** The command word of a vigil command line (after global options), following `help NAME`. */
export function targetCommand(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--socket') {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return a === 'help' ? argv[i + 1] : a;
  }
  return undefined;
}
