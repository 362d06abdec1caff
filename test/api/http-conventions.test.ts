import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp, capturingLogger } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput } from '../helpers/factories.js';

let db: TestDatabase;
let app: App;
const logs = capturingLogger();

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db, { logger: logs.logger });
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('X-Request-ID', () => {
  it('echoes a well-formed caller id and puts it in the log line of the request', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/api/v1/products?limit=1',
      headers: { 'x-request-id': 'client-abc.123:xyz' },
    });
    expect(response.headers['x-request-id']).toBe('client-abc.123:xyz');
    const line = logs.lines.find((l) => l.request_id === 'client-abc.123:xyz');
    expect(line).toMatchObject({
      level: 'info',
      method: 'GET',
      route: '/api/v1/products',
      status: 200,
      msg: 'request completed',
    });
    expect(typeof line?.duration_ms).toBe('number');
  });

  it.each(['has spaces', 'x'.repeat(129), '<script>', ''])(
    'replaces an unsafe caller id (%j) with a fresh UUID',
    async (given) => {
      const response = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': given } });
      expect(response.headers['x-request-id']).toMatch(UUID);
    },
  );

  it('is on error responses too, and matches request_id in the problem body', async () => {
    for (const request of [
      { method: 'GET' as const, url: '/nope' },
      { method: 'POST' as const, url: '/api/v1/products', payload: { price: -1 } },
      { method: 'POST' as const, url: '/api/v1/products', headers: { 'content-type': 'text/plain' }, payload: 'x' },
      { method: 'GET' as const, url: '/api/v1/products/00000000-0000-0000-0000-00000000000x' },
    ]) {
      const response = await app.inject(request);
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
      expect(response.headers['x-request-id']).toMatch(UUID);
      expect(response.json<{ request_id: string }>().request_id).toBe(response.headers['x-request-id']);
    }
  });

  it('logs the route pattern, never the raw id, as the route', async () => {
    const created = await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() });
    const id = created.json<{ id: string }>().id;
    const read = await app.inject({ method: 'GET', url: `/api/v1/products/${id}` });
    const line = logs.lines.find((l) => l.request_id === read.headers['x-request-id']);
    expect(line).toMatchObject({ route: '/api/v1/products/:id', url: `/api/v1/products/${id}` });
  });
});

describe('unknown routes and methods', () => {
  it('answers 404 problem+json for an unknown path', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/v2/products' });
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(response.json()).toMatchObject({
      type: 'https://problems.example.dev/not-found',
      status: 404,
      instance: '/api/v2/products',
    });
    const line = logs.lines.find((l) => l.request_id === response.headers['x-request-id']);
    expect(line).toMatchObject({ route: 'unmatched', status: 404 });
  });

  it('answers 404 for a method a route does not have', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/products/01890000-0000-7000-8000-000000000000' });
    expect(response.statusCode).toBe(404);
  });
});

describe('internal errors', () => {
  it('masks a bug as 500 without SQL, driver text, stack or paths, and logs it with the request id', async () => {
    const broken = await createTestDatabase();
    const brokenApp = await buildTestApp(broken, { logger: logs.logger });
    try {
      await broken.pool.query('ALTER TABLE products RENAME TO products_gone');
      const response = await brokenApp.inject({
        method: 'GET',
        url: '/api/v1/products',
        headers: { 'x-request-id': 'bug-1' },
      });
      expect(response.statusCode).toBe(500);
      expect(response.json()).toEqual({
        type: 'https://problems.example.dev/internal-error',
        title: 'Internal server error',
        status: 500,
        detail: 'An unexpected error occurred; quote request id bug-1 when reporting it',
        instance: '/api/v1/products',
        request_id: 'bug-1',
      });
      expect(response.body).not.toMatch(/relation|SELECT|postgres|pg|stack|\.ts|\/work\//i);
      const errorLine = logs.lines.find((l) => l.request_id === 'bug-1' && l.level === 'error');
      expect(errorLine).toMatchObject({
        msg: 'unhandled error',
        err: { message: expect.stringContaining('products') },
      });
    } finally {
      await brokenApp.close();
      await broken.drop();
    }
  });
});

describe('log lines', () => {
  it('are written for requests refused before routing too (a bad path, too long an id), and counted', async () => {
    const bad = await app.inject({
      method: 'GET',
      url: '/api/v1/products/%E0%A4%A',
      headers: { 'x-request-id': 'bad-path-1' },
    });
    const long = await app.inject({
      method: 'GET',
      url: `/api/v1/products/${'a'.repeat(40)}`,
      headers: { 'x-request-id': 'long-id-1' },
    });
    expect([bad.statusCode, long.statusCode]).toEqual([400, 414]);
    expect(logs.lines.find((l) => l.request_id === 'bad-path-1')).toMatchObject({ status: 400, route: 'unmatched' });
    expect(logs.lines.find((l) => l.request_id === 'long-id-1')).toMatchObject({ status: 414, route: 'unmatched' });
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/http_requests_total\{method="GET",route="unmatched",status_code="414"\} [1-9]/);
  });

  it('never hold a credential sent in the query string', async () => {
    const secret = 'eyJhbGciOiJIUzI1NiJ9.secret-part.signature';
    for (const name of ['access_token', 'ACCESS_TOKEN', 'access%5Ftoken', 'token', 'api_key', 'key', 'password']) {
      const response = await app.inject({
        method: 'GET',
        url: `/api/v1/products?limit=1&${name}=${secret}&sort=name`,
        headers: { 'x-request-id': `cred-${name.replace(/%/g, '')}` },
      });
      const line = logs.lines.find((l) => l.request_id === `cred-${name.replace(/%/g, '')}`);
      expect(line, name).toBeDefined();
      expect(JSON.stringify(line)).not.toContain('secret-part');
      expect(line?.['url']).toBe(`/api/v1/products?limit=1&${name}=[redacted]&sort=name`);
      expect(response.statusCode).toBeGreaterThanOrEqual(200);
    }
    expect(JSON.stringify(logs.lines)).not.toContain('secret-part');
  });

  it('carry a trace id on every line of a request without a span: the caller’s, else a new one', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const broken = await createTestDatabase();
    const brokenApp = await buildTestApp(broken, { logger: logs.logger });
    try {
      await broken.pool.query('ALTER TABLE products RENAME TO products_gone');
      await brokenApp.inject({
        method: 'GET',
        url: '/api/v1/products',
        headers: { 'x-request-id': 'traced-by-caller', traceparent: `00-${traceId}-00f067aa0ba902b7-00` },
      });
      await brokenApp.inject({ method: 'GET', url: '/api/v1/products', headers: { 'x-request-id': 'no-parent' } });
    } finally {
      await brokenApp.close();
      await broken.drop();
    }
    const caller = logs.lines.filter((l) => l.request_id === 'traced-by-caller');
    expect(caller.map((l) => l.msg)).toEqual(['unhandled error', 'request completed']);
    for (const line of caller) expect(line).toMatchObject({ trace_id: traceId, trace_flags: '00' });
    const fresh = logs.lines.filter((l) => l.request_id === 'no-parent');
    expect(fresh).toHaveLength(2);
    expect(fresh[0]?.['trace_id']).toMatch(/^[0-9a-f]{32}$/);
    expect(fresh[1]?.['trace_id']).toBe(fresh[0]?.['trace_id']);
    expect(fresh[0]?.['trace_id']).not.toBe(traceId);
  });
});
