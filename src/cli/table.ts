/** One column of a {@link formatTable} table. */
export interface Column {
  /** The header cell. */
  readonly header: string;
  /** Longest cell: longer ones are cut to this length, ending in "…". Default: no limit. */
  readonly max?: number;
  /**
   * A fixed width: header and cells are padded (or cut) to it whatever the rows hold — for rows
   * printed in batches under one header (`audit tail --follow`). Default: the widest cell.
   */
  readonly width?: number;
}

/** Options for {@link formatTable}. */
export interface TableOptions {
  /** Print the header line. Default true. */
  readonly header?: boolean;
}

const cut = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, Math.max(0, n - 1))}…`);

/**
 * A borderless text table: columns two spaces apart, each as wide as its widest cell (or its
 * fixed `width`), the last one unpadded, no trailing spaces. One line per row, each ending in "\n".
 */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[], options: TableOptions = {}): string {
  const cells = rows.map((row) => columns.map((c, i) => cut(row[i] ?? "", Math.min(c.max ?? Infinity, c.width ?? Infinity))));
  const widths = columns.map((c, i) => c.width ?? Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const lines = options.header === false ? [] : [line(columns.map((c, i) => cut(c.header, widths[i]!)))];
  for (const row of cells) lines.push(line(row));
  return lines.map((l) => `${l}\n`).join("");
}
