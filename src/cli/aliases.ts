// `vigil aliases --dir DIR`: installs one small executable per daemon command (eqv_list,
// sys_remove, ...) so administrators and scripts can type the seeds' command names directly.
// Each is a two-line sh wrapper that runs this CLI with the command name; --remove deletes
// them again. Files that were not written by this command are never overwritten or removed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { DAEMON_COMMAND_SPECS } from './command-table.js';
import { LOCAL_COMMANDS } from './local-commands.js';

// Only the seeds' tool names get an executable of their own: generic words such as `create` or
// `delete` would shadow other programs on the administrator's PATH. Those stay `vigil create`.
const SEED_TOOL_NAME = /^(sys|net|eqv|ins|dep)_[a-z]+$|^lcdsync$|^lcdstatus$|^perform_action$|^netraid_[a-z]+$/;
export const ALIAS_COMMAND_NAMES: readonly string[] = [...DAEMON_COMMAND_SPECS.map((s) => s.name), ...LOCAL_COMMANDS.map((c) => c.name)].filter((n) =>
  SEED_TOOL_NAME.test(n),
);

const MARKER = '# vigil command alias';

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function ours(file: string): boolean {
  try {
    return fs.readFileSync(file, 'utf8').split('\n')[1] === MARKER;
  } catch {
    return false;
  }
}

export function aliasesCommand(): Command {
  // exitOverride: a bad command line reaches vigil's main, which exits 2 with one usage line.
  return new Command('aliases')
    .exitOverride()
    .description('install (or --remove) executables named like the seeds\' commands (eqv_list, sys_remove, ...) that run vigil')
    .requiredOption('--dir <dir>', 'directory to put them in, e.g. /usr/local/sbin')
    .option('--remove', 'remove the aliases installed there')
    .action((opts: { dir: string; remove?: boolean }) => {
      const cli = fileURLToPath(new URL('./main.js', import.meta.url));
      let refused = 0;
      let done = 0;
      for (const name of ALIAS_COMMAND_NAMES) {
        const file = path.join(opts.dir, name);
        const exists = fs.existsSync(file);
        if (exists && !ours(file)) {
          process.stderr.write(`vigil aliases: ${file} exists and was not installed by vigil; left alone\n`);
          refused++;
          continue;
        }
        if (opts.remove) {
          if (exists) {
            fs.rmSync(file);
            done++;
          }
          continue;
        }
        fs.mkdirSync(opts.dir, { recursive: true });
        const body = `#!/bin/sh\n${MARKER}\nexec ${shellQuote(process.execPath)} ${shellQuote(cli)} ${name} "$@"\n`;
        fs.writeFileSync(file, body, { mode: 0o755 });
        fs.chmodSync(file, 0o755);
        done++;
      }
      process.stdout.write(`${opts.remove ? 'removed' : 'installed'} ${done} command aliases in ${opts.dir}\n`);
      if (refused) process.exitCode = 1;
    });
}
