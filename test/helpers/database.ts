import { randomUUID } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { inject } from 'vitest';
import { Database } from '../../src/postgres/database.js';
import { DatabaseGate } from '../../src/postgres/gate.js';
import { migrate } from '../../src/postgres/migrate.js';
import { createPool } from '../../src/postgres/pool.js';

export const silentLogger = pino({ level: 'silent' });

/** What test repositories call their events (the service's defaults come from config.ts). */
export const TEST_EVENT_NAMING = { source: '/product-user-service', typePrefix: 'com.example.productuser' } as const;

export interface TestDatabase {
  readonly url: string;
  readonly pool: pg.Pool;
  /** The pool as the repositories use it: behind a circuit breaker, statements bounded (6 s). */
  readonly database: Database;
  drop(): Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('databaseUrl') });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh database for one test file, with the schema installed by the production
 * migration runner. Separate databases let files run in parallel without seeing each
 * other's rows.
 */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `test_${randomUUID().replaceAll('-', '')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(inject('databaseUrl'));
  url.pathname = `/${name}`;
  if (options.migrate !== false) await migrate(url.toString(), silentLogger);
  const pool = createPool(
    {
      url: url.toString(),
      poolMax: 10,
      statementTimeoutMs: 5000,
      connectTimeoutMs: 2000,
      acquireTimeoutMs: 5000,
      idleTimeoutMs: 10_000,
    },
    silentLogger,
  );
  const gate = new DatabaseGate({ resetTimeoutMs: 1000, volumeThreshold: 5 }, silentLogger);
  return {
    url: url.toString(),
    pool,
    database: new Database(pool, gate, 6000),
    drop: async () => {
      gate.shutdown();
      await pool.end();
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
