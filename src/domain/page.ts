/**
 * Keyset pagination in domain terms. A position is the sort value and id of the last row
 * a client has seen; the next page starts strictly after it in (value, id) order, so rows
 * inserted meanwhile can neither repeat nor shift a page.
 */
export type SortDirection = 'asc' | 'desc';

export interface Sort<F extends string> {
  readonly field: F;
  readonly direction: SortDirection;
}

/** Sort values travel as strings (ISO time, decimal text, names) to stay exact. */
export interface Position {
  readonly value: string;
  readonly id: string;
}

export interface ListQuery<F extends string, Filter> {
  readonly sort: Sort<F>;
  readonly after: Position | null;
  readonly limit: number;
  readonly filter: Filter;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Where the next page starts, or null on the last page. */
  readonly next: Position | null;
}

/**
 * Turns `limit + 1` fetched rows into a page: the extra row only proves that a next page
 * exists, which saves a COUNT query.
 */
export function toPage<T extends { id: string }>(
  rows: readonly T[],
  limit: number,
  sortValue: (row: T) => string,
): Page<T> {
  if (rows.length <= limit) return { items: rows, next: null };
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  if (last === undefined) return { items, next: null };
  return { items, next: { value: sortValue(last), id: last.id } };
}
