import type pg from 'pg';
import type { User, UserFields, UserSortField } from '../domain/user.js';
import type { UnitOfWork } from '../services/unit-of-work.js';
import type { UserListQuery, UserRepository, UserTransaction } from '../services/user-service.js';
import type { WriteOutcome } from '../services/write-outcome.js';
import { firstRow, type Database, type Row, type Sql } from './database.js';
import { translateDatabaseError, type UniqueConstraints } from './errors.js';
import { PostgresIdempotencyRecords, type SnapshotCodec } from './idempotency-records.js';
import { containsPattern, ListStatement, type KeysetColumn } from './list-statement.js';
import { currentTraceparent, isoMillis, type Outbox, type RowTraces } from './outbox.js';
import { findEach, insertEach, TurnBatcher } from './turn-batcher.js';
import { deleteStatement, updateStatement, whyNotWritten } from './versioned-writes.js';

const COLUMNS = 'id, email, name, created_at, updated_at, version';
const INSERT = `INSERT INTO users (id, email, name) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`;
// DO NOTHING: a row that loses a unique-key race (even to another row of its batch) is left
// out of RETURNING instead of failing every other row's insert.
const INSERT_BATCH = `INSERT INTO users (id, email, name) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])
  ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`;
// The event's data: the user as the REST API presents it (http/user-schemas.ts), nothing more.
const USER_JSON = `json_build_object('id', changed.id, 'email', changed.email, 'name', changed.name,
  'created_at', ${isoMillis('changed.created_at')}, 'updated_at', ${isoMillis('changed.updated_at')},
  'version', changed.version)`;
const SELECT_BY_ID = `SELECT ${COLUMNS} FROM users WHERE id = $1`;
const SELECT_BY_IDS = `SELECT ${COLUMNS} FROM users WHERE id = ANY($1::uuid[])`;

const SORT_COLUMNS: Readonly<Record<UserSortField, KeysetColumn>> = {
  created_at: { column: 'created_at', type: 'timestamptz' },
  name: { column: 'name', type: 'text' },
  email: { column: 'email', type: 'text' },
};

const UNIQUE: UniqueConstraints = {
  users_email_lower_key: { field: 'email', message: 'A user with this email address already exists' },
};

/**
 * Users in PostgreSQL. On the pool, the reads by id and the inserts of one event-loop turn are
 * batched, as for products (product-repository.ts).
 */
export class PostgresUserRepository implements UserRepository {
  readonly #sql: Sql;
  readonly #outbox: Outbox;
  readonly #batches:
    | {
        readonly reads: TurnBatcher<string, User | null>;
        readonly inserts: TurnBatcher<readonly unknown[], User>;
      }
    | undefined;

  constructor(sql: Sql, outbox: Outbox) {
    this.#sql = sql;
    this.#outbox = outbox;
    this.#batches = sql.shared
      ? {
          reads: new TurnBatcher((ids) => this.#findMany(ids)),
          inserts: new TurnBatcher((rows) => this.#insertMany(rows)),
        }
      : undefined;
  }

  insert(id: string, fields: UserFields): Promise<User> {
    const row = [id, fields.email, fields.name, currentTraceparent()];
    return this.#batches?.inserts.load(id, row) ?? this.#insertOne(row);
  }

  findById(id: string): Promise<User | null> {
    return this.#batches?.reads.load(id, id) ?? this.#findOne(id);
  }

  list(query: UserListQuery, signal?: AbortSignal): Promise<readonly User[]> {
    const { filter, sort } = query;
    const statement = new ListStatement();
    if (filter.email !== undefined) statement.where((p) => `lower(email) = lower(${p})`, filter.email);
    if (filter.q !== undefined) statement.where((p) => `name ILIKE ${p}`, containsPattern(filter.q));
    const select = statement.build(`SELECT ${COLUMNS} FROM users`, SORT_COLUMNS[sort.field], {
      ...query,
      direction: sort.direction,
    });
    return this.#select(select, signal);
  }

  async update(
    id: string,
    changes: Partial<UserFields>,
    expectedVersion?: number,
    signal?: AbortSignal,
  ): Promise<WriteOutcome<User>> {
    const columns = { email: changes.email, name: changes.name };
    const change = updateStatement('users', id, columns, expectedVersion, COLUMNS);
    const result = await this.#query(this.#outbox.updated(change, 'user', USER_JSON, id), signal);
    const row = result.rows[0];
    return row === undefined ? whyNotWritten(this.#sql, 'users', id, expectedVersion) : toUser(row);
  }

  async delete(id: string, expectedVersion?: number, signal?: AbortSignal): Promise<WriteOutcome<true>> {
    const change = deleteStatement('users', id, expectedVersion);
    const result = await this.#query(this.#outbox.deleted(change, 'user', id), signal);
    return result.rowCount === 1 ? true : whyNotWritten(this.#sql, 'users', id, expectedVersion);
  }

  async #insertOne(row: readonly unknown[]): Promise<User> {
    // Named: parsed and planned once per connection.
    const insert = { name: 'users-insert', text: INSERT, values: row.slice(0, 3) };
    const result = await this.#query(this.#outbox.created(insert, 'user', USER_JSON, traces([row])));
    return toUser(firstRow(result));
  }

  #insertMany(rows: readonly (readonly unknown[])[]): Promise<(User | Error)[]> {
    return insertEach(
      rows,
      (row) => this.#insertOne(row),
      async (batch) => {
        const columns = Array.from({ length: 3 }, (_, column) => batch.map((row) => row[column]));
        const insert = { name: 'users-insert-batch', text: INSERT_BATCH, values: columns };
        const result = await this.#query(this.#outbox.created(insert, 'user', USER_JSON, traces(batch)));
        return new Map(result.rows.map((row) => [row.id as string, toUser(row)]));
      },
    );
  }

  async #findOne(id: string): Promise<User | null> {
    const result = await this.#query({ name: 'users-by-id', text: SELECT_BY_ID, values: [id] });
    const row = result.rows[0];
    return row === undefined ? null : toUser(row);
  }

  #findMany(ids: readonly string[]): Promise<(User | null)[]> {
    return findEach(
      ids,
      (id) => this.#findOne(id),
      async (batch) => {
        const result = await this.#query({ name: 'users-by-ids', text: SELECT_BY_IDS, values: [batch] });
        return new Map(result.rows.map((row) => [row.id as string, toUser(row)]));
      },
    );
  }

  async #select(statement: pg.QueryConfig, signal?: AbortSignal): Promise<User[]> {
    const result = await this.#query(statement, signal);
    return result.rows.map(toUser);
  }

  async #query(statement: pg.QueryConfig, signal?: AbortSignal): Promise<pg.QueryResult<Row>> {
    try {
      return await this.#sql.query(statement, signal);
    } catch (err) {
      throw translateDatabaseError(err, UNIQUE);
    }
  }
}

/** Each row's id and trace context (a row is [id, email, name, traceparent]). */
function traces(rows: readonly (readonly unknown[])[]): RowTraces {
  return rows.map((row) => [row[0] as string, row[3] as string | null] as const);
}

/** User writes in one transaction: the change and the records that must commit with it. */
export function userTransactions(db: Database, outbox: Outbox): UnitOfWork<UserTransaction> {
  return {
    transaction: (work) =>
      db.transaction((sql) =>
        work({
          users: new PostgresUserRepository(sql, outbox),
          idempotency: new PostgresIdempotencyRecords(sql, SNAPSHOT),
        }),
      ),
  };
}

function toUser(row: Row): User {
  return {
    id: row.id as string,
    email: row.email as string,
    name: row.name as string,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
    version: row.version as number,
  };
}

/** A user as an idempotency record keeps it: its row as JSON (the REST representation's fields). */
const SNAPSHOT: SnapshotCodec<User> = {
  encode: (user) =>
    JSON.stringify({
      id: user.id,
      email: user.email,
      name: user.name,
      created_at: user.createdAt.toISOString(),
      updated_at: user.updatedAt.toISOString(),
      version: user.version,
    }),
  decode: (text) => {
    const row = JSON.parse(text) as Row;
    return toUser({
      ...row,
      created_at: new Date(row.created_at as string),
      updated_at: new Date(row.updated_at as string),
    });
  },
};
