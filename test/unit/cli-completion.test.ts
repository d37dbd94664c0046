// The bash completion script from `vigil completion`: command words, a command's flags, and
// tags / system names from the agent (a stand-in vigil answers ins_list and sys_list here),
// nothing when the agent does not answer.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderBashCompletion } from '../../src/cli/completion.js';

let dir: string;
let script: string;
let fakeCli: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-completion-'));
  script = path.join(dir, 'vigil.bash');
  fs.writeFileSync(script, await renderBashCompletion());
  fakeCli = path.join(dir, 'fake-vigil');
  fs.writeFileSync(
    fakeCli,
    `#!/bin/sh\ncase "$1" in\n  ins_list) printf 'BEN|gen|app|LK1-APP|app1|ISP|intelligent|\\nBEN|gen|filesys|Vol.E|/mnt/e|ISP|intelligent|\\n' ;;\n  sys_list) printf 'BENHOGAN\\nGPLAYER\\n' ;;\nesac\n`,
    { mode: 0o755 },
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Complete the last word of `line` (words split on spaces; a trailing space starts a new word). */
function complete(line: string, cli = fakeCli): string[] {
  const words = line.split(' ');
  const program = `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _vigil; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', program], { encoding: 'utf8', env: { ...process.env, VIGIL_COMPLETION_CLI: cli } });
  expect(r.stderr).toBe('');
  return r.stdout.split('\n').filter(Boolean).sort();
}

describe('vigil bash completion', () => {
  it('is valid bash', () => {
    expect(spawnSync('bash', ['-n', script]).status).toBe(0);
  });
  it('completes command words, also after global options', () => {
    expect(complete('vigil sys_')).toEqual(['sys_create', 'sys_list', 'sys_remove']);
    expect(complete('vigil --json ins_re')).toEqual(['ins_remove']);
    expect(complete('vigil ext')).toEqual(['extend']);
  });
  it("completes a command's flags", () => {
    expect(complete('vigil ins_remove -')).toEqual(['--help', '--json', '-G', '-I', '-N', '-R', '-a', '-d', '-i', '-r', '-t', '-v'].sort());
    expect(complete('vigil extend --acc')).toEqual(['--accept-defaults']);
  });
  it('completes tags and systems from the agent, by what the flag names', () => {
    expect(complete('vigil extend -t ')).toEqual(['LK1-APP', 'Vol.E']);
    expect(complete('vigil dep_create -p L')).toEqual(['LK1-APP']);
    expect(complete('vigil sys_remove -s G')).toEqual(['GPLAYER']);
    expect(complete('vigil eqv_list -d ')).toEqual(['BENHOGAN', 'GPLAYER']);
    // -s of ins_setas is a switchback type, not a system.
    expect(complete('vigil ins_setas -s ')).toEqual([]);
  });
  it('offers nothing for tags when the agent does not answer', () => {
    expect(complete('vigil extend -t ', '/bin/false')).toEqual([]);
  });
});
