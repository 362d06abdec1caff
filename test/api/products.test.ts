import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput, unique } from '../helpers/factories.js';

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

const json = { 'content-type': 'application/json' };

async function create(overrides: Record<string, unknown> = {}) {
  const response = await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput(overrides) });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<Record<string, unknown> & { id: string; version: number }>();
}

async function countProducts(): Promise<number> {
  const result = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM products');
  return Number(result.rows[0]?.n);
}

describe('POST /api/v1/products', () => {
  it('creates a product: 201, Location, ETag and the stored representation', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      payload: { sku: 'MUG-001', name: '  Coffee mug  ', price: 12.5, currency: 'EUR', description: 'Stoneware' },
    });
    expect(response.statusCode).toBe(201);
    const body = response.json<Record<string, unknown>>();
    expect(body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      sku: 'MUG-001',
      name: 'Coffee mug',
      description: 'Stoneware',
      price: 12.5,
      currency: 'EUR',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      updated_at: body.created_at,
      version: 1,
    });
    expect(response.headers.location).toBe(`/api/v1/products/${String(body.id)}`);
    expect(response.headers.etag).toBe('"1"');
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    const read = await app.inject({ method: 'GET', url: String(response.headers.location) });
    expect(read.json()).toEqual(body);
  });

  it('defaults description to "" and currency to USD', async () => {
    const body = await create({ description: undefined, currency: undefined });
    expect(body).toMatchObject({ description: '', currency: 'USD' });
  });

  it('returns 409 when the SKU is taken, ignoring case, and creates nothing', async () => {
    const sku = `Taken-${unique()}`;
    await create({ sku });
    const before = await countProducts();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      payload: productInput({ sku: sku.toUpperCase() }),
    });
    expect(response.statusCode).toBe(409);
    expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(response.json()).toMatchObject({
      type: 'https://problems.example.dev/conflict',
      status: 409,
      instance: '/api/v1/products',
    });
    expect(await countProducts()).toBe(before);
  });

  it.each([
    [{ price: 0 }, '/price', 'must be greater than 0'],
    [{ price: -1 }, '/price', 'must be greater than 0'],
    [{ price: 100000000 }, '/price', 'must be at most 99999999.99'],
    [{ price: 1.005 }, '/price', 'must have at most 2 decimal places'],
    [{ price: '19.99' }, '/price', 'must be a number'],
    [{ price: null }, '/price', 'must not be null'],
    [{ sku: '' }, '/sku', 'must be 1–64 characters of A-Z, a-z, 0-9, "-", "_" and "."'],
    [{ sku: 'has space' }, '/sku', 'must be 1–64 characters of A-Z, a-z, 0-9, "-", "_" and "."'],
    [{ sku: 'x'.repeat(65) }, '/sku', 'must be 1–64 characters of A-Z, a-z, 0-9, "-", "_" and "."'],
    [{ name: '   ' }, '/name', 'must not be empty'],
    [{ name: 'x'.repeat(201) }, '/name', 'must be at most 200 characters'],
    [{ name: 'bad\u0000name' }, '/name', 'must not contain control characters'],
    [{ description: 'x'.repeat(2001) }, '/description', 'must be at most 2000 characters'],
    [
      { description: 'nul\u0000' },
      '/description',
      'must not contain control characters other than tab and line breaks',
    ],
    [{ currency: 'usd' }, '/currency', 'must be a three-letter ISO 4217 code in capitals, e.g. USD'],
    [{ id: '01890000-0000-7000-8000-000000000000' }, '/id', 'is not allowed'],
    [{ version: 7 }, '/version', 'is not allowed'],
    [{ created_at: '2020-01-01T00:00:00.000Z' }, '/created_at', 'is not allowed'],
  ])('rejects %j with 400 naming %s, and writes nothing', async (overrides, path, message) => {
    const before = await countProducts();
    const response = await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput(overrides) });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      type: 'https://problems.example.dev/validation-error',
      title: 'Request validation failed',
      status: 400,
      errors: [{ path, message }],
    });
    expect(await countProducts()).toBe(before);
  });

  it('lists every failing field at once', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      payload: { price: 0, surprise: true },
    });
    expect(response.statusCode).toBe(400);
    const body = response.json<{ detail: string; errors: { path: string; message: string }[] }>();
    expect(body.errors).toEqual(
      expect.arrayContaining([
        { path: '/sku', message: 'is required' },
        { path: '/name', message: 'is required' },
        { path: '/price', message: 'must be greater than 0' },
        { path: '/surprise', message: 'is not allowed' },
      ]),
    );
    expect(body.detail).toBe(`${body.errors.length} fields are invalid`);
  });

  it('accepts the extremes of the price range exactly', async () => {
    expect((await create({ price: 0.01 })).price).toBe(0.01);
    expect((await create({ price: 99999999.99 })).price).toBe(99999999.99);
  });
});

describe('GET /api/v1/products/{id}', () => {
  it('returns the product with a strong ETag and caching headers', async () => {
    const product = await create();
    const response = await app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(product);
    expect(response.headers).toMatchObject({
      etag: '"1"',
      'cache-control': 'private, no-cache',
      vary: 'Authorization',
    });
  });

  it('answers 304 without a body when If-None-Match matches, and 200 when it does not', async () => {
    const product = await create();
    const fresh = await app.inject({
      method: 'GET',
      url: `/api/v1/products/${product.id}`,
      headers: { 'if-none-match': '"1"' },
    });
    expect(fresh.statusCode).toBe(304);
    expect(fresh.body).toBe('');
    expect(fresh.headers.etag).toBe('"1"');
    const stale = await app.inject({
      method: 'GET',
      url: `/api/v1/products/${product.id}`,
      headers: { 'if-none-match': '"0"' },
    });
    expect(stale.statusCode).toBe(200);
  });

  it('returns 404 problem for an unknown id and 400 for a malformed one', async () => {
    const missing = await app.inject({ method: 'GET', url: '/api/v1/products/01890000-0000-7000-8000-000000000000' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ type: 'https://problems.example.dev/not-found', status: 404 });
    const malformed = await app.inject({ method: 'GET', url: '/api/v1/products/not-a-uuid' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toMatchObject({ errors: [{ path: 'path.id', message: 'must be a UUID' }] });
  });
});

describe('PATCH /api/v1/products/{id}', () => {
  it('changes only the given fields and bumps the version', async () => {
    const product = await create({ description: 'keep me', price: 10 });
    const response = await app.inject({
      method: 'PATCH',
      url: `/api/v1/products/${product.id}`,
      payload: { price: 11.25 },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ price: 11.25, description: 'keep me', name: product.name, version: 2 });
    expect(response.headers.etag).toBe('"2"');
    const read = await app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` });
    expect(read.json()).toMatchObject({ price: 11.25, version: 2 });
  });

  it('accepts application/merge-patch+json, where null resets an optional field', async () => {
    const product = await create({ description: 'to be removed', currency: 'EUR' });
    const response = await app.inject({
      method: 'PATCH',
      url: `/api/v1/products/${product.id}`,
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: JSON.stringify({ description: null, currency: null }),
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ description: '', currency: 'USD' });
  });

  it('rejects an empty patch, a null required field and unknown fields with 400', async () => {
    const product = await create();
    for (const [payload, path] of [
      [{}, ''],
      [{ name: null }, '/name'],
      [{ version: 9 }, '/version'],
    ] as const) {
      const response = await app.inject({ method: 'PATCH', url: `/api/v1/products/${product.id}`, payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json<{ errors: { path: string }[] }>().errors[0]?.path).toBe(path);
    }
    expect((await app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` })).json()).toMatchObject({
      version: 1,
    });
  });

  it('answers 412 for a stale If-Match, 200 for the current one', async () => {
    const product = await create();
    const first = await app.inject({
      method: 'PATCH',
      url: `/api/v1/products/${product.id}`,
      headers: { 'if-match': '"1"' },
      payload: { name: 'first' },
    });
    expect(first.statusCode).toBe(200);
    const stale = await app.inject({
      method: 'PATCH',
      url: `/api/v1/products/${product.id}`,
      headers: { 'if-match': '"1"' },
      payload: { name: 'second' },
    });
    expect(stale.statusCode).toBe(412);
    expect(stale.json()).toMatchObject({ type: 'https://problems.example.dev/precondition-failed' });
    expect((await app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` })).json()).toMatchObject({
      name: 'first',
      version: 2,
    });
  });

  it('returns 409 when renaming to a taken SKU, and 404 for an unknown id', async () => {
    const taken = await create();
    const product = await create();
    const clash = await app.inject({
      method: 'PATCH',
      url: `/api/v1/products/${product.id}`,
      payload: { sku: String(taken.sku).toLowerCase() },
    });
    expect(clash.statusCode).toBe(409);
    const missing = await app.inject({
      method: 'PATCH',
      url: '/api/v1/products/01890000-0000-7000-8000-000000000000',
      payload: { name: 'x' },
    });
    expect(missing.statusCode).toBe(404);
  });
});

describe('PUT /api/v1/products/{id}', () => {
  it('replaces the product: omitted optional fields return to their defaults', async () => {
    const product = await create({ description: 'old', currency: 'EUR' });
    const replacement = { sku: `NEW-${unique()}`, name: 'Replaced', price: 3 };
    const response = await app.inject({ method: 'PUT', url: `/api/v1/products/${product.id}`, payload: replacement });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      ...replacement,
      description: '',
      currency: 'USD',
      version: 2,
      id: product.id,
      created_at: product.created_at,
    });
  });

  it('requires every required field and answers 404 for an unknown id', async () => {
    const product = await create();
    const partial = await app.inject({
      method: 'PUT',
      url: `/api/v1/products/${product.id}`,
      payload: { name: 'only a name' },
    });
    expect(partial.statusCode).toBe(400);
    const missing = await app.inject({
      method: 'PUT',
      url: '/api/v1/products/01890000-0000-7000-8000-000000000000',
      payload: productInput(),
    });
    expect(missing.statusCode).toBe(404);
  });
});

describe('DELETE /api/v1/products/{id}', () => {
  it('deletes: 204, then 404 on read and on a second delete', async () => {
    const product = await create();
    const response = await app.inject({ method: 'DELETE', url: `/api/v1/products/${product.id}` });
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
    expect((await app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: `/api/v1/products/${product.id}` })).statusCode).toBe(404);
  });

  it('honours If-Match', async () => {
    const product = await create();
    const stale = await app.inject({
      method: 'DELETE',
      url: `/api/v1/products/${product.id}`,
      headers: { 'if-match': '"2"' },
    });
    expect(stale.statusCode).toBe(412);
    const current = await app.inject({
      method: 'DELETE',
      url: `/api/v1/products/${product.id}`,
      headers: { 'if-match': '"1"' },
    });
    expect(current.statusCode).toBe(204);
  });
});

describe('request bodies', () => {
  it('answers 415 for a body that is not JSON, and for merge-patch outside PATCH', async () => {
    const text = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers: { 'content-type': 'text/plain' },
      payload: 'sku=x',
    });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toMatchObject({ type: 'https://problems.example.dev/unsupported-media-type' });
    const form = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'sku=x',
    });
    expect(form.statusCode).toBe(415);
    const before = await countProducts();
    const mergePatch = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: JSON.stringify(productInput()),
    });
    expect(mergePatch.statusCode).toBe(415);
    expect(mergePatch.json()).toMatchObject({
      type: 'https://problems.example.dev/unsupported-media-type',
      detail: expect.stringContaining('PATCH only'),
    });
    expect(await countProducts()).toBe(before);
    const product = await create();
    const replaced = await app.inject({
      method: 'PUT',
      url: `/api/v1/products/${product.id}`,
      headers: { 'content-type': 'application/merge-patch+json; charset=utf-8' },
      payload: JSON.stringify(productInput({ name: 'Replaced' })),
    });
    expect(replaced.statusCode).toBe(415);
    expect((await app.inject({ method: 'GET', url: `/api/v1/products/${product.id}` })).json()).toMatchObject({
      name: product.name,
      version: 1,
    });
  });

  it('answers 400 (never 500) for malformed or empty JSON', async () => {
    for (const payload of ['{"sku":', '', 'null', '[]', '"text"', '{"a":1}}']) {
      const response = await app.inject({ method: 'POST', url: '/api/v1/products', headers: json, payload });
      expect(response.statusCode, payload).toBe(400);
      expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    }
  });

  it('rejects prototype-poisoning payloads with 400', async () => {
    for (const payload of [
      '{"__proto__":{"admin":true},"sku":"P-1","name":"x","price":1}',
      '{"constructor":{"prototype":{"admin":true}},"sku":"P-2","name":"x","price":1}',
    ]) {
      const response = await app.inject({ method: 'POST', url: '/api/v1/products', headers: json, payload });
      expect(response.statusCode, payload).toBe(400);
    }
  });

  it('answers 413 above the body limit', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      payload: productInput({ description: 'x'.repeat(70_000) }),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ type: 'https://problems.example.dev/payload-too-large', status: 413 });
  });
});
