import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp, composeTestApp, TEST_JWT_SECRET } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput, userInput } from '../helpers/factories.js';
import { token } from '../helpers/tokens.js';

let db: TestDatabase;
let app: App;
let productId: string;
let userId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db, { env: { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: TEST_JWT_SECRET } });
  const headers = { authorization: `Bearer ${await token()}` };
  productId = (await app.inject({ method: 'POST', url: '/api/v1/products', headers, payload: productInput() })).json<{
    id: string;
  }>().id;
  userId = (await app.inject({ method: 'POST', url: '/api/v1/users', headers, payload: userInput() })).json<{
    id: string;
  }>().id;
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
interface RouteCase {
  method: Method;
  url: () => string;
  scope: string;
  payload?: () => Record<string, unknown>;
}

const ROUTES: RouteCase[] = [
  { method: 'GET', url: () => '/api/v1/products', scope: 'products:read' },
  { method: 'GET', url: () => `/api/v1/products/${productId}`, scope: 'products:read' },
  { method: 'POST', url: () => '/api/v1/products', scope: 'products:write', payload: () => productInput() },
  {
    method: 'PATCH',
    url: () => `/api/v1/products/${productId}`,
    scope: 'products:write',
    payload: () => ({ name: 'patched' }),
  },
  { method: 'PUT', url: () => `/api/v1/products/${productId}`, scope: 'products:write', payload: () => productInput() },
  { method: 'DELETE', url: () => '/api/v1/products/01890000-0000-7000-8000-000000000000', scope: 'products:write' },
  { method: 'GET', url: () => '/api/v1/users', scope: 'users:read' },
  { method: 'GET', url: () => `/api/v1/users/${userId}`, scope: 'users:read' },
  { method: 'POST', url: () => '/api/v1/users', scope: 'users:write', payload: () => userInput() },
  {
    method: 'PATCH',
    url: () => `/api/v1/users/${userId}`,
    scope: 'users:write',
    payload: () => ({ name: 'Patched Name' }),
  },
  { method: 'PUT', url: () => `/api/v1/users/${userId}`, scope: 'users:write', payload: () => userInput() },
  { method: 'DELETE', url: () => '/api/v1/users/01890000-0000-7000-8000-000000000000', scope: 'users:write' },
];

const request = (route: RouteCase, authorization?: string) =>
  app.inject({
    method: route.method,
    url: route.url(),
    headers: authorization === undefined ? {} : { authorization },
    ...(route.payload && { payload: route.payload() }),
  });

/** A scope that does not grant the route: the other resource's write scope. */
const wrongScope = (scope: string) => (scope.startsWith('products') ? 'users:write' : 'products:write');

describe.each(ROUTES.map((r) => [`${r.method} ${r.url().replace(/[0-9a-f-]{36}/, '{id}')}`, r] as const))(
  '%s',
  (_name, route) => {
    it('without a token: 401 with WWW-Authenticate invalid_token', async () => {
      const response = await request(route);
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
      expect(response.json()).toMatchObject({ type: 'https://problems.example.dev/unauthenticated', status: 401 });
    });

    it('with the wrong scope: 403 insufficient_scope naming the scope', async () => {
      const response = await request(route, `Bearer ${await token({ scopes: [wrongScope(route.scope)] })}`);
      expect(response.statusCode).toBe(403);
      expect(response.headers['www-authenticate']).toBe(`Bearer error="insufficient_scope", scope="${route.scope}"`);
    });

    it('with the right scope: served', async () => {
      const response = await request(route, `Bearer ${await token({ scopes: [route.scope] })}`);
      expect([200, 201, 204, 404]).toContain(response.statusCode);
      expect(response.statusCode === 404).toBe(route.method === 'DELETE');
    });
  },
);

describe('scopes', () => {
  it(':write implies :read on the same resource only, and `scp` arrays count', async () => {
    const writer = `Bearer ${await token({ scopes: ['products:write'] })}`;
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/products', headers: { authorization: writer } })).statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/users', headers: { authorization: writer } })).statusCode,
    ).toBe(403);
    const scp = await new SignJWT({ scp: ['users:read'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('s')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/users', headers: { authorization: `Bearer ${scp}` } }))
        .statusCode,
    ).toBe(200);
  });
});

describe('bad tokens', () => {
  const secret = new TextEncoder().encode(TEST_JWT_SECRET);
  const base = () => new SignJWT({ scope: 'products:read' }).setSubject('s');
  const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = (payload: Record<string, unknown>) =>
    `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(payload)}.`;

  it.each([
    [
      'expired',
      async () =>
        base()
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
          .sign(secret),
      'expired',
    ],
    [
      'not yet valid',
      async () => base().setProtectedHeader({ alg: 'HS256' }).setNotBefore('10m').setExpirationTime('20m').sign(secret),
      'not valid here',
    ],
    ['without exp', async () => base().setProtectedHeader({ alg: 'HS256' }).sign(secret), 'not valid here'],
    [
      'signed with another secret',
      async () =>
        base()
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode('x'.repeat(40))),
      'signature',
    ],
    [
      'alg none',
      () => Promise.resolve(unsigned({ sub: 's', scope: 'products:read', exp: Math.floor(Date.now() / 1000) + 600 })),
      'none',
    ],
    ['garbage', () => Promise.resolve('not.a.jwt'), 'malformed'],
    [
      'without sub',
      async () =>
        new SignJWT({ scope: 'products:read' })
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime('5m')
          .sign(secret),
      'subject',
    ],
    [
      'with an empty sub',
      async () => base().setSubject('').setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(secret),
      'subject',
    ],
    [
      'with a blank sub',
      async () => base().setSubject('  ').setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(secret),
      'subject',
    ],
    [
      'with a numeric sub',
      async () =>
        new SignJWT({ scope: 'products:read', sub: 42 } as unknown as Record<string, unknown>)
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime('5m')
          .sign(secret),
      'subject',
    ],
    ['HS384', async () => base().setProtectedHeader({ alg: 'HS384' }).setExpirationTime('5m').sign(secret), 'HS384'],
  ])('%s → 401 with a reason', async (_name, make, reason) => {
    const response = await app.inject({
      method: 'GET',
      url: '/api/v1/products',
      headers: { authorization: `Bearer ${await make()}` },
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
    expect(response.json<{ detail: string }>().detail).toContain(reason);
  });

  it('keeps idempotency keys apart per subject: one caller never replays another’s response', async () => {
    const key = `shared-key-${Date.now()}`;
    const post = async (subject: string, payload: Record<string, unknown>) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/products',
        headers: { authorization: `Bearer ${await token({ subject })}`, 'idempotency-key': key },
        payload,
      });
    const same = productInput();
    const alice = await post('alice', same);
    const mallory = await post('mallory', { ...same, sku: `${same['sku'] as string}-M` });
    const aliceAgain = await post('alice', same);
    expect([alice.statusCode, mallory.statusCode, aliceAgain.statusCode]).toEqual([201, 201, 201]);
    expect(mallory.headers['idempotent-replayed']).toBeUndefined();
    expect(mallory.json<{ id: string }>().id).not.toBe(alice.json<{ id: string }>().id);
    expect(aliceAgain.headers['idempotent-replayed']).toBe('true');
    expect(aliceAgain.json<{ id: string }>().id).toBe(alice.json<{ id: string }>().id);
  });

  it('refuses a non-Bearer scheme', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/api/v1/products',
      headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
    });
    expect(response.statusCode).toBe(401);
  });

  it('checks issuer and audience when configured', async () => {
    const strict = await buildTestApp(db, {
      env: {
        AUTH_MODE: 'jwt',
        AUTH_JWT_SECRET: TEST_JWT_SECRET,
        AUTH_ISSUER: 'https://issuer.example',
        AUTH_AUDIENCE: 'product-api',
      },
    });
    try {
      const sign = (iss: string, aud: string) =>
        base()
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer(iss)
          .setAudience(aud)
          .setExpirationTime('5m')
          .sign(secret);
      const get = async (jwt: string) =>
        (await strict.inject({ method: 'GET', url: '/api/v1/products', headers: { authorization: `Bearer ${jwt}` } }))
          .statusCode;
      expect(await get(await sign('https://issuer.example', 'product-api'))).toBe(200);
      expect(await get(await sign('https://evil.example', 'product-api'))).toBe(401);
      expect(await get(await sign('https://issuer.example', 'other-api'))).toBe(401);
    } finally {
      await strict.close();
    }
  });
});

describe('operational routes', () => {
  it.each(['/healthz', '/livez', '/readyz', '/metrics', '/openapi.json', '/docs/'])(
    '%s needs no token',
    async (url) => {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode).toBe(200);
    },
  );
});

describe('JWKS (RS256/ES256) with key rotation', () => {
  let jwksServer: Server;
  let served: JWK[] = [];
  let fetches = 0;

  beforeAll(async () => {
    jwksServer = createServer((_request, response) => {
      fetches++;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => jwksServer.close());

  it('verifies with the published key, re-fetches on an unknown kid (rotation), refuses HS/RS confusion', async () => {
    const address = jwksServer.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const jwksUrl = `http://127.0.0.1:${port}/.well-known/jwks.json`;
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256', { extractable: true });
    served = [{ ...(await exportJWK(rsa.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' }];
    const jwksApp = await buildTestApp(db, {
      env: { AUTH_MODE: 'jwt', AUTH_JWKS_URL: jwksUrl, AUTH_JWKS_COOLDOWN_MS: '0' },
    });
    // A jti per token: RS256 signatures are deterministic, and an identical token would be
    // answered from the verification cache (which honours a removed key for up to a minute).
    const sign = (alg: 'RS256' | 'ES256', kid: string, key: Parameters<SignJWT['sign']>[0]) =>
      new SignJWT({ scope: 'products:read', jti: crypto.randomUUID() })
        .setProtectedHeader({ alg, kid })
        .setSubject('svc')
        .setExpirationTime('5m')
        .sign(key);
    const get = async (jwt: string) =>
      (await jwksApp.inject({ method: 'GET', url: '/api/v1/products', headers: { authorization: `Bearer ${jwt}` } }))
        .statusCode;
    try {
      expect(await get(await sign('RS256', 'key-1', rsa.privateKey))).toBe(200);
      expect(fetches).toBe(1);

      // The identity provider rotates to a new key; the service learns it without a restart.
      served = [{ ...(await exportJWK(ec.publicKey)), kid: 'key-2', alg: 'ES256', use: 'sig' }];
      expect(await get(await sign('ES256', 'key-2', ec.privateKey))).toBe(200);
      expect(fetches).toBe(2);
      expect(await get(await sign('RS256', 'key-1', rsa.privateKey))).toBe(401);

      // Algorithm confusion: an HS256 token keyed with the public key is not an RSA token.
      const publicPem = JSON.stringify(served[0]);
      const confused = await new SignJWT({ scope: 'products:read' })
        .setProtectedHeader({ alg: 'HS256', kid: 'key-2' })
        .setSubject('x')
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(publicPem));
      expect(await get(confused)).toBe(401);
    } finally {
      await jwksApp.close();
    }
  });
});

describe('a route added under /api/v1 later, by any plugin', () => {
  it('is authenticated, scoped and rate limited without asking for it', async () => {
    const extended = await composeTestApp(db, {
      env: { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: TEST_JWT_SECRET, RATE_LIMIT_MAX: '2' },
    });
    extended.get('/api/v1/reports', { config: { scope: 'products:read' } }, () => ({ ok: true }));
    await extended.register(
      // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions by contract.
      async (plugin) => void plugin.get('/nested', { config: { scope: 'users:write' } }, () => ({ ok: true })),
      { prefix: '/api/v1/more' },
    );
    await extended.ready();
    try {
      for (const url of ['/api/v1/reports', '/api/v1/more/nested']) {
        const anonymous = await extended.inject({ method: 'GET', url });
        expect(anonymous.statusCode, url).toBe(401);
        expect(anonymous.headers['www-authenticate']).toMatch(/invalid_token/);
        const head = await extended.inject({ method: 'HEAD', url });
        expect(head.statusCode, `HEAD ${url}`).toBe(401);
      }
      const readOnly = { authorization: `Bearer ${await token({ scopes: ['users:read'] })}` };
      expect((await extended.inject({ method: 'GET', url: '/api/v1/more/nested', headers: readOnly })).statusCode).toBe(
        403,
      );
      const allowed = { authorization: `Bearer ${await token({ subject: 'reporter' })}` };
      const statuses = [];
      for (let i = 0; i < 3; i++) {
        statuses.push((await extended.inject({ method: 'GET', url: '/api/v1/reports', headers: allowed })).statusCode);
      }
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await extended.close();
    }
  });

  it('is refused at start-up when it declares no scope', async () => {
    const extended = await composeTestApp(db);
    try {
      expect(() => extended.get('/api/v1/open', () => ({ ok: true }))).toThrow(/has no scope/);
    } finally {
      await extended.close();
    }
  });
});
