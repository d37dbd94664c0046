// `vigil keygen`: creates the cluster key file (mode 0600, owner-only). The same file is then
// copied to every node over a secure channel; nodes with different keys cannot talk.
import { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_CONFIG_PATH, readConfigValue } from '../common/config-file.js';
import { VigilError } from '../common/errors.js';
import { DEFAULT_KEY_FILE, generateClusterSecret, writeKeyFile } from './cluster-key.js';

export function keygenCommand(): Command {
  // exitOverride: a bad command line reaches vigil's main, which exits 2 with one usage line.
  return new Command('keygen')
    .exitOverride()
    .description('create the cluster key file (root-only, mode 0600) used to authenticate and encrypt comm paths')
    .option('-f, --file <path>', 'key file to write (default: $VIGIL_KEY_FILE, VIGIL_KEY_FILE of $VIGIL_CONFIG or /etc/default/vigil, else /etc/vigil/cluster.key)')
    .option('--force', 'replace an existing key file (nodes keeping the old key are cut off)', false)
    .action((opts: { file?: string; force: boolean }) => {
      // Same resolution as vigild's, so the key lands where the agent will look for it.
      const path =
        opts.file ||
        process.env.VIGIL_KEY_FILE ||
        readConfigValue(process.env.VIGIL_CONFIG || DEFAULT_CONFIG_PATH, 'VIGIL_KEY_FILE') ||
        DEFAULT_KEY_FILE;
      try {
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        writeKeyFile(path, generateClusterSecret(), opts.force);
        process.stdout.write(`wrote cluster key ${path} (mode 0600); copy it to every node of the cluster\n`);
      } catch (e) {
        const msg = e instanceof VigilError ? e.format() : `Error: ${(e as Error).message}`;
        process.stderr.write(`${msg}\n`);
        process.exitCode = 1;
      }
    });
}
