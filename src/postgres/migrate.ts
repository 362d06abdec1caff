import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type { Logger } from 'pino';

// src/postgres/ and dist/postgres/ sit at the same depth, so this resolves in both.
const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

export type MigrationDirection = 'up' | 'down';

/**
 * Applies (or rolls back) migrations under node-pg-migrate's advisory lock. Replicas that
 * start together queue on the lock instead of failing; the losers find nothing to do.
 * Returns the names of the migrations that ran.
 */
export async function migrate(
  databaseUrl: string,
  logger: Logger,
  direction: MigrationDirection = 'up',
  count?: number,
): Promise<string[]> {
  const ran = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction,
    count: count ?? (direction === 'up' ? Infinity : 1),
    migrationsTable: 'schema_migrations',
    advisoryLockMode: 'wait',
    singleTransaction: true,
    checkOrder: true,
    logger: {
      debug: (msg: string) => logger.debug(msg),
      info: (msg: string) => logger.debug(msg),
      warn: (msg: string) => logger.warn(msg),
      error: (msg: string) => logger.error(msg),
    },
  });
  return ran.map((m) => m.name);
}
