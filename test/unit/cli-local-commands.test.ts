// The CLI loads its own commands lazily: the command word is found after global options and
// through `help NAME`, and every local command's module really builds a command of that name.
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { LOCAL_COMMANDS, targetCommand } from '../../src/cli/local-commands.js';

describe('targetCommand', () => {
  it.each([
    [['keygen', '--force'], 'keygen'],
    [['--socket', '/run/x.sock', 'devices', '--json'], 'devices'],
    [['--json', 'eqv_list', '-t', 'x'], 'eqv_list'],
    [['help', 'demo'], 'demo'],
    [['--help'], undefined],
    [[], undefined],
  ])('%j -> %s', (argv, want) => {
    expect(targetCommand(argv)).toBe(want);
  });
});

describe('LOCAL_COMMANDS', () => {
  it('each loader builds the command it is listed as', async () => {
    for (const lc of LOCAL_COMMANDS) {
      const cmd = await lc.load(() => undefined);
      expect(cmd.name()).toBe(lc.name);
    }
  });

  it("a bad option is thrown to vigil's main (exit 2 and one usage line there), not exit 1 inside commander", async () => {
    const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
    // The NetRAID utilities end with the seeds' own return codes instead (netraid.ts).
    for (const lc of LOCAL_COMMANDS.filter((l) => !l.name.startsWith('netraid_'))) {
      for (const cmd of all(await lc.load(() => undefined))) {
        cmd.configureOutput({ writeErr: () => undefined, outputError: () => undefined });
        expect(() => cmd.parse(['--no-such-option'], { from: 'user' }), `${lc.name} ${cmd.name()}`).toThrow(CommanderError);
      }
    }
  });
});
