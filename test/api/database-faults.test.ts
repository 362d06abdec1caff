import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/domain/errors.js';
import { translateDatabaseError } from '../../src/postgres/errors.js';
import { loadConfig } from '../../src/config.js';
import { Database, type Sql } from '../../src/postgres/database.js';
import { DatabaseGate } from '../../src/postgres/gate.js';
import { createPool, queryWithin } from '../../src/postgres/pool.js';
import { buildTestApp, capturingLogger } from '../helpers/app.js';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/database-server.js';
import { eventually } from '../helpers/eventually.js';
import { productInput } from '../helpers/factories.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

/** The client-side deadline the service derives from a statement timeout (config.ts). */
const deadlineFor = (statementTimeoutMs: number) =>
  loadConfig({ DB_STATEMENT_TIMEOUT_MS: String(statementTimeoutMs) }).database.statementDeadlineMs;

/** Transactions on `pool` as the service runs them, behind a breaker of their own. */
async function inTransaction<T>(pool: pg.Pool, statementTimeoutMs: number, work: (sql: Sql) => Promise<T>): Promise<T> {
  const gate = new DatabaseGate({ resetTimeoutMs: 1000, volumeThreshold: 5 }, silentLogger);
  try {
    return await new Database(pool, gate, deadlineFor(statementTimeoutMs)).transaction(work);
  } finally {
    gate.shutdown();
  }
}

/** A pool of its own on the test database: one connection unless told otherwise. */
const onePool = (settings: Partial<Parameters<typeof createPool>[0]> = {}) =>
  createPool(
    {
      url: db.url,
      poolMax: 1,
      statementTimeoutMs: 5000,
      connectTimeoutMs: 2000,
      acquireTimeoutMs: 5000,
      idleTimeoutMs: 10_000,
      ...settings,
    },
    silentLogger,
  );

describe('with the database unreachable', () => {
  it('answers API requests 503 with Retry-After within 2 s, /readyz 503, /healthz 200', async () => {
    const deadUrl = new URL(db.url);
    deadUrl.port = String(await freePort());
    const deadPool = createPool(
      {
        url: deadUrl.toString(),
        poolMax: 2,
        statementTimeoutMs: 1000,
        connectTimeoutMs: 1000,
        acquireTimeoutMs: 1000,
        idleTimeoutMs: 1000,
      },
      silentLogger,
    );
    const logs = capturingLogger();
    const app = await buildTestApp(
      { url: deadUrl.toString(), pool: deadPool },
      { logger: logs.logger, env: { DB_STATEMENT_TIMEOUT_MS: '1000', DB_CONNECT_TIMEOUT_MS: '1000' } },
    );
    try {
      for (const request of [
        { method: 'GET' as const, url: '/api/v1/products' },
        {
          method: 'POST' as const,
          url: '/api/v1/products',
          payload: productInput(),
          headers: { 'x-request-id': 'down-1' },
        },
        { method: 'GET' as const, url: '/api/v1/users/01890000-0000-7000-8000-000000000000' },
      ]) {
        const started = Date.now();
        const response = await app.inject(request);
        expect(Date.now() - started).toBeLessThan(2000);
        expect(response.statusCode).toBe(503);
        expect(response.headers['retry-after']).toBe('1');
        expect(response.json()).toMatchObject({
          type: 'https://problems.example.dev/service-unavailable',
          status: 503,
        });
        expect(response.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|pg|5432/);
      }
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ status: 'not_ready', checks: { database: 'down' } });
      expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
      // Every log line of the failed request carries its id: the warning and the request line.
      const lines = logs.lines.filter((l) => l.request_id === 'down-1');
      expect(lines.map((l) => l.msg)).toEqual(['dependency unavailable', 'request completed']);
    } finally {
      await app.close();
      await deadPool.end();
    }
  });
});

describe('with broken connections', () => {
  it('survives pg_terminate_backend on every service connection mid-load; the next requests succeed', async () => {
    const app = await buildTestApp(db);
    try {
      const statuses: number[] = [];
      let running = true;
      const writer = async () => {
        while (running) {
          const response = await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() });
          statuses.push(response.statusCode);
          const read = await app.inject({
            method: 'GET',
            url: `/api/v1/products/${response.json<{ id?: string }>().id ?? '01890000-0000-7000-8000-000000000000'}`,
          });
          statuses.push(read.statusCode);
        }
      };
      const writers = Array.from({ length: 6 }, writer);
      await eventually(() => statuses.length >= 12);
      const admin = onePool({ idleTimeoutMs: 1000 });
      const killed = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'product-user-service'`,
      );
      await admin.end();
      const killedAt = statuses.length;
      await eventually(() => statuses.length >= killedAt + 12);
      running = false;
      await Promise.all(writers);

      expect(killed.rowCount).toBeGreaterThan(0);
      expect(statuses.length).toBeGreaterThan(20);
      // A request may race a dying connection and get a 503 (retryable); never a 500, never a crash.
      expect(statuses.filter((s) => s !== 201 && s !== 200 && s !== 404 && s !== 503)).toEqual([]);
      const after = await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() });
      expect(after.statusCode).toBe(201);
    } finally {
      await app.close();
    }
  });

  it('turns a statement timeout into UnavailableError', async () => {
    const pool = onePool({ statementTimeoutMs: 200, idleTimeoutMs: 1000 });
    try {
      const error = await pool.query('SELECT pg_sleep(2)').then(
        () => null,
        (err: unknown) => err,
      );
      expect(error).toMatchObject({ code: '57014' });
      expect(translateDatabaseError(error)).toBeInstanceOf(UnavailableError);
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    } finally {
      await pool.end();
    }
  });

  // A server that stops answering (frozen, or packets dropped without a reset) never sends
  // the 57014 above. The session below turns statement_timeout off to stand in for it.
  it('stops waiting for a statement the server never answers, a second after statement_timeout', async () => {
    const pool = onePool({ statementTimeoutMs: 200, idleTimeoutMs: 1000 });
    const client = await pool.connect();
    try {
      expect(deadlineFor(200)).toBe(1200);
      // Not pg's query_timeout: its per-query closure got every row promoted to V8's old
      // generation (pool.ts, docs/performance.md).
      expect(pool.options).not.toHaveProperty('query_timeout');
      await client.query('SET statement_timeout = 0');
      const started = Date.now();
      const error = await queryWithin(client, 'SELECT pg_sleep(5)', deadlineFor(200)).then(
        () => null,
        (err: unknown) => err,
      );
      const waited = Date.now() - started;
      expect(String(error)).toMatch(/Query read timeout/);
      expect(translateDatabaseError(error)).toBeInstanceOf(UnavailableError);
      // After the deadline, and long before the statement would have ended by itself.
      expect(waited).toBeGreaterThanOrEqual(1150);
      expect(waited).toBeLessThan(5000);
    } finally {
      client.release(true);
      await pool.end();
    }
  });

  it('keeps a connection whose statement the server refused, and replaces one the server ended', async () => {
    const pool = onePool({ statementTimeoutMs: 300 });
    const deadline = deadlineFor(300);
    const run = (sql: string) => queryWithin<{ value: number }>(pool, sql, deadline);
    const refusal = (sql: string) =>
      run(sql).then(
        () => null,
        (err: unknown) => err,
      );
    try {
      // A temporary table lives as long as its session: still there means same connection.
      await run('CREATE TEMPORARY TABLE survivor (k int PRIMARY KEY)');
      await run('INSERT INTO survivor VALUES (1)');
      const backend = (await run('SELECT pg_backend_pid() AS value')).rows[0]?.value;
      expect(await refusal('INSERT INTO survivor VALUES (1)')).toMatchObject({ code: '23505' });
      expect(await refusal('SELECT 1 / 0 AS value')).toMatchObject({ code: '22012' });
      expect(await refusal('SELECT pg_sleep(2)')).toMatchObject({ code: '57014' });
      expect((await run('SELECT pg_backend_pid() AS value')).rows[0]?.value).toBe(backend);
      expect((await run('SELECT count(*)::int AS value FROM survivor')).rows[0]?.value).toBe(1);
      // FATAL: the server ends the session, so the connection must not go back.
      expect(await refusal('SELECT pg_terminate_backend(pg_backend_pid())')).toMatchObject({
        code: '57P01',
        severity: 'FATAL',
      });
      expect(pool.totalCount).toBe(0);
      expect((await run('SELECT pg_backend_pid() AS value')).rows[0]?.value).not.toBe(backend);
    } finally {
      await pool.end();
    }
  });

  it('survives a connection reset under a statement on the pool, and destroys the connection', async () => {
    const pool = onePool();
    try {
      // No FATAL message first, unlike pg_terminate_backend: the socket just goes.
      pool.once('acquire', (client) => {
        // `connection.stream` is pg's internal socket; reaching it is the point of the test.
        const { stream } = (client as unknown as { connection: { stream: { destroy(err: Error): void } } }).connection;
        setTimeout(() => stream.destroy(new Error('reset by the test')), 100);
      });
      const error = await queryWithin(pool, 'SELECT pg_sleep(2)', deadlineFor(5000)).then(
        () => null,
        (err: unknown) => err,
      );
      expect(String(error)).toMatch(/reset by the test|Connection terminated/);
      expect(pool.totalCount).toBe(0);
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('survives the connection of a transaction dying mid-way, and destroys it', async () => {
    const pool = onePool();
    const admin = onePool({ idleTimeoutMs: 1000 });
    try {
      let terminated = false;
      const error = await inTransaction(pool, 5000, async (sql) => {
        const pid = (await sql.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
        terminated =
          (await admin.query<{ done: boolean }>('SELECT pg_terminate_backend($1) AS done', [pid])).rows[0]?.done ===
          true;
        // Let the FATAL message and the socket's end arrive: an unhandled 'error' event from
        // the checked-out client would end this test process here.
        await new Promise((resolve) => setTimeout(resolve, 200));
        await sql.query('SELECT 1');
      }).then(
        () => null,
        (err: unknown) => err,
      );
      expect(terminated).toBe(true);
      expect(error).toBeInstanceOf(Error);
      expect(pool.totalCount).toBe(0);
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    } finally {
      await admin.end();
      await pool.end();
    }
  });

  it('counts the wait for a free connection against the deadline (a readiness ping answers in time)', async () => {
    const pool = onePool({ connectTimeoutMs: 5000 });
    const busy = await pool.connect();
    try {
      const started = Date.now();
      const error = await queryWithin(pool, 'SELECT 1', 300).then(
        () => null,
        (err: unknown) => err,
      );
      expect(String(error)).toMatch(/Query read timeout/);
      // Not the 5 s connection timeout: the deadline of the statement.
      expect(Date.now() - started).toBeLessThan(5000);
      busy.release();
      // The connection that came free after the deadline went back to the pool unharmed.
      expect((await queryWithin<{ one: number }>(pool, 'SELECT 1 AS one', 1000)).rows[0]?.one).toBe(1);
      expect(pool.totalCount).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('destroys a transaction connection whose statement and ROLLBACK never answer', async () => {
    const pool = onePool({ statementTimeoutMs: 200 });
    try {
      const started = Date.now();
      const error = await inTransaction(pool, 200, async (sql) => {
        await sql.query('SET LOCAL statement_timeout = 0');
        await sql.query('SELECT pg_sleep(10)');
      }).then(
        () => null,
        (err: unknown) => err,
      );
      // The statement's deadline, then the ROLLBACK's (queued behind it): 2 × 1.2 s, not the 10 s sleep.
      expect(error).toBeInstanceOf(UnavailableError);
      expect(String((error as Error).cause)).toMatch(/Query read timeout/);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(pool.totalCount).toBe(0);
      // The pool opens a fresh connection for the next caller.
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    } finally {
      await pool.end();
    }
  });
});
