/** Plain-text formatting for the CLI's tables. */

export const thousands = (n: number): string => n.toLocaleString('en-US');

export function si(n: number, unit = ''): string {
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(2)} G${unit}`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)} M${unit}`;
  if (abs >= 1e3) return `${(n / 1e3).toFixed(2)} k${unit}`;
  return `${n} ${unit}`.trimEnd();
}

export const bytes = (n: number): string => si(n, 'B');

/** A left/right aligned text table; `align` has 'l' or 'r' per column. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], align: string): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
