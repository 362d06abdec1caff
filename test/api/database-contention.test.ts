import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { createPool, type PoolSettings } from '../../src/postgres/pool.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';
import { productInput } from '../helpers/factories.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

/** The service's app over a pool of its own, so that its statement timeout and sizes are the test's. */
async function appWithPool(settings: Partial<PoolSettings>, env: Record<string, string>) {
  const pool = createPool(
    {
      url: db.url,
      poolMax: 10,
      statementTimeoutMs: 5000,
      connectTimeoutMs: 1000,
      acquireTimeoutMs: 5000,
      idleTimeoutMs: 10_000,
      ...settings,
    },
    silentLogger,
  );
  const app = await buildTestApp({ url: db.url, pool }, { env });
  return { app, pool, close: async () => (await app.close(), await pool.end()) };
}

async function createProducts(app: App, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() });
    ids.push(response.json<{ id: string }>().id);
  }
  return ids;
}

describe('one slow row never takes the API down', () => {
  it('while one row is locked from outside and its writes time out, other rows answer 200', async () => {
    const { app, close } = await appWithPool(
      { statementTimeoutMs: 300 },
      { DB_STATEMENT_TIMEOUT_MS: '300', DB_BREAKER_VOLUME_THRESHOLD: '3', DB_BREAKER_RESET_MS: '5000' },
    );
    const locker: pg.PoolClient = await db.pool.connect();
    try {
      const [locked = '', ...others] = await createProducts(app, 4);
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM products WHERE id = $1 FOR UPDATE', [locked]);

      const writes: { status: number; retryAfter: unknown; type: unknown }[] = [];
      const reads: number[] = [];
      let hammering = true;
      const writer = async () => {
        while (hammering) {
          const response = await app.inject({
            method: 'PATCH',
            url: `/api/v1/products/${locked}`,
            payload: { name: 'x' },
          });
          writes.push({
            status: response.statusCode,
            retryAfter: response.headers['retry-after'],
            type: response.json<{ type?: string }>().type,
          });
        }
      };
      // Reads are few next to the timed-out writes, as when a hot row is hammered: failures
      // dominate the breaker's window, so counting them would open it.
      const reader = async () => {
        for (let i = 0; hammering; i++) {
          const url = i % 4 === 3 ? '/api/v1/products?limit=5' : `/api/v1/products/${others[i % 3] ?? ''}`;
          reads.push((await app.inject({ method: 'GET', url })).statusCode);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      };
      const running = [writer(), writer(), writer(), writer(), writer(), writer(), reader()];
      // Far past the breaker's volume threshold (3) of timed-out writes.
      await eventually(() => writes.length >= 24, 30_000);
      hammering = false;
      await Promise.all(running);

      expect(writes.length).toBeGreaterThanOrEqual(24);
      for (const write of writes) {
        expect(write).toEqual({
          status: 503,
          retryAfter: expect.any(String),
          type: expect.stringMatching(/unavailable/),
        });
      }
      expect(reads.length).toBeGreaterThan(0);
      expect(reads.filter((status) => status !== 200)).toEqual([]);
      // The breaker stayed closed: a read right after the last timeout is served.
      const after = await app.inject({ method: 'GET', url: `/api/v1/products/${others[0] ?? ''}` });
      expect(after.statusCode).toBe(200);

      await locker.query('ROLLBACK');
      const unlocked = await app.inject({ method: 'PATCH', url: `/api/v1/products/${locked}`, payload: { name: 'y' } });
      expect(unlocked.statusCode).toBe(200);
    } finally {
      locker.release();
      await close();
    }
  });
});

describe('bursts queue for a connection, they do not fail', () => {
  /** Checks out every connection of `pool`, so that the app's statements must wait for one. */
  async function holdAll(pool: pg.Pool, size: number): Promise<() => void> {
    const held = await Promise.all(Array.from({ length: size }, () => pool.connect()));
    return () => held.forEach((client) => client.release());
  }

  it('fifty concurrent PATCHes wait past the connect timeout for a free connection and all succeed', async () => {
    // connect timeout 100 ms: waiting for a pooled connection used to be bounded by it.
    const { app, pool, close } = await appWithPool(
      { poolMax: 2, connectTimeoutMs: 100, acquireTimeoutMs: 5000 },
      { DB_CONNECT_TIMEOUT_MS: '100' },
    );
    try {
      const ids = await createProducts(app, 50);
      const release = await holdAll(pool, 2);
      const patches = ids.map((id, i) =>
        app.inject({ method: 'PATCH', url: `/api/v1/products/${id}`, payload: { name: `burst ${i}` } }),
      );
      // Past the connect timeout, with every request still queued.
      await eventually(() => pool.waitingCount >= 50);
      await new Promise((resolve) => setTimeout(resolve, 300));
      release();
      const statuses = (await Promise.all(patches)).map((response) => response.statusCode);
      expect(statuses).toEqual(ids.map(() => 200));
    } finally {
      await close();
    }
  });

  it('sheds what cannot get a connection within DB_ACQUIRE_TIMEOUT_MS (503), without opening the breaker', async () => {
    const { app, pool, close } = await appWithPool(
      { poolMax: 2, acquireTimeoutMs: 200 },
      // CACHE=off: the reads must queue for a connection, not be answered from the cache.
      { DB_BREAKER_VOLUME_THRESHOLD: '3', DB_BREAKER_RESET_MS: '5000', CACHE: 'off' },
    );
    try {
      const [id = ''] = await createProducts(app, 1);
      const release = await holdAll(pool, 2);
      const shed = await Promise.all(
        Array.from({ length: 10 }, () => app.inject({ method: 'GET', url: `/api/v1/products/${id}` })),
      );
      release();
      expect(shed.map((response) => response.statusCode)).toEqual(shed.map(() => 503));
      expect(shed[0]?.headers['retry-after']).toEqual(expect.any(String));
      const after = await app.inject({ method: 'GET', url: `/api/v1/products/${id}` });
      expect(after.statusCode).toBe(200);
    } finally {
      await close();
    }
  });
});
