// Left-aligned text columns for the status commands' output.

/** Lay out rows as left-aligned columns separated by two spaces. */
export function table(header: string[], rows: (string | number)[][]): string {
  const all = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  return all.map((r) => '  ' + r.map((f, c) => (c === r.length - 1 ? f : f.padEnd(widths[c]!))).join('  ') + '\n').join('');
}
