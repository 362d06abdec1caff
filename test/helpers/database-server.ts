import { chmod, mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres.js';

export interface DatabaseServer {
  /** Superuser URL: the harness creates one database per test file from it. */
  readonly url: string;
  readonly kind: 'external' | 'testcontainers' | 'embedded';
  stop(): Promise<void>;
}

/** A testcontainers probe fails in milliseconds without an engine; give it a bound anyway. */
async function dockerAnswers(): Promise<boolean> {
  try {
    // Imported only here: testcontainers is heavy, and 12.x even crashes at import on Node 20.
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 10_000)),
    ]);
    return true;
  } catch {
    return false;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** TEST_DATABASE_URL if set; else a testcontainers PostgreSQL if Docker answers; else embedded-postgres. */
export async function startDatabaseServer(): Promise<DatabaseServer> {
  const external = process.env.TEST_DATABASE_URL;
  if (external !== undefined && external !== '') {
    return { url: external, kind: 'external', stop: () => Promise.resolve() };
  }
  if (await dockerAnswers()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:18-alpine').start();
    return {
      url: container.getConnectionUri(),
      kind: 'testcontainers',
      stop: async () => void (await container.stop()),
    };
  }
  const parent = await mkdtemp(join(tmpdir(), 'pus-test-'));
  // As root, PostgreSQL runs as a 'postgres' user, which must be able to enter the 0700 temp dir.
  await chmod(parent, 0o755);
  const dir = join(parent, 'data');
  const embedded = await startEmbeddedPostgres({
    dir,
    port: await freePort(),
    persistent: false,
    logger: pino({ level: 'silent' }),
  });
  return { url: embedded.url, kind: 'embedded', stop: () => embedded.stop() };
}
