import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { startChildService, type ChildService } from '../helpers/child-service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/database-server.js';
import { productInput, unique } from '../helpers/factories.js';
import { bearer } from '../helpers/tokens.js';

let db: TestDatabase;
let replicas: ChildService[];
let headers: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  headers = { 'content-type': 'application/json', ...(await bearer({ subject: 'replica-tester' })) };
  // Both start at the same moment on an empty database and both migrate on start:
  // the advisory lock must let both come up.
  const env = async () => ({
    DATABASE_URL: db.url,
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    PORT: String(await freePort()),
    OTEL_SDK_DISABLED: 'true',
  });
  replicas = await Promise.all([startChildService(await env()), startChildService(await env())]);
}, 60_000);
afterAll(async () => {
  for (const replica of replicas) replica.process.kill('SIGTERM');
  await Promise.all(replicas.map((r) => r.exited));
  await db.drop();
});

/** Spreads requests over both replicas, the way a Service's load balancing would. */
const on = (i: number) => replicas[i % 2]?.url ?? '';

describe('two replicas, one database', () => {
  it('both came up and applied the schema once', async () => {
    for (const replica of replicas) expect((await fetch(`${replica.url}/readyz`)).status).toBe(200);
    const migrations = await db.pool.query('SELECT name FROM schema_migrations');
    expect(migrations.rows.map((r: { name: string }) => r.name)).toEqual([
      '0001_products-and-users',
      '0002_idempotency-keys',
      '0003_idempotency-records-hold-resources',
      '0004_outbox',
      '0005_outbox-transaction-ids',
    ]);
  });

  it('holds a unique e-mail across replicas: of concurrent creates, exactly one 201', async () => {
    const email = `both-${unique()}@example.com`;
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        fetch(`${on(i)}/api/v1/users`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ email, name: `Replica ${i}` }),
        }),
      ),
    );
    expect(responses.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
  });

  it('holds If-Match across replicas: of ten PATCHes with one ETag, exactly one 200', async () => {
    const created = (await (
      await fetch(`${on(0)}/api/v1/products`, { method: 'POST', headers, body: JSON.stringify(productInput()) })
    ).json()) as { id: string };
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        fetch(`${on(i)}/api/v1/products/${created.id}`, {
          method: 'PATCH',
          headers: { ...headers, 'if-match': '"1"' },
          body: JSON.stringify({ name: `writer ${i}` }),
        }),
      ),
    );
    expect(responses.map((r) => r.status).sort()).toEqual([200, 412, 412, 412, 412, 412, 412, 412, 412, 412]);
  });

  it('holds an Idempotency-Key across replicas: one row, one first response, the rest replay or retry', async () => {
    const key = `replicas-${unique()}`;
    const payload = JSON.stringify(productInput());
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        fetch(`${on(i)}/api/v1/products`, {
          method: 'POST',
          headers: { ...headers, 'idempotency-key': key },
          body: payload,
        }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    const bodies = await Promise.all(responses.filter((r) => r.status === 201).map((r) => r.text()));
    expect(new Set(bodies).size).toBe(1);
    expect(responses.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === null)).toHaveLength(1);
    const sku = (JSON.parse(payload) as { sku: string }).sku;
    expect((await db.pool.query('SELECT 1 FROM products WHERE sku = $1', [sku])).rowCount).toBe(1);
    // A later retry on the other replica replays the same answer.
    const later = await fetch(`${on(1)}/api/v1/products`, {
      method: 'POST',
      headers: { ...headers, 'idempotency-key': key },
      body: payload,
    });
    expect(later.headers.get('idempotent-replayed')).toBe('true');
    expect(await later.text()).toBe(bodies[0]);
  });
});
