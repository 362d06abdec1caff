import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { Database } from '../../src/postgres/database.js';
import { deleteExpiredIdempotencyKeys, idempotencyLockId } from '../../src/postgres/idempotency-records.js';
import { buildTestApp, TEST_JWT_SECRET } from '../helpers/app.js';
import { DatabaseGate } from '../../src/postgres/gate.js';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';
import { productInput, unique } from '../helpers/factories.js';
import { token } from '../helpers/tokens.js';

let db: TestDatabase;
let app: App;
let alice: string;
let bob: string;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db, { env: { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: TEST_JWT_SECRET } });
  alice = `Bearer ${await token({ subject: 'alice' })}`;
  bob = `Bearer ${await token({ subject: 'bob' })}`;
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

const post = (key: string, payload: Record<string, unknown>, authorization = alice) =>
  app.inject({ method: 'POST', url: '/api/v1/products', headers: { authorization, 'idempotency-key': key }, payload });

const rowsWithSku = async (sku: string) =>
  Number(
    (await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM products WHERE lower(sku) = lower($1)', [sku]))
      .rows[0]?.n,
  );

describe('POST with Idempotency-Key', () => {
  it('replays the stored status, headers and body, and creates nothing more', async () => {
    const key = `key-${unique()}`;
    const payload = productInput();
    const first = await post(key, payload);
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await post(key, payload);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(first.body);
    expect(again.headers.location).toBe(first.headers.location);
    expect(again.headers.etag).toBe(first.headers.etag);
    expect(await rowsWithSku(String(payload.sku))).toBe(1);
  });

  it('answers 422 for the same key with a different body, and creates nothing', async () => {
    const key = `key-${unique()}`;
    await post(key, productInput());
    const other = productInput();
    const response = await post(key, other);
    expect(response.statusCode).toBe(422);
    expect(response.json()).toMatchObject({ type: 'https://problems.example.dev/idempotency-key-reused', status: 422 });
    expect(await rowsWithSku(String(other.sku))).toBe(0);
  });

  it('keys by caller: the same key from another caller is another request', async () => {
    const key = `shared-${unique()}`;
    const a = await post(key, productInput(), alice);
    const b = await post(key, productInput(), bob);
    expect([a.statusCode, b.statusCode]).toEqual([201, 201]);
    expect(b.headers['idempotent-replayed']).toBeUndefined();
    expect(a.json<{ id: string }>().id).not.toBe(b.json<{ id: string }>().id);
  });

  it('keys by route: the same key on /users is another request', async () => {
    const key = `route-${unique()}`;
    expect((await post(key, productInput())).statusCode).toBe(201);
    const user = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { authorization: alice, 'idempotency-key': key },
      payload: { email: `${key}@example.com`, name: 'Route Test' },
    });
    expect(user.statusCode).toBe(201);
    expect(user.headers['idempotent-replayed']).toBeUndefined();
  });

  it('answers 409 while a request with the key is still running', async () => {
    const key = `busy-${unique()}`;
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [
        idempotencyLockId({ caller: 'alice', operation: 'products.create', key }),
      ]);
      const payload = productInput();
      const response = await post(key, payload);
      expect(response.statusCode).toBe(409);
      expect(response.json<{ detail: string }>().detail).toMatch(/still being processed/);
      expect(await rowsWithSku(String(payload.sku))).toBe(0);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
  });

  it('of eight concurrent identical requests, one creates; the rest replay or are told to retry', async () => {
    const key = `race-${unique()}`;
    const payload = productInput();
    const responses = await Promise.all(Array.from({ length: 8 }, () => post(key, payload)));
    expect(await rowsWithSku(String(payload.sku))).toBe(1);
    const created = responses.filter((r) => r.statusCode === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(created.filter((r) => r.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
    expect(new Set(created.map((r) => r.body)).size).toBe(1);
    expect(responses.every((r) => r.statusCode === 201 || r.statusCode === 409)).toBe(true);
    const stored = await db.pool.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [key]);
    expect(stored.rowCount).toBe(1);
  });

  it('records nothing when the create fails, so a corrected retry with the key works', async () => {
    const key = `fail-${unique()}`;
    const taken = productInput();
    await app.inject({ method: 'POST', url: '/api/v1/products', headers: { authorization: alice }, payload: taken });
    expect((await post(key, productInput({ sku: taken.sku }))).statusCode).toBe(409);
    expect((await post(key, productInput())).statusCode).toBe(201);
  });

  it('forgets keys after 24 hours: an expired key is a new request, and the sweep deletes it', async () => {
    const key = `old-${unique()}`;
    await post(key, productInput());
    await db.pool.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [key]);
    const fresh = await post(key, productInput());
    expect(fresh.statusCode).toBe(201);
    expect(fresh.headers['idempotent-replayed']).toBeUndefined();
    const expires = await db.pool.query<{ hours: number }>(
      `SELECT round(extract(epoch FROM expires_at - created_at) / 3600) AS hours FROM idempotency_keys WHERE key = $1`,
      [key],
    );
    expect(Number(expires.rows[0]?.hours)).toBe(24);
    await db.pool.query(`UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1`, [key]);
    const gate = new DatabaseGate({ resetTimeoutMs: 1000, volumeThreshold: 5 }, silentLogger);
    try {
      expect(await deleteExpiredIdempotencyKeys(new Database(db.pool, gate, 6000))).toBeGreaterThanOrEqual(1);
    } finally {
      gate.shutdown();
    }
    expect((await db.pool.query('SELECT 1 FROM idempotency_keys WHERE key = $1', [key])).rowCount).toBe(0);
  });

  it('rejects a key that is too long or not printable ASCII', async () => {
    for (const key of ['x'.repeat(256), 'tab\there', 'ünïcode']) {
      const response = await post(key, productInput());
      expect(response.statusCode, key).toBe(400);
      expect(response.json()).toMatchObject({ errors: [{ path: 'header.idempotency-key' }] });
    }
  });
});
