import { createServer } from 'node:http';
import helmet from 'helmet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { API_SECURITY, DOCS_SECURITY } from '../../src/http/security-headers.js';
import { buildTestApp, TEST_JWT_SECRET } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput } from '../helpers/factories.js';
import { token } from '../helpers/tokens.js';

let db: TestDatabase;
let app: App;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db, { env: { CORS_ORIGINS: 'https://app.example' } });
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

async function createProduct(target: App = app) {
  return (await target.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() })).json<{
    id: string;
  }>();
}

describe('conditional writes under concurrency', () => {
  it('ten concurrent PATCHes with one ETag: exactly one 200, nine 412', async () => {
    const { id } = await createProduct();
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        app.inject({
          method: 'PATCH',
          url: `/api/v1/products/${id}`,
          headers: { 'if-match': '"1"' },
          payload: { name: `writer ${i}` },
        }),
      ),
    );
    expect(responses.map((r) => r.statusCode).sort()).toEqual([200, ...Array.from({ length: 9 }, () => 412)]);
    const final = await app.inject({ method: 'GET', url: `/api/v1/products/${id}` });
    expect(final.json()).toMatchObject({
      version: 2,
      name: responses.find((r) => r.statusCode === 200)?.json<{ name: string }>().name,
    });
  });

  it('REQUIRE_IF_MATCH=true: writes without If-Match get 428, with it they proceed', async () => {
    const strict = await buildTestApp(db, { env: { REQUIRE_IF_MATCH: 'true' } });
    try {
      const { id } = await createProduct(strict);
      for (const [method, payload] of [
        ['PATCH', { name: 'x' }],
        ['PUT', productInput()],
        ['DELETE', undefined],
      ] as const) {
        const response = await strict.inject({ method, url: `/api/v1/products/${id}`, ...(payload && { payload }) });
        expect(response.statusCode, method).toBe(428);
        expect(response.json()).toMatchObject({ type: 'https://problems.example.dev/precondition-required' });
      }
      const patched = await strict.inject({
        method: 'PATCH',
        url: `/api/v1/products/${id}`,
        headers: { 'if-match': '"1"' },
        payload: { name: 'ok' },
      });
      expect(patched.statusCode).toBe(200);
    } finally {
      await strict.close();
    }
  });
});

describe('rate limiting', () => {
  it('limits per subject: 429 problem, Retry-After, RateLimit headers; others and probes unaffected', async () => {
    const limited = await buildTestApp(db, {
      env: { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: TEST_JWT_SECRET, RATE_LIMIT_MAX: '3' },
    });
    try {
      const alice = { authorization: `Bearer ${await token({ subject: 'alice' })}` };
      const bob = { authorization: `Bearer ${await token({ subject: 'bob' })}` };
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await limited.inject({ method: 'GET', url: '/api/v1/products', headers: alice })).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const limitedResponse = await limited.inject({ method: 'GET', url: '/api/v1/products', headers: alice });
      expect(limitedResponse.statusCode).toBe(429);
      expect(limitedResponse.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      expect(limitedResponse.json()).toMatchObject({ type: 'https://problems.example.dev/rate-limited', status: 429 });
      expect(Number(limitedResponse.headers['retry-after'])).toBeGreaterThan(0);
      expect(limitedResponse.headers['ratelimit-limit']).toBe('3');
      expect(limitedResponse.headers['ratelimit-remaining']).toBe('0');
      expect(limitedResponse.headers['ratelimit-reset']).toBeDefined();
      const other = await limited.inject({ method: 'GET', url: '/api/v1/products', headers: bob });
      expect(other.statusCode).toBe(200);
      expect(other.headers['ratelimit-remaining']).toBe('2');
      for (const url of ['/healthz', '/livez', '/readyz', '/metrics', '/openapi.json']) {
        for (let i = 0; i < 5; i++) expect((await limited.inject({ method: 'GET', url })).statusCode, url).toBe(200);
      }
    } finally {
      await limited.close();
    }
  });

  it('limits anonymous callers per client IP', async () => {
    const limited = await buildTestApp(db, { env: { RATE_LIMIT_MAX: '2' } });
    try {
      const from = (remoteAddress: string) => limited.inject({ method: 'GET', url: '/api/v1/users', remoteAddress });
      expect([
        (await from('10.0.0.1')).statusCode,
        (await from('10.0.0.1')).statusCode,
        (await from('10.0.0.1')).statusCode,
      ]).toEqual([200, 200, 429]);
      expect((await from('10.0.0.2')).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('security headers and CORS', () => {
  it('sends protective headers and no X-Powered-By', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/v1/products' });
    expect(response.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'strict-transport-security': expect.stringContaining('max-age='),
      'content-security-policy': "default-src 'none';frame-ancestors 'none'",
      'cross-origin-resource-policy': 'same-origin',
    });
    // Headers that only mean something for a page stay off JSON responses.
    for (const name of ['x-xss-protection', 'origin-agent-cluster', 'x-download-options', 'x-dns-prefetch-control'])
      expect(response.headers[name], name).toBeUndefined();
    expect(response.headers['x-powered-by']).toBeUndefined();
    // Swagger UI gets the page set, with a policy that lets it load its own scripts.
    const docs = await app.inject({ method: 'GET', url: '/docs/' });
    expect(docs.headers['content-security-policy']).toContain("script-src 'self'");
    expect(docs.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
    expect(docs.headers['x-frame-options']).toBe('SAMEORIGIN');
  });

  /** What helmet itself, as middleware on a real http.Server, sets with these options. */
  async function helmetReference(options: Parameters<typeof helmet>[0]): Promise<Record<string, string>> {
    const plain = createServer((request, response) => helmet(options)(request, response, () => response.end()));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const address = plain.address();
    const reference = await fetch(
      `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/`,
    );
    plain.close();
    return Object.fromEntries(
      [...reference.headers].filter(
        ([name]) => !['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(name),
      ),
    );
  }

  it('sends exactly the headers helmet sets on a plain Node server, on every kind of response', async () => {
    const api = await helmetReference(API_SECURITY);
    const docs = await helmetReference(DOCS_SECURITY);
    expect(Object.keys(api).length).toBeGreaterThanOrEqual(6);
    expect(Object.keys(docs).length).toBeGreaterThan(Object.keys(api).length);
    const pageOnly = Object.keys(docs).filter((name) => !(name in api));

    const responses = [
      await app.inject({
        method: 'GET',
        url: '/api/v1/products',
        headers: { authorization: `Bearer ${await token()}` },
      }), // 200
      await app.inject({
        method: 'GET',
        url: '/api/v1/products?limit=abc',
        headers: { authorization: `Bearer ${await token()}` },
      }), // 400
      await app.inject({ method: 'GET', url: '/nowhere' }), // 404
      await app.inject({ method: 'GET', url: '/docsearch' }), // 404, not Swagger UI
      await app.inject({ method: 'GET', url: '/healthz' }),
    ];
    expect(responses.map((r) => r.statusCode)).toEqual([200, 400, 404, 404, 200]);
    for (const response of responses) {
      expect(response.headers).toMatchObject(api);
      for (const name of pageOnly) expect(response.headers[name], name).toBeUndefined();
    }
    const page = await app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers).toMatchObject(docs);
  });

  it('allows only the configured origins', async () => {
    const allowed = await app.inject({
      method: 'GET',
      url: '/api/v1/products',
      headers: { origin: 'https://app.example' },
    });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(allowed.headers['access-control-expose-headers']).toContain('ETag');
    expect(allowed.headers.vary).toContain('Origin');
    expect(allowed.headers.vary).toContain('Authorization');
    const denied = await app.inject({
      method: 'GET',
      url: '/api/v1/products',
      headers: { origin: 'https://evil.example' },
    });
    expect(denied.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/api/v1/products',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,idempotency-key',
      },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-headers']).toMatch(/Idempotency-Key/);
  });

  it('allows no cross-origin use by default', async () => {
    const closed = await buildTestApp(db);
    try {
      const response = await closed.inject({
        method: 'GET',
        url: '/api/v1/products',
        headers: { origin: 'https://app.example' },
      });
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
      const preflight = await closed.inject({
        method: 'OPTIONS',
        url: '/api/v1/products',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
      });
      expect(preflight.statusCode).toBe(404);
      expect(preflight.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
    } finally {
      await closed.close();
    }
  });
});

describe('API description', () => {
  /* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access,
     @typescript-eslint/no-unsafe-argument -- an OpenAPI document, inspected by path */
  it('serves OpenAPI 3.1 with every route, bearer security, problem responses and headers', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<Record<string, any>>();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/v1/events',
      '/api/v1/products',
      '/api/v1/products/{id}',
      '/api/v1/users',
      '/api/v1/users/{id}',
      '/healthz',
      '/livez',
      '/metrics',
      '/openapi.json',
      '/readyz',
    ]);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const create = doc.paths['/api/v1/products'].post;
    expect(create.responses['422'].content['application/problem+json'].schema).toBeDefined();
    expect(create.responses['201'].headers).toHaveProperty('Location');
    expect(doc.paths['/api/v1/products'].get.responses['200'].headers).toHaveProperty('Link');
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.components.schemas.NewProductInput.example).toMatchObject({ sku: 'MUG-001' });
  });
  /* eslint-enable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access,
     @typescript-eslint/no-unsafe-argument */

  it('serves Swagger UI at /docs', async () => {
    const page = await app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body).toContain('swagger-ui');
  });
});
