import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { ListQuery } from '../domain/page.js';
import type { ResourceRepository, WriteOutcome } from '../services/resource-service.js';
import { translateDatabaseError, type UniqueConstraint } from './errors.js';
import type { DatabaseGate } from './gate.js';
import { queryWithin, statementDeadlineMs } from './pool.js';
import { transactionClient } from './transaction.js';

export interface SortColumn {
  readonly column: string;
  /** SQL type the cursor's text value is cast to, e.g. "timestamptz". */
  readonly type: string;
}

/** Everything that differs between the products and users tables. */
export interface TableSpec<T, Fields, SortField extends string, Filter> {
  readonly table: string;
  /** Client-owned columns, named as the domain fields are. */
  readonly writable: readonly (keyof Fields & string)[];
  /** SQL type of each writable column, for batched inserts through unnest(). */
  readonly columnTypes: Readonly<Record<keyof Fields & string, string>>;
  /** Converts a domain value into a query parameter (e.g. a price into exact decimal text). */
  readonly toParam: (field: keyof Fields & string, value: unknown) => unknown;
  /** The SELECT list that `fromRow` reads. */
  readonly selectList: string;
  readonly fromRow: (row: Record<string, unknown>) => T;
  readonly sortColumns: Readonly<Record<SortField, SortColumn>>;
  /** Appends parameters to `params` and returns SQL conditions that are ANDed together. */
  readonly filterConditions: (filter: Filter, params: unknown[]) => string[];
  /** Unique constraints by name, for turning 23505 into a ConflictError. */
  readonly uniqueConstraints: Readonly<Record<string, UniqueConstraint>>;
}

/** Escapes LIKE wildcards so that a user's `%` or `_` matches itself (see filter `q`). */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * A ResourceRepository over one table. All statements are single round-trips; the version
 * check of a conditional write sits in the UPDATE/DELETE's WHERE clause, so it is atomic.
 */
export class TableRepository<T, Fields, SortField extends string, Filter> implements ResourceRepository<
  T,
  Fields,
  SortField,
  Filter
> {
  readonly #pool: pg.Pool;
  readonly #gate: DatabaseGate;
  readonly #deadlineMs: number;
  readonly #spec: TableSpec<T, Fields, SortField, Filter>;
  readonly #insertSql: string;
  readonly #selectByIdSql: string;
  readonly #selectByIdsSql: string;
  readonly #batchInsertSql: string;
  /** Inserts requested during the current turn of the event loop, written by one statement. */
  #pendingInserts:
    { id: string; values: unknown[]; resolve: (row: T) => void; reject: (err: unknown) => void }[] | null = null;
  /** Reads by id requested during the current turn of the event loop, answered by one query. */
  #pendingReads: Map<string, { resolve: (row: T | null) => void; reject: (err: unknown) => void }[]> | null = null;
  /** List statements requested during the current turn, by text and parameters. */
  #pendingLists: Map<
    string,
    {
      statement: { text: string; values: unknown[] };
      waiters: { resolve: (rows: readonly T[]) => void; reject: (err: unknown) => void }[];
    }
  > | null = null;

  constructor(pool: pg.Pool, gate: DatabaseGate, spec: TableSpec<T, Fields, SortField, Filter>) {
    this.#pool = pool;
    this.#gate = gate;
    this.#deadlineMs = statementDeadlineMs(pool);
    this.#spec = spec;
    const columns = spec.writable.join(', ');
    const placeholders = spec.writable.map((_, i) => `$${i + 2}`).join(', ');
    this.#insertSql = `INSERT INTO ${spec.table} (id, ${columns}) VALUES ($1, ${placeholders}) RETURNING ${spec.selectList}`;
    this.#selectByIdSql = `SELECT ${spec.selectList} FROM ${spec.table} WHERE id = $1`;
    this.#selectByIdsSql = `SELECT ${spec.selectList} FROM ${spec.table} WHERE id = ANY($1::uuid[])`;
    const arrays = ['$1::uuid[]', ...spec.writable.map((field, i) => `$${i + 2}::${spec.columnTypes[field]}[]`)].join(
      ', ',
    );
    // DO NOTHING: a row that loses a unique-key race (even against another row of the same
    // batch) is left out of RETURNING instead of failing everyone else's insert.
    this.#batchInsertSql = `INSERT INTO ${spec.table} (id, ${columns}) SELECT * FROM unnest(${arrays}) ON CONFLICT DO NOTHING RETURNING ${spec.selectList}`;
  }

  /**
   * Concurrent creates are batched like reads: one multi-row INSERT (one round trip, one
   * commit) for every insert requested in the same event-loop turn. Each row is committed
   * before its caller hears of it. A row missing from RETURNING lost a unique-key race and
   * is retried alone, so its caller gets the precise ConflictError; a batch that fails as a
   * whole (a bad value in one row) falls back to single inserts, so no caller pays for
   * another's error.
   */
  insert(id: string, fields: Fields): Promise<T> {
    const values = [id, ...this.#spec.writable.map((field) => this.#spec.toParam(field, fields[field]))];
    if (transactionClient() !== undefined) return this.#insertOne(values);
    return new Promise((resolve, reject) => {
      if (this.#pendingInserts === null) {
        this.#pendingInserts = [];
        setImmediate(() => void this.#flushInserts());
      }
      this.#pendingInserts.push({ id, values, resolve, reject });
    });
  }

  async #flushInserts(): Promise<void> {
    const batch = this.#pendingInserts ?? [];
    this.#pendingInserts = null;
    const alone = (entry: (typeof batch)[number]) => this.#insertOne(entry.values).then(entry.resolve, entry.reject);
    if (batch.length === 1) return alone(batch[0] as (typeof batch)[number]);
    let inserted: Map<string, T>;
    try {
      const columns = this.#spec.writable.map((_, column) => batch.map((entry) => entry.values[column + 1]));
      const result = await this.#query({
        name: `${this.#spec.table}-insert-batch`,
        text: this.#batchInsertSql,
        values: [batch.map((e) => e.id), ...columns],
      });
      inserted = new Map(result.rows.map((row) => [row.id as string, this.#spec.fromRow(row)]));
    } catch {
      await Promise.all(batch.map(alone));
      return;
    }
    const retries: Promise<void>[] = [];
    for (const entry of batch) {
      const row = inserted.get(entry.id);
      if (row === undefined) retries.push(alone(entry));
      else entry.resolve(row);
    }
    await Promise.all(retries);
  }

  async #insertOne(values: unknown[]): Promise<T> {
    // Named: parsed and planned once per connection.
    const result = await this.#query({ name: `${this.#spec.table}-insert`, text: this.#insertSql, values });
    return this.#spec.fromRow(firstRow(result));
  }

  /**
   * Concurrent reads are batched: every findById called before the event loop's next check
   * phase is answered by a single `WHERE id = ANY($1)` query. Under load that turns dozens
   * of round trips, parses and plans into one, for the database and for this process alike.
   * Inside a transaction the read goes straight to the transaction's connection.
   */
  findById(id: string): Promise<T | null> {
    if (transactionClient() !== undefined) return this.#findOne(id);
    return new Promise((resolve, reject) => {
      if (this.#pendingReads === null) {
        this.#pendingReads = new Map();
        setImmediate(() => void this.#flushReads());
      }
      const waiting = this.#pendingReads.get(id);
      if (waiting === undefined) this.#pendingReads.set(id, [{ resolve, reject }]);
      else waiting.push({ resolve, reject });
    });
  }

  async #flushReads(): Promise<void> {
    const batch = this.#pendingReads;
    this.#pendingReads = null;
    if (batch === null) return;
    try {
      const ids = [...batch.keys()];
      const found = new Map<string, T>();
      if (ids.length === 1) {
        const row = await this.#findOne(ids[0] ?? '');
        if (row !== null) found.set(ids[0] ?? '', row);
      } else {
        const result = await this.#query({
          name: `${this.#spec.table}-by-ids`,
          text: this.#selectByIdsSql,
          values: [ids],
        });
        for (const row of result.rows) found.set(row.id as string, this.#spec.fromRow(row));
      }
      for (const [id, waiters] of batch) for (const waiter of waiters) waiter.resolve(found.get(id) ?? null);
    } catch (err) {
      for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(err);
    }
  }

  async #findOne(id: string): Promise<T | null> {
    const result = await this.#query({ name: `${this.#spec.table}-by-id`, text: this.#selectByIdSql, values: [id] });
    const row = result.rows[0];
    return row === undefined ? null : this.#spec.fromRow(row);
  }

  /**
   * Identical list queries requested in the same event-loop turn share one statement and
   * its rows: under load the hot pages (the first page, above all) are asked for by many
   * callers at once. Like the batched reads, the statement is sent after every caller that
   * shares it has asked, so each still sees every write acknowledged before its request.
   * The rows are shared, hence read-only.
   */
  list(query: ListQuery<SortField, Filter>): Promise<readonly T[]> {
    const statement = this.#listStatement(query);
    if (transactionClient() !== undefined) return this.#listNow(statement);
    return new Promise((resolve, reject) => {
      if (this.#pendingLists === null) {
        this.#pendingLists = new Map();
        setImmediate(() => this.#flushLists());
      }
      const key = `${statement.text}\0${JSON.stringify(statement.values)}`;
      const shared = this.#pendingLists.get(key);
      if (shared === undefined) this.#pendingLists.set(key, { statement, waiters: [{ resolve, reject }] });
      else shared.waiters.push({ resolve, reject });
    });
  }

  #flushLists(): void {
    const batch = this.#pendingLists;
    this.#pendingLists = null;
    if (batch === null) return;
    for (const { statement, waiters } of batch.values()) {
      this.#listNow(statement).then(
        (rows) => {
          for (const waiter of waiters) waiter.resolve(rows);
        },
        (err: unknown) => {
          for (const waiter of waiters) waiter.reject(err);
        },
      );
    }
  }

  #listStatement(query: ListQuery<SortField, Filter>): { text: string; values: unknown[] } {
    const params: unknown[] = [];
    const conditions = this.#spec.filterConditions(query.filter, params);
    const { column, type } = this.#spec.sortColumns[query.sort.field];
    const descending = query.sort.direction === 'desc';
    if (query.after !== null) {
      params.push(query.after.value, query.after.id);
      // A row-value comparison walks the (column, id) index from the cursor onwards: page
      // 1000 costs what page 1 costs. Both columns share one direction, so one index serves.
      conditions.push(
        `(${column}, id) ${descending ? '<' : '>'} ($${params.length - 1}::${type}, $${params.length}::uuid)`,
      );
    }
    params.push(query.limit);
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const direction = descending ? 'DESC' : 'ASC';
    const text = `SELECT ${this.#spec.selectList} FROM ${this.#spec.table} ${where} ORDER BY ${column} ${direction}, id ${direction} LIMIT $${params.length}`;
    return { text, values: params };
  }

  async #listNow({ text, values }: { text: string; values: unknown[] }): Promise<T[]> {
    // Named by its text: the server parses and plans each shape once per connection. The
    // shapes are bounded (filters present × sort × direction × first page or not).
    const result = await this.#query({ name: statementName(this.#spec.table, text), text, values });
    return result.rows.map((row) => this.#spec.fromRow(row));
  }

  async update(id: string, changes: Partial<Fields>, expectedVersion: number | undefined): Promise<WriteOutcome<T>> {
    const params: unknown[] = [id];
    const assignments: string[] = [];
    for (const field of this.#spec.writable) {
      if (changes[field] === undefined) continue;
      params.push(this.#spec.toParam(field, changes[field]));
      assignments.push(`${field} = $${params.length}`);
    }
    assignments.push('version = version + 1', 'updated_at = now()');
    const versionCheck = this.#versionCheck(expectedVersion, params);
    const text = `UPDATE ${this.#spec.table} SET ${assignments.join(', ')} WHERE id = $1${versionCheck} RETURNING ${this.#spec.selectList}`;
    const result = await this.#query({ text, values: params });
    const row = result.rows[0];
    if (row !== undefined) return this.#spec.fromRow(row);
    return this.#whyNotWritten(id, expectedVersion);
  }

  async delete(id: string, expectedVersion: number | undefined): Promise<WriteOutcome<true>> {
    const params: unknown[] = [id];
    const versionCheck = this.#versionCheck(expectedVersion, params);
    const result = await this.#query({
      text: `DELETE FROM ${this.#spec.table} WHERE id = $1${versionCheck}`,
      values: params,
    });
    if (result.rowCount === 1) return true;
    return this.#whyNotWritten(id, expectedVersion);
  }

  #versionCheck(expectedVersion: number | undefined, params: unknown[]): string {
    if (expectedVersion === undefined) return '';
    params.push(expectedVersion);
    return ` AND version = $${params.length}`;
  }

  /** A conditional write touched nothing: either the row is gone or its version moved on. */
  async #whyNotWritten(id: string, expectedVersion: number | undefined): Promise<'not_found' | 'version_mismatch'> {
    if (expectedVersion === undefined) return 'not_found';
    const exists = await this.#query({ text: `SELECT 1 FROM ${this.#spec.table} WHERE id = $1`, values: [id] });
    return exists.rowCount === 0 ? 'not_found' : 'version_mismatch';
  }

  async #query(config: pg.QueryConfig): Promise<pg.QueryResult<Record<string, unknown>>> {
    try {
      // Inside inTransaction (an idempotent create) this is the transaction's connection,
      // already admitted by the gate when the transaction began.
      const transaction = transactionClient();
      if (transaction !== undefined) return await queryWithin(transaction, config, this.#deadlineMs);
      return await this.#gate.run(() => queryWithin(this.#pool, config, this.#deadlineMs));
    } catch (err) {
      throw translateDatabaseError(err, this.#spec.uniqueConstraints);
    }
  }
}

const statementNames = new Map<string, string>();

function statementName(table: string, text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `${table}-list-${createHash('sha1').update(text).digest('hex').slice(0, 12)}`;
    statementNames.set(text, name);
  }
  return name;
}

function firstRow(result: pg.QueryResult<Record<string, unknown>>): Record<string, unknown> {
  const row = result.rows[0];
  if (row === undefined) throw new Error('statement with RETURNING produced no row');
  return row;
}
