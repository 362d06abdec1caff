import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Position, SortDirection } from '../domain/page.js';

/** The column a sort field orders by, and the SQL type a cursor's text value is cast to. */
export interface KeysetColumn {
  readonly column: string;
  readonly type: string;
}

export interface KeysetPage {
  readonly direction: SortDirection;
  readonly after: Position | null;
  readonly limit: number;
}

/** Escapes LIKE wildcards so that a user's `%`, `_` or `\` matches itself. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * A keyset-paginated SELECT: the filters ANDed, then the page's start strictly after the
 * cursor's (sort value, id), ordered by (column, id), with a limit.
 */
export class ListStatement {
  readonly #values: unknown[] = [];
  readonly #conditions: string[] = [];

  /** Adds a filter; `condition` gets the placeholder of `value`. */
  where(condition: (placeholder: string) => string, value: unknown): void {
    this.#values.push(value);
    this.#conditions.push(condition(`$${this.#values.length}`));
  }

  /** The statement, named by its text so the server parses and plans each shape once per connection. */
  build(select: string, sort: KeysetColumn, page: KeysetPage): pg.QueryConfig & { values: unknown[] } {
    const values = [...this.#values];
    const conditions = [...this.#conditions];
    const { column, type } = sort;
    const descending = page.direction === 'desc';
    if (page.after !== null) {
      values.push(page.after.value, page.after.id);
      // A row-value comparison walks the (column, id) index from the cursor on: page 1000
      // costs what page 1 costs. Both columns share one direction, so one index serves.
      const cursor = `($${values.length - 1}::${type}, $${values.length}::uuid)`;
      conditions.push(`(${column}, id) ${descending ? '<' : '>'} ${cursor}`);
    }
    values.push(page.limit);
    const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
    const order = descending ? 'DESC' : 'ASC';
    const text = `${select}${where} ORDER BY ${column} ${order}, id ${order} LIMIT $${values.length}`;
    return { name: statementName(text), text, values };
  }
}

/** The shapes are bounded (filters present × sort × direction × first page or not). */
const statementNames = new Map<string, string>();

function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `list-${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    statementNames.set(text, name);
  }
  return name;
}
