import type { Logger } from 'pino';
import { buildApp, type App } from '../../src/http/app.js';
import type { Readiness } from '../../src/http/health.js';
import type { PoolStats } from '../../src/http/metrics.js';
import { createLogger } from '../../src/logger.js';
import { pingDatabase } from '../../src/postgres/pool.js';
import { createProductRepository } from '../../src/postgres/product-repository.js';
import { createUserRepository } from '../../src/postgres/user-repository.js';
import { createProductService } from '../../src/services/product-service.js';
import { createUserService } from '../../src/services/user-service.js';
import { silentLogger, type TestDatabase } from './database.js';

export interface TestAppOptions {
  readonly logger?: Logger;
  readonly readiness?: Readiness;
  readonly poolStats?: () => PoolStats;
  readonly requireIfMatch?: boolean;
  readonly bodyLimitBytes?: number;
}

/** The real app over real services and a real database, wired as main.ts wires it. */
export async function buildTestApp(db: TestDatabase, options: TestAppOptions = {}): Promise<App> {
  const app = await buildApp({
    logger: options.logger ?? silentLogger,
    products: createProductService(createProductRepository(db.pool)),
    users: createUserService(createUserRepository(db.pool)),
    readiness: options.readiness ?? { isAcceptingTraffic: () => true, pingDatabase: () => pingDatabase(db.pool, 1000) },
    ...(options.poolStats !== undefined && { poolStats: options.poolStats }),
    settings: {
      bodyLimitBytes: options.bodyLimitBytes ?? 65536,
      cursorSecret: 'test-cursor-secret-0123456789abcdef',
      requireIfMatch: options.requireIfMatch ?? false,
    },
  });
  await app.ready();
  return app;
}

/** A logger that keeps every JSON line it writes, for assertions about logs. */
export function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(
    { level: 'info', pretty: false },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}
