// The one error table: docs/errors.md is generated from it and from the NAS kit's and data
// replication's tables (drift fails here; every number listed once), each number is printed in
// the seeds' form, and every error number the sources raise is in the table (so no number is
// invented at a call site and none is missing from the reference).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_TABLE, errorEntry, formatErrorLine } from '../../src/common/error-table.js';
import { VigilError } from '../../src/common/errors.js';
import { nasMessages } from '../../src/kits/nas/nas-errors.js';
import { REPLICATION_ERRORS } from '../../src/replication/errors.js';
import { errorSections, NAS_NUMBERS, NAS_PARAMETER_NAMES, renderErrorReference } from '../../scripts/lib/error-reference.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('error table', () => {
  it('docs/errors.md is up to date (npm run docs:errors)', () => {
    expect(fs.readFileSync(path.join(root, 'docs/errors.md'), 'utf8')).toBe(renderErrorReference());
  });

  it("docs/errors.md lists every number of the NAS kit's and data replication's tables, each once", () => {
    const listed = [...Object.values(ERROR_TABLE).map((e) => e.number), ...errorSections().flatMap((sec) => sec.rows.map((r) => r.number))];
    expect(new Set(listed).size).toBe(listed.length);
    for (const n of [...NAS_NUMBERS, ...Object.keys(REPLICATION_ERRORS).map(Number)]) expect(listed, String(n)).toContain(n);
    // Every NAS message is rendered with one name per parameter.
    for (const [k, fn] of Object.entries(nasMessages)) expect(NAS_PARAMETER_NAMES[k as keyof typeof nasMessages], k).toHaveLength(fn.length);
  });

  it("prints 424 in the seeds' core form and task errors as six digits", () => {
    expect(new VigilError(424, `can't remove entry for local system "BENHOGAN2008"`).format()).toBe(
      `*ERROR* (No. 424) can't remove entry for local system "BENHOGAN2008"`,
    );
    expect(formatErrorLine(14, 'Resource with either matching tag a or ID b exists')).toBe('Error 000014: Resource with either matching tag a or ID b exists');
    expect(formatErrorLine(107009, 'x')).toBe('Error 107009: x');
    expect(formatErrorLine(0, 'plain')).toBe('Error: plain');
  });

  it('numbers are unique and in the seeds’ task range 1-30 or a named product number', () => {
    const numbers = Object.values(ERROR_TABLE).map((e) => e.number);
    expect(new Set(numbers).size).toBe(numbers.length);
    for (const n of numbers) expect(n >= 1 && n <= 30 || n === 424 || n >= 100000, String(n)).toBe(true);
  });

  it('no source raises a literal error number: every number comes from the table', () => {
    const literal = /new VigilError\(\s*([1-9]\d*)\s*,/g;
    const found: string[] = [];
    for (const f of sourceFiles(path.join(root, 'src'))) {
      for (const m of fs.readFileSync(f, 'utf8').matchAll(literal)) found.push(`${path.relative(root, f)}: ${m[1]}`);
    }
    expect(found).toEqual([]);
  });

  it('every exported error-number constant is a table entry', async () => {
    const mods = [
      await import('../../src/hierarchy/tasks.js'),
      await import('../../src/admin/commands/ins.js'),
      await import('../../src/lcd/lcd.js'),
      await import('../../src/lcd/invariants.js'),
      await import('../../src/common/config.js'),
    ];
    for (const m of mods) {
      for (const [name, value] of Object.entries(m)) {
        if (!/^E(RR)?_[A-Z_]+$/.test(name) || typeof value !== 'number') continue;
        expect(errorEntry(value), `${name} = ${value}`).toBeDefined();
      }
    }
  });
});
