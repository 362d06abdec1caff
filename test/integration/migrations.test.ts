import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/postgres/migrate.js';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
});
afterAll(() => db.drop());

async function tables(): Promise<string[]> {
  const result = await db.pool.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
  );
  return result.rows.map((r) => r.table_name);
}

describe('migrations', () => {
  it('applies once even when several replicas start at the same moment (advisory lock)', async () => {
    const runs = await Promise.all(Array.from({ length: 4 }, () => migrate(db.url, silentLogger)));
    // Exactly one runner applied the migration; the others waited for the lock, then found nothing to do.
    expect(runs.flat()).toEqual(['0001_products-and-users', '0002_idempotency-keys']);
    expect(await tables()).toEqual(['idempotency_keys', 'products', 'schema_migrations', 'users']);
  });

  it('rolls back and re-applies in both directions', async () => {
    expect(await migrate(db.url, silentLogger, 'down', 2)).toEqual([
      '0002_idempotency-keys',
      '0001_products-and-users',
    ]);
    expect(await tables()).toEqual(['schema_migrations']);
    expect(await migrate(db.url, silentLogger, 'up')).toEqual(['0001_products-and-users', '0002_idempotency-keys']);
    expect(await migrate(db.url, silentLogger, 'up')).toEqual([]);
    const indexes = await db.pool.query<{ indexname: string }>(
      `SELECT indexname FROM pg_indexes WHERE tablename IN ('products', 'users') ORDER BY indexname`,
    );
    expect(indexes.rows.map((r) => r.indexname)).toEqual(
      expect.arrayContaining([
        'products_sku_lower_key',
        'users_email_lower_key',
        'products_created_at_id_idx',
        'users_email_id_idx',
      ]),
    );
  });

  it('fails clearly on a database it cannot reach', async () => {
    const unreachable = new URL(db.url);
    unreachable.port = '1';
    await expect(migrate(unreachable.toString(), silentLogger)).rejects.toThrow();
  });
});
