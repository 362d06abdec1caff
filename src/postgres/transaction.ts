import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';

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
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await current.run(client, () => work(client));
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw err;
  } finally {
    client.release(broken);
  }
}
