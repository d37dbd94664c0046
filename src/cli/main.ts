#!/usr/bin/env node
// vigil: the administration CLI. Each daemon command is parsed from its spec (command-table.ts),
// sent to the local vigild over the admin socket (--socket, $VIGIL_ADMIN_SOCKET, the
// VIGIL_ADMIN_SOCKET of $VIGIL_CONFIG or /etc/default/vigil, else /run/vigil/admin.sock), and
// the reply is printed as the daemon formatted it (or as JSON with --json); the exit code is
// the daemon's. The CLI's own commands (keygen, demo, ...) are in local-commands.ts. Invoked through a symlink named like a command
// (e.g. eqv_list -> vigil), it behaves as `vigil eqv_list`, as the seeds' tools did.
// For scripts: with --json every outcome, errors included (no agent, bad command line), is one
// JSON object on stdout and the exit code is the same as without it. A bad command line gets
// a one-line usage hint, not the whole help.
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { optionKey, type CommandSpec } from '../admin/command-specs.js';
import { EXIT_INTERNAL, EXIT_OK, EXIT_USAGE } from '../admin/exit-codes.js';
import { DEFAULT_ADMIN_SOCKET, type AdminRequest } from '../admin/protocol.js';
import { DEFAULT_CONFIG_PATH, readConfigValue } from '../common/config-file.js';
import { vigilVersion } from '../common/version.js';
import { jsonError, wantsJson } from './json-output.js';
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
  if (json && reply.exitCode !== EXIT_OK) process.stdout.write(jsonError(reply.exitCode, reply.data, reply.stderr));
  else if (json) process.stdout.write(JSON.stringify(reply.data ?? null, null, 2) + '\n');
  else process.stdout.write(reply.stdout);
  if (!json) process.stderr.write(reply.stderr);
  process.exitCode = reply.exitCode;
}

export function buildProgram(): Command {
  const program = new Command('vigil')
    .description('Vigil high-availability cluster administration')
    .option('--socket <path>', 'admin socket of the local vigild (default: $VIGIL_ADMIN_SOCKET or /run/vigil/admin.sock)')
    .option('--json', 'print the structured result as JSON')
    .version(vigilVersion(), '-V, --version', 'print the version of vigil')
    .exitOverride()
    .showHelpAfterError('usage: vigil [--json] [--socket <path>] <command> [options]   (vigil --help lists the commands)')
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
    oneUsageLine(cmd);
    cmd.action(async (...a: unknown[]) => runDaemonCommand(program, spec, a[a.length - 1] as Command));
  }
  return program;
}

/**
 * After a command-line error, `cmd` (and each of its subcommands) prints one usage line naming
 * where the full help is, not the whole help.
 */
function oneUsageLine(cmd: Command, parents = ''): void {
  const name = `${parents}${cmd.name()}`;
  cmd.showHelpAfterError(`usage: vigil ${name} ${cmd.usage()}   (vigil ${name} --help explains the options)`);
  for (const sub of cmd.commands) oneUsageLine(sub, `${name} `);
}

/** Add the CLI's own commands: the one being run for real, the others as entries in the help list. */
async function addLocalCommands(program: Command, target: string | undefined): Promise<void> {
  const socketOf = () => program.opts().socket as string | undefined;
  for (const lc of LOCAL_COMMANDS) {
    if (lc.name === target) {
      const cmd = await lc.load(socketOf);
      oneUsageLine(cmd);
      program.addCommand(cmd);
    } else program.command(lc.name).description(lc.summary);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const invokedAs = path.basename(process.argv[1] ?? '').replace(/\.js$/, '');
  if (DAEMON_COMMAND_SPECS.some((s) => s.name === invokedAs)) argv.unshift(invokedAs);
  const program = buildProgram();
  await addLocalCommands(program, targetCommand(argv));
  // Under --json commander's own error text is collected and printed as a JSON object instead.
  const json = wantsJson(argv);
  let usageText = '';
  if (json) {
    const quiet = { writeErr: (t: string) => void (usageText += t), outputError: (t: string) => void (usageText += t) };
    // Subcommands too (standby status): commander reports an error through the command it hit.
    const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
    for (const c of all(program)) c.configureOutput(quiet);
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      if (json && err.exitCode !== 0) process.stdout.write(jsonError(EXIT_USAGE, undefined, usageText.split('\n')[0] ?? err.message));
      return;
    }
    throw err;
  }
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  if (wantsJson(process.argv.slice(2))) process.stdout.write(jsonError(EXIT_INTERNAL, undefined, message));
  else process.stderr.write(`vigil: ${message}\n`);
  process.exitCode = EXIT_INTERNAL;
});
