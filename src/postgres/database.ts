import type pg from 'pg';
import { translateDatabaseError } from './errors.js';
import type { DatabaseGate } from './gate.js';
import { queryWithin } from './pool.js';

export type Row = Record<string, unknown>;

/** The row a statement with RETURNING produced. */
export function firstRow(result: pg.QueryResult<Row>): Row {
  const row = result.rows[0];
  if (row === undefined) throw new Error('a statement with RETURNING produced no row');
  return row;
}

/** Where a repository's statements run: the shared pool, or one transaction's connection. */
export interface Sql {
  /** `signal`: the caller's deadline; when it aborts, the statement is cancelled on the server (pool only). */
  query<R extends pg.QueryResultRow = Row>(
    statement: string | pg.QueryConfig,
    signal?: AbortSignal,
  ): Promise<pg.QueryResult<R>>;
  /**
   * True on the pool, where independent callers meet, so the calls of one event-loop turn may
   * share statements; false inside a transaction, whose statements are its own.
   */
  readonly shared: boolean;
}

/** The pool behind the circuit breaker, each statement bounded by `deadlineMs`. */
export class Database implements Sql {
  readonly shared = true;
  readonly #pool: pg.Pool;
  readonly #gate: DatabaseGate;
  readonly #deadlineMs: number;

  constructor(pool: pg.Pool, gate: DatabaseGate, deadlineMs: number) {
    this.#pool = pool;
    this.#gate = gate;
    this.#deadlineMs = deadlineMs;
  }

  query<R extends pg.QueryResultRow = Row>(
    statement: string | pg.QueryConfig,
    signal?: AbortSignal,
  ): Promise<pg.QueryResult<R>> {
    return this.#gate.run(() => queryWithin<R>(this.#pool, statement, this.#deadlineMs, 'from checkout', signal));
  }

  /**
   * Runs `work` in one transaction on one connection: COMMIT when it resolves, ROLLBACK when
   * it throws. The breaker admits the transaction as a whole.
   */
  async transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    try {
      return await this.#gate.run(() => this.#inTransaction(work));
    } catch (err) {
      throw translateDatabaseError(err);
    }
  }

  /**
   * One connection for its caller alone, until `release`: for work that spans statements
   * without a transaction (a session-level advisory lock). Releasing with an error closes it.
   */
  async session(): Promise<Session> {
    const client = await this.#gate.run(() => this.#pool.connect());
    let broken: Error | undefined;
    const onError = (err: Error): void => {
      broken = err;
    };
    client.on('error', onError);
    return {
      sql: new ClientSql(client, this.#deadlineMs),
      release: (err?: Error) => {
        client.off('error', onError);
        client.release(err ?? broken);
      },
    };
  }

  async #inTransaction<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    const sql = new ClientSql(client, this.#deadlineMs);
    let broken: Error | undefined;
    // A checked-out client has no listener of the pool's: a connection that dies mid-way
    // (pg_terminate_backend, a restart) would emit an unhandled 'error' and end the process.
    const onError = (err: Error): void => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await sql.query('BEGIN');
      const result = await work(sql);
      await sql.query('COMMIT');
      return result;
    } catch (err) {
      // Behind a statement that never answered, the ROLLBACK waits too: past its deadline the
      // connection counts as broken and is destroyed instead of going back to the pool.
      await sql.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw err;
    } finally {
      client.off('error', onError);
      // A connection that failed mid-way is destroyed, or it would poison the next checkout.
      client.release(broken);
    }
  }
}

/** A connection held by one caller (a transaction, a session); its holder releases it. */
export interface Session {
  readonly sql: Sql;
  /** Back to the pool; with an error, the connection is closed instead (and its session locks freed). */
  release(err?: Error): void;
}

/** One checked-out connection's statements (a transaction's, a session's). */
class ClientSql implements Sql {
  readonly shared = false;
  readonly #client: pg.PoolClient;
  readonly #deadlineMs: number;

  constructor(client: pg.PoolClient, deadlineMs: number) {
    this.#client = client;
    this.#deadlineMs = deadlineMs;
  }

  query<R extends pg.QueryResultRow = Row>(statement: string | pg.QueryConfig): Promise<pg.QueryResult<R>> {
    return queryWithin<R>(this.#client, statement, this.#deadlineMs);
  }
}
