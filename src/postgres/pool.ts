import pg from 'pg';
import type { Logger } from 'pino';
import { typeParsers } from './timestamps.js';

export interface PoolSettings {
  readonly url: string;
  readonly poolMax: number;
  readonly statementTimeoutMs: number;
  /** Opening one new connection. */
  readonly connectTimeoutMs: number;
  /** Waiting for a connection from the pool, queue included: a burst waits this long before a 503. */
  readonly acquireTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

export function createPool(settings: PoolSettings, logger: Logger): pg.Pool {
  // pg-pool applies its connectionTimeoutMillis to the wait in its queue as well as to a new
  // connection; the client's own connect timeout keeps a connection attempt on its shorter bound.
  const connectTimeoutMs = settings.connectTimeoutMs;
  class Client extends pg.Client {
    constructor(config?: pg.ClientConfig) {
      super({ ...config, connectionTimeoutMillis: connectTimeoutMs });
    }
  }
  const pool = new pg.Pool({
    Client,
    connectionString: settings.url,
    options: '-c TimeZone=UTC',
    types: typeParsers,
    max: settings.poolMax,
    application_name: 'product-user-service',
    // Bounded waits everywhere, so a sick database yields a 503 instead of a hang: the server
    // cancels long statements (57014); queryWithin gives up a second later in case the server
    // itself stopped answering; a connection attempt and the wait for a connection are capped too.
    statement_timeout: settings.statementTimeoutMs,
    idle_in_transaction_session_timeout: settings.statementTimeoutMs * 2,
    connectionTimeoutMillis: settings.acquireTimeoutMs,
    idleTimeoutMillis: settings.idleTimeoutMs,
    keepAlive: true,
  });
  // Without a listener, an idle client's error (database restart, pg_terminate_backend)
  // is an unhandled 'error' event and kills the process. The pool already discards the
  // client; the next checkout opens a fresh connection.
  pool.on('error', (err) => {
    logger.warn(
      { err: { message: err.message, code: (err as { code?: unknown }).code } },
      'idle database connection failed and was discarded',
    );
  });
  return pool;
}

/** Resolves when the database answers within `timeoutMs`, rejects otherwise. */
export async function pingDatabase(pool: pg.Pool, timeoutMs: number): Promise<void> {
  await queryWithin(pool, 'SELECT 1', timeoutMs);
}

/**
 * Runs one statement on the pool or on a checked-out client, and stops waiting after
 * `deadlineMs` with an error the error mapper answers as 503 ("Query read timeout").
 * On the pool, a connection that failed (no answer in time, a reset, a FATAL from the
 * server) is destroyed instead of being handed to the next caller; one whose statement
 * the server merely refused goes back (see `connectionSurvives`). A checked-out client is
 * its holder's to destroy (Database.transaction does).
 *
 * Not pg's own `query_timeout`: with it, V8 kept nearly every result row alive into the old
 * generation (docs/performance.md). Statements are sent with a callback, not as promises,
 * for the same reason: pg builds the promise's callback inside client.query too.
 */
export function queryWithin<R extends pg.QueryResultRow>(
  runner: pg.Pool | pg.PoolClient,
  statement: string | pg.QueryConfig,
  deadlineMs: number,
  waitCounts: WaitCounts = 'wait counts',
  signal?: AbortSignal,
): Promise<pg.QueryResult<R>> {
  return runner instanceof pg.Pool
    ? queryOnPool(runner, statement, deadlineMs, waitCounts, signal)
    : queryOnClient(runner, statement, deadlineMs);
}

/**
 * Whether the deadline also covers the wait for a pooled connection: yes for a readiness
 * ping, which promises an answer within its time whatever the pool is doing; no for the
 * service's statements, whose wait the pool's acquire timeout bounds, so that a burst queues.
 */
export type WaitCounts = 'wait counts' | 'from checkout';

function queryOnPool<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  statement: string | pg.QueryConfig,
  deadlineMs: number,
  waitCounts: WaitCounts,
  signal: AbortSignal | undefined,
): Promise<pg.QueryResult<R>> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let client: pg.PoolClient | undefined;
    // The caller has its answer; the connection goes back once pg has answered the statement too.
    let released = false;
    const release = (err: Error | null | undefined): void => {
      if (client === undefined || released) return;
      released = true;
      client.off('error', finish);
      client.release(err && !connectionSurvives(err) ? err : undefined);
    };
    const finish = (err: Error | null | undefined, result?: pg.QueryResult<R>): void => {
      release(err);
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      settle(resolve, reject, err, result);
    };
    // The caller gave up (its deadline passed): the statement is cancelled on the server, and
    // its connection is released only when the cancelled statement has answered, so that the
    // cancellation can never reach the next statement on that connection.
    const abort = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const inFlight = client;
      if (inFlight !== undefined && !released) {
        const backend = (inFlight as pg.PoolClient & { processID?: number }).processID;
        if (backend !== undefined) {
          pool.query('SELECT pg_cancel_backend($1)', [backend]).catch(() => undefined);
        }
      }
      reject(signal?.reason instanceof Error ? signal.reason : new Error('the caller gave up on the statement'));
    };
    if (signal?.aborted === true) {
      abort();
      return;
    }
    signal?.addEventListener('abort', abort, { once: true });
    const expire = () => finish(readTimeout(deadlineMs));
    let timer = waitCounts === 'wait counts' ? setTimeout(expire, deadlineMs) : undefined;
    pool.connect().then(
      (checkedOut) => {
        // Too late for this caller, but the connection is unused and healthy.
        if (settled) return checkedOut.release();
        client = checkedOut;
        timer ??= setTimeout(expire, deadlineMs);
        // A checked-out client has no listener of the pool's: a connection that dies under
        // it would emit an unhandled 'error' and end the process.
        client.on('error', finish);
        try {
          client.query<R>(statement, finish);
        } catch (err) {
          // pg throws at once on a statement it cannot send (no text, say).
          finish(err instanceof Error ? err : new Error(String(err)));
        }
      },
      (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
    );
  });
}

function queryOnClient<R extends pg.QueryResultRow>(
  client: pg.PoolClient,
  statement: string | pg.QueryConfig,
  deadlineMs: number,
): Promise<pg.QueryResult<R>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(readTimeout(deadlineMs)), deadlineMs);
    try {
      client.query<R>(statement, (err: Error | null | undefined, result?: pg.QueryResult<R>) => {
        clearTimeout(timer);
        settle(resolve, reject, err, result);
      });
    } catch (err) {
      // As on the pool: a statement pg cannot send is refused at once, so the timer must go too.
      clearTimeout(timer);
      throw err;
    }
  });
}

/**
 * True for an error the server reported about the statement alone (ERROR severity: a
 * unique violation, a cancelled statement); the session carries on as before. `pool.query`
 * destroys the connection on every error, so a burst of 409s (a unique-key race) or of
 * statement timeouts would also have meant a burst of reconnects, each a new backend
 * process and authentication, just when the database is busiest.
 */
function connectionSurvives(err: Error): boolean {
  return err instanceof pg.DatabaseError && err.severity === 'ERROR';
}

function settle<T>(
  resolve: (value: T) => void,
  reject: (err: Error) => void,
  err: Error | null | undefined,
  result: T | undefined,
): void {
  if (err) reject(err);
  else if (result !== undefined) resolve(result);
  else reject(new Error('pg answered a statement with neither a result nor an error'));
}

const readTimeout = (deadlineMs: number): Error => new Error(`Query read timeout: no answer within ${deadlineMs} ms`);
