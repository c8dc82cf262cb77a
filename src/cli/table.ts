// Column-aligned text tables for the CLI's plain output (mqadmin's `#Header` style).

/** `rows` (the first one the header) as lines, each column padded to its widest cell. */
export function tableLines(rows: readonly (readonly string[])[]): string[] {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
}

/** A time in ms since the epoch as ISO 8601 (UTC); '-' for none. */
export function timeText(ms: number | null): string {
  return ms === null || ms <= 0 || !Number.isFinite(ms) ? '-' : new Date(ms).toISOString();
}
