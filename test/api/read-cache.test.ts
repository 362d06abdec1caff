import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput } from '../helpers/factories.js';

let db: TestDatabase;
let app: App;
let uncached: App;
let checkouts = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  db.pool.on('acquire', () => (checkouts += 1));
  app = await buildTestApp(db, { env: { CACHE: 'on' } });
  uncached = await buildTestApp(db, { env: { CACHE: 'off' } });
});
afterAll(async () => {
  await Promise.all([app.close(), uncached.close()]);
  await db.drop();
});

/** How many pool checkouts `work` caused: 0 means it never touched the database. */
async function databaseUse(work: () => Promise<unknown>): Promise<number> {
  const before = checkouts;
  await work();
  return checkouts - before;
}

describe('the read cache (near tier) behind GET by id', () => {
  it('answers a read and If-None-Match (304) from memory; a write on this replica is read back at once', async () => {
    const created = await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() });
    const { id } = created.json<{ id: string }>();
    const get = (headers: Record<string, string> = {}) =>
      app.inject({ method: 'GET', url: `/api/v1/products/${id}`, headers });

    // A create is not cached (a burst of them would push out what is being read): the first read fills.
    expect(await databaseUse(async () => expect((await get()).json()).toMatchObject({ version: 1 }))).toBe(1);
    expect(await databaseUse(async () => expect((await get()).json()).toMatchObject({ version: 1 }))).toBe(0);
    expect(await databaseUse(async () => expect((await get({ 'if-none-match': '"1"' })).statusCode).toBe(304))).toBe(0);

    const patched = await app.inject({ method: 'PATCH', url: `/api/v1/products/${id}`, payload: { name: 'New name' } });
    expect(patched.statusCode).toBe(200);
    expect(
      await databaseUse(async () => expect((await get()).json()).toMatchObject({ name: 'New name', version: 2 })),
    ).toBe(0);
    const stale = await get({ 'if-none-match': '"1"' });
    expect(stale.statusCode).toBe(200);

    await app.inject({ method: 'DELETE', url: `/api/v1/products/${id}` });
    expect(await databaseUse(async () => expect((await get()).statusCode).toBe(404))).toBe(0);
  });

  it('counts hits and misses per resource and tier on /metrics', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: `c-${Date.now()}@example.com`, name: 'Cached' },
    });
    const { id } = created.json<{ id: string }>();
    await app.inject({ method: 'GET', url: `/api/v1/users/${id}` });
    await app.inject({ method: 'GET', url: `/api/v1/users/${id}` });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/^cache_requests_total\{resource="user",tier="near",result="hit"\} [1-9]/m);
    expect(text).toMatch(/^cache_entries\{resource="user",tier="near"\} [1-9]/m);
  });

  it('CACHE=off reads PostgreSQL every time', async () => {
    const created = await uncached.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() });
    const { id } = created.json<{ id: string }>();
    const used = await databaseUse(() => uncached.inject({ method: 'GET', url: `/api/v1/products/${id}` }));
    expect(used).toBe(1);
    expect((await uncached.inject({ method: 'GET', url: '/metrics' })).body).not.toMatch(/^cache_requests_total/m);
  });
});
