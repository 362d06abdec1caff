import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { unique, userInput } from '../helpers/factories.js';

let db: TestDatabase;
let app: App;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db);
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

interface UserBody {
  id: string;
  email: string;
  name: string;
  version: number;
  created_at: string;
}

async function create(overrides: Record<string, unknown> = {}): Promise<UserBody> {
  const response = await app.inject({ method: 'POST', url: '/api/v1/users', payload: userInput(overrides) });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<UserBody>();
}

async function usersWithEmail(email: string): Promise<number> {
  const result = await db.pool.query('SELECT 1 FROM users WHERE lower(email) = lower($1)', [email]);
  return result.rowCount ?? 0;
}

describe('POST /api/v1/users', () => {
  it('creates a user with the address stored and returned lower-cased and the name trimmed', async () => {
    const tag = unique();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: `Ada.${tag}@Example.COM`, name: '  Ada Lovelace ' },
    });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({ email: `ada.${tag}@example.com`, name: 'Ada Lovelace', version: 1 });
    expect(response.headers.location).toBe(`/api/v1/users/${response.json<UserBody>().id}`);
  });

  it('returns 409 for an address already taken in another case', async () => {
    const email = `taken-${unique()}@example.com`;
    await create({ email });
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: userInput({ email: email.toUpperCase() }),
    });
    expect(response.statusCode).toBe(409);
    expect(await usersWithEmail(email)).toBe(1);
  });

  it('lets exactly one of many concurrent creates with one address succeed; the rest get 409', async () => {
    const email = `race-${unique()}@example.com`;
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        app.inject({
          method: 'POST',
          url: '/api/v1/users',
          payload: { email: i % 2 === 0 ? email : email.toUpperCase(), name: `Racer ${i}` },
        }),
      ),
    );
    const statuses = responses.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    expect(await usersWithEmail(email)).toBe(1);
  });

  it.each([
    [{ email: 'not-an-address' }, '/email', 'must be a valid email address'],
    [{ email: `${'a'.repeat(250)}@example.com` }, '/email', 'must be at most 254 characters'],
    [{ email: undefined }, '/email', 'is required'],
    [{ name: 'A' }, '/name', 'must be at least 2 characters'],
    [{ name: ' A ' }, '/name', 'must be at least 2 characters'],
    [{ name: 'x'.repeat(101) }, '/name', 'must be at most 100 characters'],
    [{ name: 'tab\there' }, '/name', 'must not contain control characters'],
    [{ role: 'admin' }, '/role', 'is not allowed'],
  ])('rejects %j with 400 naming %s', async (overrides, path, message) => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/users', payload: userInput(overrides) });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ errors: [{ path, message }] });
  });
});

describe('GET, PATCH, PUT, DELETE /api/v1/users/{id}', () => {
  it('reads, patches (lower-casing the new address), replaces and deletes', async () => {
    const user = await create();
    const read = await app.inject({ method: 'GET', url: `/api/v1/users/${user.id}` });
    expect(read.json()).toEqual(user);
    expect(read.headers.etag).toBe('"1"');

    const newEmail = `Renamed-${unique()}@Example.com`;
    const patched = await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: { 'if-match': '"1"' },
      payload: { email: newEmail },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ email: newEmail.toLowerCase(), name: user.name, version: 2 });

    const replaced = await app.inject({
      method: 'PUT',
      url: `/api/v1/users/${user.id}`,
      payload: { email: newEmail, name: 'Replaced Name' },
    });
    expect(replaced.json()).toMatchObject({ email: newEmail.toLowerCase(), name: 'Replaced Name', version: 3 });

    const stale = await app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${user.id}`,
      headers: { 'if-match': '"2"' },
    });
    expect(stale.statusCode).toBe(412);
    expect((await app.inject({ method: 'DELETE', url: `/api/v1/users/${user.id}` })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: `/api/v1/users/${user.id}` })).statusCode).toBe(404);
  });

  it('returns 409 when patching to an address another user has', async () => {
    const first = await create();
    const second = await create();
    const response = await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${second.id}`,
      payload: { email: first.email.toUpperCase() },
    });
    expect(response.statusCode).toBe(409);
    expect((await app.inject({ method: 'GET', url: `/api/v1/users/${second.id}` })).json()).toMatchObject({
      email: second.email,
      version: 1,
    });
  });

  it('rejects an empty patch', async () => {
    const user = await create();
    const response = await app.inject({ method: 'PATCH', url: `/api/v1/users/${user.id}`, payload: {} });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ errors: [{ path: '', message: 'must contain at least one field' }] });
  });
});

describe('GET /api/v1/users', () => {
  it('filters by exact address ignoring case and by name substring, sorted by email', async () => {
    const tag = unique();
    const zed = await create({ email: `zed-${tag}@example.com`, name: `Zed ${tag}` });
    const amy = await create({ email: `amy-${tag}@example.com`, name: `Amy ${tag}` });
    const byEmail = await app.inject({
      method: 'GET',
      url: `/api/v1/users?email=${encodeURIComponent(zed.email.toUpperCase())}`,
    });
    expect(byEmail.json<{ items: UserBody[] }>().items.map((u) => u.id)).toEqual([zed.id]);
    const byName = await app.inject({ method: 'GET', url: `/api/v1/users?q=${tag}&sort=-email` });
    expect(byName.json<{ items: UserBody[] }>().items.map((u) => u.id)).toEqual([zed.id, amy.id]);
    const ascending = await app.inject({ method: 'GET', url: `/api/v1/users?q=${tag}&sort=email&limit=1` });
    const page = ascending.json<{ items: UserBody[]; next_cursor: string }>();
    expect(page.items.map((u) => u.id)).toEqual([amy.id]);
    const next = await app.inject({
      method: 'GET',
      url: `/api/v1/users?q=${tag}&sort=email&limit=1&cursor=${page.next_cursor}`,
    });
    expect(next.json<{ items: UserBody[]; next_cursor: null }>()).toMatchObject({
      items: [{ id: zed.id }],
      next_cursor: null,
    });
  });

  it('rejects a sort that users do not have', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/v1/users?sort=price' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ errors: [{ path: 'query.sort' }] });
  });
});
