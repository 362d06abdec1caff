import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ConflictError, UnprocessableError } from '../domain/errors.js';
import type { IdempotencyKey, IdempotencyStore, RecordedResponse } from '../services/idempotency.js';
import { translateDatabaseError } from './errors.js';
import type { DatabaseGate } from './gate.js';
import { queryWithin, statementDeadlineMs } from './pool.js';
import { inTransaction } from './transaction.js';

const RETENTION = '24 hours';

/** A signed 64-bit advisory lock id from the key's identity (exported for tests that hold a key). */
export function idempotencyLockId(key: Pick<IdempotencyKey, 'caller' | 'route' | 'key'>): string {
  return createHash('sha256').update(`${key.caller}\n${key.route}\n${key.key}`).digest().readBigInt64BE(0).toString();
}

interface StoredRow {
  request_hash: string;
  status_code: number;
  headers: Record<string, string>;
  body: string;
}

export class PostgresIdempotencyStore implements IdempotencyStore {
  readonly #pool: pg.Pool;
  readonly #gate: DatabaseGate;
  readonly #deadlineMs: number;

  constructor(pool: pg.Pool, gate: DatabaseGate) {
    this.#pool = pool;
    this.#gate = gate;
    this.#deadlineMs = statementDeadlineMs(pool);
  }

  async once(
    key: IdempotencyKey,
    work: () => Promise<RecordedResponse>,
  ): Promise<{ response: RecordedResponse; replayed: boolean }> {
    try {
      return await this.#gate.run(() =>
        inTransaction(this.#pool, async (client) => {
          // A transaction-scoped lock marks the key as in flight without making a concurrent
          // request wait for it: that one is told to retry (409) at once.
          const lock = await queryWithin<{ locked: boolean }>(
            client,
            { text: 'SELECT pg_try_advisory_xact_lock($1::bigint) AS locked', values: [idempotencyLockId(key)] },
            this.#deadlineMs,
          );
          if (lock.rows[0]?.locked !== true)
            throw new ConflictError(
              'A request with this Idempotency-Key is still being processed; retry shortly',
              'Idempotency-Key',
            );
          const stored = await queryWithin<StoredRow>(
            client,
            {
              text: 'SELECT request_hash, status_code, headers, body FROM idempotency_keys WHERE caller = $1 AND route = $2 AND key = $3 AND expires_at > now()',
              values: [key.caller, key.route, key.key],
            },
            this.#deadlineMs,
          );
          const row = stored.rows[0];
          if (row !== undefined) {
            if (row.request_hash !== key.fingerprint)
              throw new UnprocessableError(
                'This Idempotency-Key was used with a different request body; use a new key for a new request',
              );
            return { response: { statusCode: row.status_code, headers: row.headers, body: row.body }, replayed: true };
          }
          const response = await work();
          await queryWithin(
            client,
            {
              text: `INSERT INTO idempotency_keys (caller, route, key, request_hash, status_code, headers, body, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, now() + interval '${RETENTION}')
           ON CONFLICT (caller, route, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code,
             headers = EXCLUDED.headers, body = EXCLUDED.body, created_at = now(), expires_at = EXCLUDED.expires_at`,
              values: [
                key.caller,
                key.route,
                key.key,
                key.fingerprint,
                response.statusCode,
                JSON.stringify(response.headers),
                response.body,
              ],
            },
            this.#deadlineMs,
          );
          return { response, replayed: false };
        }),
      );
    } catch (err) {
      throw translateDatabaseError(err, {});
    }
  }

  /** Deletes keys past their 24 hours; returns how many. main.ts runs it periodically. */
  async deleteExpired(): Promise<number> {
    const result = await queryWithin(
      this.#pool,
      'DELETE FROM idempotency_keys WHERE expires_at <= now()',
      this.#deadlineMs,
    );
    return result.rowCount ?? 0;
  }
}
