import { createHash } from 'node:crypto';
import { IdempotencyKeyReusedError, RequestInProgressError } from '../domain/errors.js';
import type { IdempotencyKey, IdempotencyRecords } from '../services/idempotency.js';
import type { Database, Sql } from './database.js';
import { translateDatabaseError } from './errors.js';

const RETENTION = '24 hours';

/** How a resource is kept in a record: as text, read back into the same resource. */
export interface SnapshotCodec<T> {
  encode(resource: T): string;
  decode(text: string): T;
}

/** A signed 64-bit advisory lock id from the key's identity (exported for tests that hold a key). */
export function idempotencyLockId(key: Pick<IdempotencyKey, 'caller' | 'operation' | 'key'>): string {
  return createHash('sha256')
    .update(`${key.caller}\n${key.operation}\n${key.key}`)
    .digest()
    .readBigInt64BE(0)
    .toString();
}

const requestHash = (request: string): string => createHash('sha256').update(request).digest('base64url');

/** Idempotency records in the `idempotency_keys` table, inside one transaction. */
export class PostgresIdempotencyRecords<T> implements IdempotencyRecords<T> {
  readonly #sql: Sql;
  readonly #codec: SnapshotCodec<T>;

  constructor(sql: Sql, codec: SnapshotCodec<T>) {
    this.#sql = sql;
    this.#codec = codec;
  }

  async claim(key: IdempotencyKey): Promise<T | null> {
    // A transaction-scoped lock marks the key as in flight without making a concurrent
    // request wait for it: that one is told to retry at once.
    const lock = await this.#query<{ locked: boolean }>({
      text: 'SELECT pg_try_advisory_xact_lock($1::bigint) AS locked',
      values: [idempotencyLockId(key)],
    });
    if (lock.rows[0]?.locked !== true) {
      throw new RequestInProgressError('A request with this idempotency key is still being processed; retry shortly');
    }
    const stored = await this.#query<{ request_hash: string; resource: string }>({
      text: `SELECT request_hash, resource FROM idempotency_keys
             WHERE caller = $1 AND operation = $2 AND key = $3 AND expires_at > now()`,
      values: [key.caller, key.operation, key.key],
    });
    const row = stored.rows[0];
    if (row === undefined) return null;
    if (row.request_hash !== requestHash(key.request)) {
      throw new IdempotencyKeyReusedError(
        'This idempotency key was used with a different request; use a new key for a new request',
      );
    }
    return this.#codec.decode(row.resource);
  }

  async save(key: IdempotencyKey, created: T): Promise<void> {
    // An expired record of the key may still be there (the sweep is periodic): it is replaced.
    await this.#query({
      text: `INSERT INTO idempotency_keys (caller, operation, key, request_hash, resource, expires_at)
             VALUES ($1, $2, $3, $4, $5, now() + interval '${RETENTION}')
             ON CONFLICT (caller, operation, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,
               resource = EXCLUDED.resource, created_at = now(), expires_at = EXCLUDED.expires_at`,
      values: [key.caller, key.operation, key.key, requestHash(key.request), this.#codec.encode(created)],
    });
  }

  async #query<R extends Record<string, unknown>>(statement: { text: string; values: unknown[] }) {
    try {
      return await this.#sql.query<R>(statement);
    } catch (err) {
      throw translateDatabaseError(err);
    }
  }
}

/** Deletes the records past their 24 hours; returns how many. Any replica may run it. */
export async function deleteExpiredIdempotencyKeys(db: Database): Promise<number> {
  const result = await db.query('DELETE FROM idempotency_keys WHERE expires_at <= now()');
  return result.rowCount ?? 0;
}
