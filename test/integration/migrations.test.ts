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

const ALL = [
  '0001_products-and-users',
  '0002_idempotency-keys',
  '0003_idempotency-records-hold-resources',
  '0004_outbox',
  '0005_outbox-transaction-ids',
];

describe('migrations', () => {
  it('applies once even when several replicas start at the same moment (advisory lock)', async () => {
    const runs = await Promise.all(Array.from({ length: 4 }, () => migrate(db.url, silentLogger)));
    // Exactly one runner applied the migration; the others waited for the lock, then found nothing to do.
    expect(runs.flat()).toEqual(ALL);
    expect(await tables()).toEqual([
      'idempotency_keys',
      'outbox',
      'outbox_relay',
      'products',
      'schema_migrations',
      'users',
    ]);
  });

  it('rolls back and re-applies in both directions', async () => {
    expect(await migrate(db.url, silentLogger, 'down', ALL.length)).toEqual([...ALL].reverse());
    expect(await tables()).toEqual(['schema_migrations']);
    expect(await migrate(db.url, silentLogger, 'up')).toEqual(ALL);
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

  it('0003 keeps the records of 0002 replayable; its down migration gives them their HTTP answer back', async () => {
    await migrate(db.url, silentLogger, 'down', 3);
    const product = {
      id: '01900000-0000-7000-8000-00000000abcd',
      sku: 'OLD-1',
      name: 'Old',
      description: '',
      price: 12.5,
      currency: 'EUR',
      created_at: '2026-11-20T10:00:00.000Z',
      updated_at: '2026-11-20T10:00:00.000Z',
      version: 1,
    };
    await db.pool.query(
      `INSERT INTO idempotency_keys (caller, route, key, request_hash, status_code, headers, body, expires_at)
       VALUES ('alice', 'POST /api/v1/products', 'k', 'h', 201, '{}', $1, now() + interval '1 hour')`,
      [JSON.stringify(product)],
    );
    expect(await migrate(db.url, silentLogger, 'up')).toEqual([
      '0003_idempotency-records-hold-resources',
      '0004_outbox',
      '0005_outbox-transaction-ids',
    ]);
    const converted = await db.pool.query('SELECT caller, operation, key, resource FROM idempotency_keys');
    expect(converted.rows).toEqual([
      { caller: 'alice', operation: 'products.create', key: 'k', resource: JSON.stringify(product) },
    ]);
    await migrate(db.url, silentLogger, 'down', 3);
    const restored = await db.pool.query('SELECT route, status_code, headers, body FROM idempotency_keys');
    expect(restored.rows).toEqual([
      {
        route: 'POST /api/v1/products',
        status_code: 201,
        headers: { location: `/api/v1/products/${product.id}`, etag: '"1"' },
        body: JSON.stringify(product),
      },
    ]);
    await db.pool.query('DELETE FROM idempotency_keys');
    await migrate(db.url, silentLogger, 'up');
  });

  it('fails clearly on a database it cannot reach', async () => {
    const unreachable = new URL(db.url);
    unreachable.port = '1';
    await expect(migrate(unreachable.toString(), silentLogger)).rejects.toThrow();
  });
});
