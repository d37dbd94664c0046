// The one error table: no number has two rows, docs/errors.md is generated from it (drift fails
// here; every number listed once), each number is printed in the seeds' form, and every error
// number the sources name is in the table (so no number is invented at a call site and none is
// missing from the reference).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CORE_ERRORS, ERROR_SECTIONS, errorEntry, errorNumbers, formatErrorLine } from '../../src/common/error-table.js';
import { VigilError } from '../../src/common/errors.js';
import { renderErrorReference } from '../../scripts/lib/error-reference.js';

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

  it('no number has two rows', () => {
    const numbers = ERROR_SECTIONS.flatMap((sec) => sec.rows.map((r) => r.number));
    const twice = numbers.filter((n, i) => numbers.indexOf(n) !== i);
    expect(twice).toEqual([]);
    expect(errorNumbers()).toHaveLength(numbers.length);
  });

  it('docs/errors.md lists every number of the table, each once', () => {
    const listed = [...renderErrorReference().matchAll(/^\| (?:Error (\d{6})|\*ERROR\* \(No\. (\d+)\)) \|/gm)].map((m) => Number(m[1] ?? m[2]));
    expect(listed.slice().sort((a, b) => a - b)).toEqual(errorNumbers());
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
    const numbers = Object.values(CORE_ERRORS).map((e) => e.number);
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

  it('every error number the sources name has a row', () => {
    // A kit's or subsystem's number anywhere in src (a call, a constant, a comment that points an
    // operator at it), and a literal number passed to anything that prints or raises one.
    const kitNumber = /\b10[4-8]\d{3}\b/g;
    const raised = /\b(?:VigilError|replicationError|formatReplicationError|renderMessage|renderErrorLine|formatErrorLine|err)\(\s*([1-9]\d*)\b/g;
    const missing: string[] = [];
    for (const f of sourceFiles(path.join(root, 'src'))) {
      if (f.startsWith(path.join(root, 'src/common/error-rows') + path.sep)) continue;
      const text = fs.readFileSync(f, 'utf8');
      for (const m of [...text.matchAll(kitNumber), ...text.matchAll(raised)]) {
        const n = Number(m[1] ?? m[0]);
        if (!errorEntry(n)) missing.push(`${path.relative(root, f)}: ${n}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
