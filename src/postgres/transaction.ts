import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import { queryWithin, statementDeadlineMs } from './pool.js';

/**
 * The connection of the transaction the current async call chain runs in, if any.
 * Repositories query through it when it is set, so a use case can be made atomic with
 * other writes (an idempotency record) without the services knowing about transactions.
 */
const current = new AsyncLocalStorage<pg.PoolClient>();

/** The connection of the transaction this call chain runs in, or undefined outside one. */
export function transactionClient(): pg.PoolClient | undefined {
  return current.getStore();
}

/**
 * Runs `work` in one transaction on one connection. A connection that failed mid-way is
 * destroyed rather than returned to the pool, where it would poison the next checkout.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const deadlineMs = statementDeadlineMs(pool);
  const client = await pool.connect();
  let broken: Error | undefined;
  // A checked-out client has no listener of the pool's: a connection that dies mid-way
  // (pg_terminate_backend, a restart) would emit an unhandled 'error' and end the process.
  const onError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onError);
  try {
    await queryWithin(client, 'BEGIN', deadlineMs);
    const result = await current.run(client, () => work(client));
    await queryWithin(client, 'COMMIT', deadlineMs);
    return result;
  } catch (err) {
    // Behind a statement that never answered, the ROLLBACK waits too: past its deadline the
    // connection counts as broken and is destroyed instead of going back to the pool.
    await queryWithin(client, 'ROLLBACK', deadlineMs).catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
