// The CLI loads its own commands lazily: the command word is found after global options and
// through `help NAME`, and every local command's module really builds a command of that name.
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
});
