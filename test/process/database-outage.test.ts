import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/dev/embedded-postgres.js';
import { migrate } from '../../src/postgres/migrate.js';
import { createPool } from '../../src/postgres/pool.js';
import { buildTestApp } from '../helpers/app.js';
import { silentLogger } from '../helpers/database.js';
import { freePort } from '../helpers/database-server.js';
import { productInput } from '../helpers/factories.js';

/** A PostgreSQL of this test's own, so it can be stopped and started under the service. */
let server: EmbeddedDatabase;
let dir: string;
let port: number;
let app: App;
let pool: ReturnType<typeof createPool>;

const start = () => startEmbeddedPostgres({ dir, port, persistent: true, logger: silentLogger });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  const parent = await mkdtemp(join(tmpdir(), 'outage-'));
  await chmod(parent, 0o755);
  dir = join(parent, 'pg');
  port = await freePort();
  server = await start();
  await migrate(server.url, silentLogger);
  pool = createPool(
    {
      url: server.url,
      poolMax: 10,
      statementTimeoutMs: 2000,
      connectTimeoutMs: 1000,
      acquireTimeoutMs: 2000,
      idleTimeoutMs: 10_000,
    },
    silentLogger,
  );
  app = await buildTestApp(
    { url: server.url, pool },
    {
      env: {
        DB_STATEMENT_TIMEOUT_MS: '2000',
        DB_BREAKER_RESET_MS: '1000',
        DB_BREAKER_VOLUME_THRESHOLD: '3',
        // Reads by id must reach the database here: a cached copy would still be served.
        CACHE: 'off',
      },
    },
  );
});
afterAll(async () => {
  await app.close();
  await pool.end().catch(() => undefined);
  await server.stop();
});

describe('PostgreSQL stopped and restarted under the running service', () => {
  it('fails fast with 503 + Retry-After while it is down, and recovers by itself within 10 s', async () => {
    const before = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      payload: productInput({ name: 'before the outage' }),
    });
    expect(before.statusCode).toBe(201);

    await server.stop();
    const slowest: number[] = [];
    for (let i = 0; i < 12; i++) {
      for (const request of [
        { method: 'POST' as const, url: '/api/v1/products', payload: productInput() },
        { method: 'GET' as const, url: `/api/v1/products/${before.json<{ id: string }>().id}` },
        { method: 'GET' as const, url: '/api/v1/users' },
      ]) {
        const startedAt = Date.now();
        const response = await app.inject(request);
        slowest.push(Date.now() - startedAt);
        expect(response.statusCode, response.body).toBe(503);
        expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(response.json()).toMatchObject({ type: 'https://problems.example.dev/service-unavailable' });
      }
    }
    expect(Math.max(...slowest)).toBeLessThan(2000);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toMatchObject({
      checks: { database: 'down' },
    });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);

    server = await start();
    const restartedAt = Date.now();
    let recoveredAfter = Infinity;
    while (Date.now() - restartedAt < 10_000) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/products',
        payload: productInput({ name: 'after the outage' }),
      });
      if (response.statusCode === 201) {
        recoveredAfter = Date.now() - restartedAt;
        break;
      }
      expect(response.statusCode).toBe(503);
      await sleep(100);
    }
    expect(recoveredAfter).toBeLessThan(10_000);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const read = await app.inject({ method: 'GET', url: `/api/v1/products/${before.json<{ id: string }>().id}` });
    expect(read.json()).toMatchObject({ name: 'before the outage' });
  });
});
