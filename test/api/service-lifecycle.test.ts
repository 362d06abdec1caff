import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startService } from '../../src/main.js';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/database-server.js';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { productInput } from '../helpers/factories.js';
import { token } from '../helpers/tokens.js';

let db: TestDatabase;
let authorization: string;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  authorization = `Bearer ${await token()}`;
});
afterAll(() => db.drop());

/** Like a Kubernetes readiness gate: no traffic until /readyz answers 200. */
async function untilReady(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`${url}/readyz`)).status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} never became ready`);
}

const post = (url: string, body: unknown, auth = authorization) =>
  fetch(`${url}/api/v1/products`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: auth },
    body: JSON.stringify(body),
  });

describe('startService with DATABASE_URL', () => {
  it('migrates, listens, and on shutdown turns readiness 503 while still serving during the delay', async () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      PORT: '0',
      GRPC_PORT: '0',
      SHUTDOWN_DELAY_MS: '400',
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
    });
    const service = await startService(config, silentLogger);
    await untilReady(service.url);
    const tables = await db.pool.query(`SELECT 1 FROM information_schema.tables WHERE table_name = 'products'`);
    expect(tables.rowCount).toBe(1);
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
    expect((await post(service.url, productInput())).status).toBe(201);

    const stopped = service.shutdown();
    const ready = await fetch(`${service.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'shutting_down', checks: { database: 'up' } });
    // Still serving while Kubernetes catches up: the write is accepted and stored.
    const during = await post(service.url, productInput({ name: 'written during the delay' }));
    expect(during.status).toBe(201);
    await stopped;
    const stored = await db.pool.query(`SELECT 1 FROM products WHERE name = 'written during the delay'`);
    expect(stored.rowCount).toBe(1);
    await expect(fetch(`${service.url}/healthz`)).rejects.toThrow();
    await service.shutdown(); // idempotent
  });

  it('skips migrations when MIGRATE_ON_START=false: the schema is left to a migration Job', async () => {
    const fresh = await createTestDatabase({ migrate: false });
    try {
      const config = loadConfig({
        NODE_ENV: 'test',
        DATABASE_URL: fresh.url,
        PORT: '0',
        GRPC_PORT: '0',
        MIGRATE_ON_START: 'false',
        AUTH_JWT_SECRET: TEST_JWT_SECRET,
      });
      const service = await startService(config, silentLogger);
      await untilReady(service.url);
      const response = await post(service.url, productInput());
      expect(response.status).toBe(500);
      await service.shutdown();
    } finally {
      await fresh.drop();
    }
  });

  it('refuses to start when the database cannot be reached', async () => {
    const dead = new URL(db.url);
    dead.port = String(await freePort());
    const config = loadConfig({
      DATABASE_URL: dead.toString(),
      PORT: '0',
      GRPC_PORT: '0',
      DB_CONNECT_TIMEOUT_MS: '500',
    });
    await expect(startService(config, silentLogger)).rejects.toThrow();
  });
});

describe('startService without DATABASE_URL (development)', () => {
  it('starts embedded PostgreSQL, prints a working token, keeps data on restart, leaves signals alone', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'pus-dev-'));
    await chmod(parent, 0o755);
    const env = {
      PORT: '0',
      GRPC_PORT: '0',
      EMBEDDED_PG_DIR: join(parent, 'postgres'),
      EMBEDDED_PG_PORT: String(await freePort()),
      DEV_SECRET_FILE: join(parent, 'dev-jwt-secret'),
    };
    const signalListeners = () =>
      process.listenerCount('SIGTERM') + process.listenerCount('SIGINT') + process.listenerCount('beforeExit');
    const before = signalListeners();

    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let banner = '';
    const first = await startService(loadConfig(env), silentLogger).finally(() => {
      banner = stderr.mock.calls.map((c) => String(c[0])).join('');
      stderr.mockRestore();
    });
    const devToken = /export TOKEN=(\S+)/.exec(banner)?.[1] ?? '';
    let created: { id: string };
    try {
      await untilReady(first.url);
      expect(banner).toContain(`curl -H "Authorization: Bearer $TOKEN" ${first.url}/api/v1/products`);
      expect(signalListeners()).toBe(before);
      expect((await post(first.url, productInput(), 'Bearer not-a-token')).status).toBe(401);
      created = (await (
        await post(first.url, productInput({ name: 'survives a restart' }), `Bearer ${devToken}`)
      ).json()) as { id: string };
    } finally {
      await first.shutdown(); // also on failure: never leave an embedded server running
    }

    // The development secret is kept in a file, so the printed token outlives a restart.
    const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const second = await startService(loadConfig(env), silentLogger).finally(() => quiet.mockRestore());
    try {
      await untilReady(second.url);
      const read = await fetch(`${second.url}/api/v1/products/${created.id}`, {
        headers: { authorization: `Bearer ${devToken}` },
      });
      expect(read.status).toBe(200);
      expect(await read.json()).toMatchObject({ name: 'survives a restart' });
    } finally {
      await second.shutdown();
    }
  });
});
