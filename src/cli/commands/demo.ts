// `vigil demo`: runs the two-node failover demo (src/demo/demo.ts) on this machine.
import { Command } from 'commander';

export function demoCommand(): Command {
  // exitOverride: a bad command line reaches vigil's main, which exits 2 with one usage line.
  return new Command('demo')
    .exitOverride()
    .description('run a two-node cluster on 127.0.0.1/127.0.0.2 and show failover and switchback (root adds an ext4 file system on a loop device)')
    .option('--keep', 'keep the temporary directory (logs, LCDs) afterwards')
    .action(async (o: { keep?: boolean }) => {
      // Loaded on use: the demo pulls in the cluster key code the plain CLI does not need.
      const { runDemo } = await import('../../demo/demo.js');
      process.exitCode = await runDemo({ keep: o.keep === true });
    });
}
