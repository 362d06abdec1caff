import type { Logger } from 'pino';
import { buildApp, type App } from '../../src/http/app.js';
import { Authenticator, type AuthSettings } from '../../src/http/auth.js';
import type { Readiness } from '../../src/http/health.js';
import type { PoolStats } from '../../src/http/metrics.js';
import { createLogger } from '../../src/logger.js';
import { DatabaseGate } from '../../src/postgres/gate.js';
import { PostgresIdempotencyStore } from '../../src/postgres/idempotency-store.js';
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
  /** Defaults to AUTH_MODE=none; the auth tests pass real JWT settings. */
  readonly auth?: AuthSettings;
  readonly corsOrigins?: readonly string[];
  readonly rateLimit?: { max: number; windowMs: number };
  readonly shedding?: { maxEventLoopDelayMs: number; maxHeapUsedBytes: number };
  readonly gate?: DatabaseGate;
}

export const TEST_JWT_SECRET = 'test-jwt-secret-that-is-at-least-32-characters';

/** The real app over real services and a real database, wired as main.ts wires it. */
export async function buildTestApp(db: TestDatabase, options: TestAppOptions = {}): Promise<App> {
  const gate = options.gate ?? new DatabaseGate({ resetTimeoutMs: 2000, volumeThreshold: 5 }, silentLogger);
  const app = await buildApp({
    logger: options.logger ?? silentLogger,
    products: createProductService(createProductRepository(db.pool, gate)),
    users: createUserService(createUserRepository(db.pool, gate)),
    authenticator: new Authenticator(options.auth ?? { mode: 'none' }),
    idempotency: new PostgresIdempotencyStore(db.pool, gate),
    readiness: options.readiness ?? { isAcceptingTraffic: () => true, pingDatabase: () => pingDatabase(db.pool, 1000) },
    ...(options.poolStats !== undefined && { poolStats: options.poolStats }),
    settings: {
      bodyLimitBytes: options.bodyLimitBytes ?? 65536,
      cursorSecret: 'test-cursor-secret-0123456789abcdef',
      requireIfMatch: options.requireIfMatch ?? false,
      corsOrigins: options.corsOrigins ?? [],
      rateLimit: options.rateLimit ?? { max: 1_000_000, windowMs: 60_000 },
      trustProxy: [],
      shedding: options.shedding ?? { maxEventLoopDelayMs: 0, maxHeapUsedBytes: 0 },
    },
  });
  app.addHook('onClose', () => gate.shutdown());
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
