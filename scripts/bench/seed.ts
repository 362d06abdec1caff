import pg from 'pg';

/**
 * 10,000 products and 10,000 users with deterministic UUIDv7-shaped ids (the load scripts
 * can name random existing rows without a lookup) and distinct creation times (so the
 * default sort has realistic depth); and COLD_PRODUCTS more for W1-cold.
 */
/** How many products W1-cold can read without reading one twice (wrk's two threads take half each). */
export const COLD_PRODUCTS = 400_000;

export async function seed(databaseUrl: string, count = 10_000): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO products (id, sku, name, description, price, currency, created_at, updated_at)
       SELECT ('01900000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, 'SEED-' || n, 'Seeded product ' || n,
              'A product made by the benchmark seed', round((1 + random() * 999)::numeric, 2),
              CASE WHEN n % 3 = 0 THEN 'EUR' ELSE 'USD' END,
              now() - make_interval(secs => n), now() - make_interval(secs => n)
       FROM generate_series(1, $1) AS n ON CONFLICT DO NOTHING`,
      [count],
    );
    await client.query(
      `INSERT INTO users (id, email, name, created_at, updated_at)
       SELECT ('01900000-0000-7000-9000-' || lpad(to_hex(n), 12, '0'))::uuid, 'seed-' || n || '@example.com',
              'Seeded User ' || n,
              now() - make_interval(secs => n), now() - make_interval(secs => n)
       FROM generate_series(1, $1) AS n ON CONFLICT DO NOTHING`,
      [count],
    );
    // Products nothing reads before W1-cold; older than every seeded one, so no list page shows them.
    await client.query(
      `INSERT INTO products (id, sku, name, description, price, currency, created_at, updated_at)
       SELECT ('01900000-0000-7000-a000-' || lpad(to_hex(n), 12, '0'))::uuid, 'COLD-' || n, 'Cold product ' || n,
              'A product made by the benchmark seed', round((1 + random() * 999)::numeric, 2), 'USD',
              now() - interval '1 year' - make_interval(secs => n), now() - interval '1 year' - make_interval(secs => n)
       FROM generate_series(1, $1) AS n ON CONFLICT DO NOTHING`,
      [COLD_PRODUCTS],
    );
    await client.query('VACUUM ANALYZE products');
    await client.query('VACUUM ANALYZE users');
  } finally {
    await client.end();
  }
}
