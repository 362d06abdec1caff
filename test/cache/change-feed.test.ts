import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, TEST_EVENT_NAMING, type TestDatabase } from '../helpers/database.js';
import { productInput } from '../helpers/factories.js';

let db: TestDatabase;
/** Two replicas, near tier alone (the embedded default), entries kept long: only the outbox keeps them right. */
let a: App;
let b: App;
let checkouts = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  db.pool.on('acquire', () => (checkouts += 1));
  const env = { CACHE: 'on', CACHE_NEAR_TTL_MS: '600000' };
  [a, b] = await Promise.all([buildTestApp(db, { env }), buildTestApp(db, { env })]);
});
afterAll(async () => {
  await Promise.all([a.close(), b.close()]);
  await db.drop();
});

async function created(): Promise<string> {
  const response = await a.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() });
  return response.json<{ id: string }>().id;
}

const read = async (app: App, id: string) => {
  const response = await app.inject({ method: 'GET', url: `/api/v1/products/${id}` });
  return { status: response.statusCode, ...response.json<{ name?: string; version?: number }>() };
};

/** How long until `app` reads `id` at `version` or newer; fails past `withinMs`. */
async function readUntil(app: App, id: string, version: number, withinMs: number): Promise<number> {
  const started = performance.now();
  while (((await read(app, id)).version ?? 0) < version) {
    if (performance.now() - started > withinMs) throw new Error(`v${version} not read within ${withinMs} ms`);
    await sleep(5);
  }
  return performance.now() - started;
}

/** The backend of `b`'s (or `a`'s) change reader, as PostgreSQL sees it. */
async function readerPids(): Promise<number[]> {
  const { rows } = await db.pool.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity
      WHERE application_name = 'product-user-service outbox changes' AND datname = current_database()`,
  );
  return rows.map((row) => row.pid);
}

describe('changes followed from the outbox behind the read cache', () => {
  it('a write on one replica is read on the other within the staleness bound (1 s), delete included', async () => {
    const id = await created();
    expect(await read(b, id)).toMatchObject({ version: 1 });
    const before = checkouts;
    expect(await read(b, id)).toMatchObject({ version: 1 });
    expect(checkouts).toBe(before);

    await a.inject({ method: 'PATCH', url: `/api/v1/products/${id}`, payload: { name: 'Changed on A' } });
    expect(await readUntil(b, id, 2, 1000)).toBeLessThan(1000);
    expect(await read(b, id)).toMatchObject({ name: 'Changed on A', version: 2 });

    await a.inject({ method: 'DELETE', url: `/api/v1/products/${id}` });
    const started = performance.now();
    while ((await read(b, id)).status !== 404) {
      expect(performance.now() - started).toBeLessThan(1000);
      await sleep(5);
    }
  });

  it('a transaction that commits after later ones (out of order) is not missed', async () => {
    const slowId = await created();
    const busyId = await created();
    expect(await read(b, slowId)).toMatchObject({ version: 1 });
    // A write that stays open while others commit after it, as a slow service transaction would.
    const slow = await db.pool.connect();
    try {
      await slow.query('BEGIN');
      await slow.query(`UPDATE products SET name = 'slow', version = 2 WHERE id = $1`, [slowId]);
      await slow.query(
        `INSERT INTO outbox (type, source, subject, resource_version, data)
         VALUES ($1, $2, $3, 2, '{}')`,
        [`${TEST_EVENT_NAMING.typePrefix}.product.updated.v1`, TEST_EVENT_NAMING.source, slowId],
      );
      for (let version = 2; version <= 4; version += 1) {
        await a.inject({ method: 'PATCH', url: `/api/v1/products/${busyId}`, payload: { name: `busy ${version}` } });
        await readUntil(b, busyId, version, 1000);
      }
      await slow.query('COMMIT');
    } finally {
      slow.release();
    }
    expect(await readUntil(b, slowId, 2, 1000)).toBeLessThan(1000);
    expect(await read(b, slowId)).toMatchObject({ name: 'slow', version: 2 });
  });

  it('a change made while the readers’ connections were cut is read once they are back', async () => {
    const id = await created();
    expect(await read(b, id)).toMatchObject({ version: 1 });
    const pids = await readerPids();
    expect(pids).toHaveLength(2);
    await db.pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
    await a.inject({ method: 'PATCH', url: `/api/v1/products/${id}`, payload: { name: 'while cut off' } });
    expect(await readUntil(b, id, 2, 3000)).toBeLessThan(3000);
    expect(await read(b, id)).toMatchObject({ name: 'while cut off', version: 2 });
    // And the cache serves again: a repeated read does not touch the database.
    await read(b, id);
    const before = checkouts;
    await read(b, id);
    expect(checkouts).toBe(before);
  });

  it('reports how recent its knowledge is on /metrics', async () => {
    const text = (await b.inject({ method: 'GET', url: '/metrics' })).body;
    const age = Number(/^cache_change_feed_age_seconds (\S+)$/m.exec(text)?.[1]);
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(1);
  });
});
