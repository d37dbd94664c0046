#!/usr/bin/env node
// vigil: the administration CLI. Each daemon command is parsed from its spec (command-table.ts),
// sent to the local vigild over the admin socket (--socket, $VIGIL_ADMIN_SOCKET, the
// VIGIL_ADMIN_SOCKET of $VIGIL_CONFIG or /etc/default/vigil, else /run/vigil/admin.sock), and
// the reply is printed as the daemon formatted it (or as JSON with --json); the exit code is
// the daemon's. The CLI's own commands (keygen, demo, ...) are in local-commands.ts. Invoked through a symlink named like a command
// (e.g. eqv_list -> vigil), it behaves as `vigil eqv_list`, as the seeds' tools did.
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { optionKey, type CommandSpec } from '../admin/command-specs.js';
import { EXIT_USAGE } from '../admin/exit-codes.js';
import { DEFAULT_ADMIN_SOCKET, type AdminRequest } from '../admin/protocol.js';
import { DEFAULT_CONFIG_PATH, readConfigValue } from '../common/config-file.js';
import { sendAdminRequest } from './admin-client.js';
import { DAEMON_COMMAND_SPECS } from './command-table.js';
import { LOCAL_COMMANDS, targetCommand } from './local-commands.js';

/** --socket, then $VIGIL_ADMIN_SOCKET, then VIGIL_ADMIN_SOCKET in the daemon's config file, then the default. */
function socketPath(program: Command): string {
  return (
    (program.opts().socket as string | undefined) ||
    process.env.VIGIL_ADMIN_SOCKET ||
    readConfigValue(process.env.VIGIL_CONFIG || DEFAULT_CONFIG_PATH, 'VIGIL_ADMIN_SOCKET') ||
    DEFAULT_ADMIN_SOCKET
  );
}

async function runDaemonCommand(program: Command, spec: CommandSpec, cmd: Command): Promise<void> {
  const raw = cmd.opts() as Record<string, string | boolean | string[]>;
  const json = raw.json === true || program.opts().json === true;
  const options: AdminRequest['options'] = {};
  for (const o of spec.options) {
    const k = optionKey(o.flags);
    if (raw[k] !== undefined) options[k] = raw[k]!;
  }
  const req: AdminRequest = { id: 1, command: spec.name, options, args: cmd.args, json };
  if (spec.destsys && typeof raw.d === 'string') req.destsys = raw.d;
  const reply = await sendAdminRequest(socketPath(program), req);
  if (json) process.stdout.write(JSON.stringify(reply.data ?? null, null, 2) + '\n');
  else process.stdout.write(reply.stdout);
  process.stderr.write(reply.stderr);
  process.exitCode = reply.exitCode;
}

export function buildProgram(): Command {
  const program = new Command('vigil')
    .description('Vigil high-availability cluster administration')
    .option('--socket <path>', 'admin socket of the local vigild (default: $VIGIL_ADMIN_SOCKET or /run/vigil/admin.sock)')
    .option('--json', 'print the structured result as JSON')
    .exitOverride()
    .showHelpAfterError()
    // Global options only before the command word, so `vigil devices --json` reaches devices.
    .enablePositionalOptions();
  for (const spec of DAEMON_COMMAND_SPECS) {
    const cmd = program.command(spec.args ? `${spec.name} ${spec.args}` : spec.name).description(spec.summary);
    if (spec.destsys) cmd.option('-d <destsys>', 'run the command on this system instead of the local one');
    for (const o of spec.options) {
      if (o.required) cmd.requiredOption(o.flags, o.description);
      else cmd.option(o.flags, o.description);
    }
    cmd.option('--json', 'print the structured result as JSON');
    cmd.exitOverride();
    cmd.action(async (...a: unknown[]) => runDaemonCommand(program, spec, a[a.length - 1] as Command));
  }
  return program;
}

/** Add the CLI's own commands: the one being run for real, the others as entries in the help list. */
async function addLocalCommands(program: Command, target: string | undefined): Promise<void> {
  const socketOf = () => program.opts().socket as string | undefined;
  for (const lc of LOCAL_COMMANDS) {
    if (lc.name === target) program.addCommand(await lc.load(socketOf));
    else program.command(lc.name).description(lc.summary);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const invokedAs = path.basename(process.argv[1] ?? '').replace(/\.js$/, '');
  if (DAEMON_COMMAND_SPECS.some((s) => s.name === invokedAs)) argv.unshift(invokedAs);
  const program = buildProgram();
  await addLocalCommands(program, targetCommand(argv));
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    throw err;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`vigil: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 4;
});
