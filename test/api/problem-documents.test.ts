import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput } from '../helpers/factories.js';

let db: TestDatabase;
let app: App;
let port: number;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db, { env: { HTTP_HEADERS_TIMEOUT_MS: '300', HTTP_REQUEST_TIMEOUT_MS: '600' } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Writes bytes on a fresh connection (pausing between chunks) and reads the first response. */
function raw(chunks: readonly (string | Buffer)[], pauseMs = 0): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const finish = () => {
      socket.destroy();
      const [head = '', ...rest] = received.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const at = line.indexOf(':');
        headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
      const length = Number(headers['content-length'] ?? NaN);
      const body = rest.join('\r\n\r\n');
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: body.slice(0, length) });
    };
    socket.on('data', (data: Buffer) => {
      received += data.toString('latin1');
      const head = received.indexOf('\r\n\r\n');
      const length = /content-length: *(\d+)/i.exec(received)?.[1];
      if (head !== -1 && length !== undefined && received.length >= head + 4 + Number(length)) finish();
    });
    socket.on('end', finish);
    socket.on('error', reject);
    void (async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk);
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
    })();
  });
}

/** What every error must be: a problem document with its request id in body and header, naming no library. */
function expectProblem(response: RawResponse, status: number, echoed?: string): Record<string, unknown> {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  const problem = JSON.parse(response.body) as Record<string, unknown>;
  expect(problem).toMatchObject({ status, type: expect.stringMatching(/^https:\/\//) });
  expect(problem['request_id']).toEqual(expect.any(String));
  expect(response.headers['x-request-id']).toBe(problem['request_id']);
  expect(response.body).not.toMatch(/FST_|fastify|node|HPE_|ERR_/i);
  if (echoed !== undefined) expect(response.body).not.toContain(echoed);
  return problem;
}

describe('errors raised by the framework and by the HTTP parser are problem documents', () => {
  it('a path that is not valid percent-encoding → 400', async () => {
    const response = await raw(['GET /api/v1/products/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n']);
    expectProblem(response, 400, '%E0%A4%A');
  });

  it('a path id longer than any id → 414, before authentication or routing work', async () => {
    for (const length of [37, 5000]) {
      const id = 'a'.repeat(length);
      const response = await raw([`DELETE /api/v1/users/${id} HTTP/1.1\r\nHost: x\r\n\r\n`]);
      expectProblem(response, 414, id);
    }
  });

  it('a body that is not JSON → 400', async () => {
    const body = '{"sku": nope}';
    const response = await raw([
      `POST /api/v1/products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body}`,
    ]);
    expectProblem(response, 400, 'nope');
  });

  it('an oversized header block → 431', async () => {
    const response = await raw([`GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`]);
    expectProblem(response, 431, 'bbbb');
  });

  it('a malformed request line → 400', async () => {
    expectProblem(await raw(['GET /livez HTTP/1.1 trailing\r\nHost: x\r\n\r\n']), 400, 'trailing');
    expectProblem(await raw(['NOT-A-METHOD /livez HTTP/1.1\r\nHost: x\r\n\r\n']), 400, 'NOT-A-METHOD');
  });

  it('conflicting Content-Length and Transfer-Encoding → 400', async () => {
    const response = await raw([
      'POST /api/v1/products HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ]);
    expectProblem(response, 400);
  });

  it('headers that do not arrive in time → 408', async () => {
    // The request line, then silence: the headers never complete.
    const response = await raw(['GET /livez HTTP/1.1\r\nHost: x\r\n']);
    expectProblem(response, 408);
  });

  it('a body that does not arrive in time → 408', async () => {
    const head =
      'POST /api/v1/products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n';
    const response = await raw([head, '{"sku":']);
    expectProblem(response, 408);
  });

  it('an unknown route → 404 without echoing the path', async () => {
    const response = await raw(['GET /no/such/<script> HTTP/1.1\r\nHost: x\r\n\r\n']);
    const problem = expectProblem(response, 404);
    expect(String(problem['detail'])).not.toContain('script');
  });
});

async function productCount(): Promise<number> {
  const result = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM products');
  return Number(result.rows[0]?.n);
}

describe('text is stored as sent, or refused', () => {
  it('a body that is not UTF-8 → 400 naming the field, nothing written', async () => {
    const before = await productCount();
    const json = JSON.stringify(productInput({ name: 'café' }));
    const latin1 = Buffer.from(json, 'latin1'); // é as the single byte E9: not UTF-8
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers: { 'content-type': 'application/json' },
      payload: latin1,
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ errors: [{ path: '/name', message: 'is not valid UTF-8' }] });
    expect(await productCount()).toBe(before);
  });

  it('a JSON string holding a lone surrogate → 400 naming the field, nothing written', async () => {
    const before = await productCount();
    const cases = [
      [
        '/api/v1/products',
        'description',
        '{"sku":"LS-1","name":"x","price":1,"currency":"EUR","description":"a\\ud800b"}',
      ],
      ['/api/v1/users', 'name', '{"email":"lone@example.com","name":"a\\udc00"}'],
    ] as const;
    for (const [url, field, payload] of cases) {
      const method = 'POST';
      const response = await app.inject({ method, url, headers: { 'content-type': 'application/json' }, payload });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({
        errors: [{ path: `/${field}`, message: expect.stringMatching(/surrogate/) }],
      });
    }
    expect(await productCount()).toBe(before);
  });

  it('a lone surrogate in a merge patch → 400, the resource unchanged', async () => {
    const created = (await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() })).json<{
      id: string;
      name: string;
    }>();
    const response = await app.inject({
      method: 'PATCH',
      url: `/api/v1/products/${created.id}`,
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: '{"name":"\\udfff"}',
    });
    expect(response.statusCode).toBe(400);
    const now = await app.inject({ method: 'GET', url: `/api/v1/products/${created.id}` });
    expect(now.json()).toMatchObject({ name: created.name, version: 1 });
  });

  it('paired surrogates and non-ASCII text are stored exactly as sent', async () => {
    const name = 'crème 😀 \u4e2d';
    const payload = JSON.stringify(productInput({ name })).replace('😀', '\\ud83d\\ude00');
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expect(response.statusCode).toBe(201);
    const id = response.json<{ id: string }>().id;
    const stored = await db.pool.query<{ name: string }>('SELECT name FROM products WHERE id = $1', [id]);
    expect(stored.rows[0]?.name).toBe(name);
  });

  it('lengths count characters, as the document and PostgreSQL do, not UTF-16 units', async () => {
    const astral = '😀'.repeat(200); // 200 characters, 400 UTF-16 units
    const fits = await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput({ name: astral }) });
    expect(fits.statusCode).toBe(201);
    expect(fits.json()).toMatchObject({ name: astral });
    const over = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      payload: productInput({ name: `${astral}x` }),
    });
    expect(over.statusCode).toBe(400);
    expect(over.json()).toMatchObject({ errors: [{ path: '/name', message: 'must be at most 200 characters' }] });
    const blank = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      payload: { email: 'b@x.example', name: ' a ' },
    });
    expect(blank.json()).toMatchObject({ errors: [{ path: '/name', message: 'must be at least 2 characters' }] });
  });

  it('a query value that is not UTF-8 → 400 naming the parameter', async () => {
    for (const q of ['%FF', '%ED%A0%80', '%C3']) {
      const response = await app.inject({ method: 'GET', url: `/api/v1/products?limit=5&q=${q}` });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ errors: [{ path: 'query.q' }] });
    }
    const fine = await app.inject({ method: 'GET', url: '/api/v1/products?q=caf%C3%A9+au&limit=5' });
    expect(fine.statusCode).toBe(200);
  });

  it('a path that is not UTF-8 → 400', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/v1/products/%FF' });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  });

  it('a Content-Encoding the service does not decode → 415, nothing written', async () => {
    const before = await productCount();
    for (const encoding of ['gzip', 'br', 'x-unknown']) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/products',
        headers: { 'content-type': 'application/json', 'content-encoding': encoding },
        payload: JSON.stringify(productInput()),
      });
      expect(response.statusCode).toBe(415);
    }
    expect(await productCount()).toBe(before);
  });
});

describe('error bodies are bounded', () => {
  it('50,000 invalid fields: the first 100 listed, all counted, smaller than the request', async () => {
    const body: Record<string, number> = {};
    for (let i = 0; i < 50_000; i++) body[`f${i}`] = i;
    const payload = JSON.stringify(body);
    const large = await buildTestApp(db, { env: { BODY_LIMIT_BYTES: '1048576' } });
    try {
      const response = await large.inject({
        method: 'POST',
        url: '/api/v1/products',
        payload,
        headers: {
          'content-type': 'application/json',
        },
      });
      expect(response.statusCode).toBe(400);
      const problem = response.json<{ errors: unknown[]; error_count: number; detail: string }>();
      expect(problem.errors).toHaveLength(100);
      expect(problem.error_count).toBeGreaterThanOrEqual(50_000);
      expect(response.body.length).toBeLessThan(payload.length);
    } finally {
      await large.close();
    }
  });
});
