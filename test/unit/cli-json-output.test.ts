// The CLI's --json error object: the agent's structured error when it sent one, else the error
// text (no agent, bad command line) as the message; --json is found wherever it is given.
import { describe, expect, it } from 'vitest';
import { jsonError, wantsJson } from '../../src/cli/json-output.js';

describe('wantsJson', () => {
  it.each([
    [['--json', 'sys_list'], true],
    [['sys_list', '--json'], true],
    [['sys_list'], false],
    [['demo', '--', '--json'], false],
  ])('%j -> %s', (argv, want) => expect(wantsJson(argv)).toBe(want));
});

describe('jsonError', () => {
  it("keeps the agent's error with its number", () => {
    const data = { error: { number: 424, message: `can't remove entry for local system "a"`, details: { system: 'a' } } };
    expect(JSON.parse(jsonError(1, data, 'Process: sys_remove(1)\n*ERROR* (No. 424) ...\n'))).toEqual({ error: data.error, exitCode: 1 });
  });
  it('turns plain error text into a message without the vigil:/error: prefixes', () => {
    expect(JSON.parse(jsonError(3, undefined, 'vigil: cannot reach vigild at /x (ENOENT): is vigild running?\n'))).toEqual({
      error: { number: 0, message: 'cannot reach vigild at /x (ENOENT): is vigild running?' },
      exitCode: 3,
    });
    expect(JSON.parse(jsonError(2, undefined, "error: unknown option '--bogus'"))).toEqual({ error: { number: 0, message: "unknown option '--bogus'" }, exitCode: 2 });
  });
  it('is one line', () => {
    expect(jsonError(4, undefined, 'a\nb\n').trimEnd()).not.toContain('\n');
  });
});
