import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput } from '../helpers/factories.js';

let db: TestDatabase;
let app: App;
let productId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db);
  productId = (
    await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput({ name: 'Target' }) })
  ).json<{ id: string }>().id;
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

/** Anything in a problem's prose that would reveal the stack, the database or the code. */
const LEAK = new RegExp(
  [
    String.raw`\bat \S+ \(`,
    'node_modules',
    '/work/',
    String.raw`\.ts:\d`,
    'SELECT |INSERT |UPDATE ',
    'relation "',
    'syntax error',
    'ZodError',
    'pg-protocol',
    'Fastify',
    'invalid input syntax',
  ].join('|'),
  'i',
);

interface Problem {
  title?: string;
  detail?: string;
  errors?: { path: string; message: string }[];
}

async function snapshot(): Promise<string> {
  const result = await db.pool.query<{ state: string }>(
    `SELECT (SELECT count(*) FROM products)::text || '/' || (SELECT count(*) FROM users)::text || '/'
            || (SELECT version FROM products WHERE id = $1)::text AS state`,
    [productId],
  );
  return result.rows[0]?.state ?? '';
}

/** The invariants for any input: no 5xx, no leak, and a 4xx changes nothing. */
async function expectSafe(request: InjectOptions, allowed: number[]): Promise<void> {
  const before = await snapshot();
  const response = await app.inject(request);
  expect(response.statusCode, `${response.statusCode} ${response.body.slice(0, 300)}`).toBeLessThan(500);
  expect(allowed).toContain(response.statusCode);
  if (response.statusCode >= 400) {
    expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    const problem = response.json<Problem>();
    const prose = [problem.title, problem.detail, ...(problem.errors ?? []).map((e) => e.message)].join(' ');
    expect(prose).not.toMatch(LEAK);
    expect(await snapshot()).toBe(before);
  }
}

const json = fc.jsonValue({ maxDepth: 4 });
const nasty = fc.oneof(
  json,
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.double(),
  fc.integer(),
  fc.constantFrom(
    '',
    ' ',
    '%',
    '_',
    '\\',
    "'; DROP TABLE products; --",
    '\u0000',
    '\uD800',
    '𝕏'.repeat(100),
    '1e400',
    'NaN',
    '-0',
    '00000000-0000-0000-0000-000000000000',
  ),
);
const RUNS = { numRuns: 120 };

describe('hostile input (property-based)', () => {
  it('POST /api/v1/products with any JSON body', async () => {
    await fc.assert(
      fc.asyncProperty(json, (body) =>
        expectSafe(
          {
            method: 'POST',
            url: '/api/v1/products',
            payload: JSON.stringify(body),
            headers: { 'content-type': 'application/json' },
          },
          [201, 400, 409],
        ),
      ),
      RUNS,
    );
  });

  it('POST /api/v1/products with the right fields holding any values', async () => {
    const body = fc.record(
      { sku: nasty, name: nasty, price: nasty, description: nasty, currency: nasty },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(body, (payload) =>
        expectSafe({ method: 'POST', url: '/api/v1/products', payload }, [201, 400, 409]),
      ),
      RUNS,
    );
  });

  it('POST /api/v1/users with the right fields holding any values', async () => {
    const body = fc.record({ email: fc.oneof(nasty, fc.emailAddress()), name: nasty }, { requiredKeys: [] });
    await fc.assert(
      fc.asyncProperty(body, (payload) =>
        expectSafe({ method: 'POST', url: '/api/v1/users', payload }, [201, 400, 409]),
      ),
      RUNS,
    );
  });

  it('PATCH /api/v1/products/{id} with any object', async () => {
    const body = fc.dictionary(
      fc.constantFrom('sku', 'name', 'price', 'description', 'currency', 'version', 'id', '__proto__'),
      nasty,
      { maxKeys: 4 },
    );
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        await expectSafe(
          { method: 'PATCH', url: `/api/v1/products/${productId}`, payload, headers: { 'if-match': '"0"' } },
          [400, 412],
        );
      }),
      RUNS,
    );
  });

  it('GET lists with any query values', async () => {
    const query = fc.dictionary(
      fc.constantFrom('limit', 'cursor', 'sort', 'q', 'sku', 'currency', 'min_price', 'max_price', 'email', 'x'),
      fc.string({ unit: 'binary', maxLength: 40 }),
      { maxKeys: 4 },
    );
    await fc.assert(
      fc.asyncProperty(query, fc.constantFrom('products', 'users'), async (params, resource) => {
        const search = new URLSearchParams(params).toString();
        await expectSafe({ method: 'GET', url: `/api/v1/${resource}?${search}` }, [200, 400]);
      }),
      RUNS,
    );
  });

  // A NUL byte reached PostgreSQL through the users' email filter and came back as a 500;
  // the property above finds that only when it happens to draw NUL for that one key.
  it.each([
    ...['limit', 'cursor', 'sort', 'q', 'sku', 'currency', 'min_price', 'max_price'].map(
      (key) => ['products', key] as const,
    ),
    ...['limit', 'cursor', 'sort', 'q', 'email'].map((key) => ['users', key] as const),
  ])('GET /api/v1/%s?%s= with a NUL byte or another control character: 400', async (resource, key) => {
    for (const value of ['\u0000', 'a\u0000b', '\u0001', '\u007f']) {
      await expectSafe(
        { method: 'GET', url: `/api/v1/${resource}?${new URLSearchParams({ [key]: value }).toString()}` },
        [400],
      );
    }
  });

  it('any path id', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }), async (id) => {
        await expectSafe({ method: 'GET', url: `/api/v1/products/${encodeURIComponent(id)}` }, [400, 404]);
      }),
      RUNS,
    );
  });
});

describe('hostile input (literal table)', () => {
  const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
  it.each([
    ['SQL in a name', JSON.stringify(productInput({ name: "Robert'); DROP TABLE products;--" })), [201]],
    ['a NUL byte in the description', JSON.stringify(productInput({ description: 'a\u0000b' })), [400]],
    ['a lone surrogate in the name', JSON.stringify(productInput({ name: '\uD800' })), [201, 400]],
    ['zero-width and right-to-left text', JSON.stringify(productInput({ name: '\u200B\u202Eevil' })), [201, 400]],
    ['a huge number', `{"sku":"HUGE-1","name":"n","price":1e400}`, [400]],
    ['a tiny number', `{"sku":"TINY-1","name":"n","price":1e-320}`, [400]],
    ['negative zero', `{"sku":"NEGZ-1","name":"n","price":-0}`, [400]],
    ['a number as a string', `{"sku":"STR-1","name":"n","price":"12"}`, [400]],
    ['deep nesting', `{"sku":"DEEP-1","name":"n","price":1,"description":${deep(5000)}}`, [400]],
    ['duplicate keys', `{"sku":"DUP-1","name":"n","price":1,"price":-5}`, [400]],
    ['__proto__', `{"sku":"PROTO-1","name":"n","price":1,"__proto__":{"isAdmin":true}}`, [400]],
    [
      'constructor.prototype',
      `{"sku":"CTOR-1","name":"n","price":1,"constructor":{"prototype":{"isAdmin":true}}}`,
      [400],
    ],
    ['a body that is not an object', '"just a string"', [400]],
    ['truncated JSON', '{"sku":"TRUNC-1","name":', [400]],
    ['a body over the limit', JSON.stringify(productInput({ description: 'x'.repeat(70_000) })), [413]],
  ])('%s', async (_name, payload, allowed) => {
    await expectSafe(
      { method: 'POST', url: '/api/v1/products', payload, headers: { 'content-type': 'application/json' } },
      allowed,
    );
  });

  it('matches LIKE wildcards and SQL in q literally', async () => {
    for (const q of ['%', '_', '\\', "' OR '1'='1", '%_%']) {
      const response = await app.inject({ method: 'GET', url: `/api/v1/products?q=${encodeURIComponent(q)}` });
      expect(response.statusCode, q).toBe(200);
      expect(response.json<{ items: unknown[] }>().items, q).toEqual([]);
    }
  });
});
