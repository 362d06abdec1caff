import type { Logger } from 'pino';
import { composeService, type ComposedService } from '../../src/compose.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { App } from '../../src/http/app.js';
import { createLogger } from '../../src/logger.js';
import { silentLogger, type TestDatabase } from './database.js';

export interface TestAppOptions {
  readonly logger?: Logger;
  /** Environment variables over the test defaults (see testConfig). */
  readonly env?: Readonly<Record<string, string>>;
}

export const TEST_JWT_SECRET = 'test-jwt-secret-that-is-at-least-32-characters';

/**
 * The configuration of a test app: the service's own defaults, but no authentication
 * (AUTH_MODE=none), no load shedding and no rate limit to speak of, unless `env` says otherwise.
 */
export function testConfig(db: Pick<TestDatabase, 'url'>, env: Readonly<Record<string, string>> = {}): Config {
  return loadConfig({
    DATABASE_URL: db.url,
    AUTH_MODE: 'none',
    RATE_LIMIT_MAX: '1000000',
    SHED_MAX_EVENT_LOOP_DELAY_MS: '0',
    SHED_MAX_HEAP_USED_MB: '0',
    ...env,
  });
}

/** The real app over real services and a real database, wired by the service's own wiring; not ready yet. */
export async function composeTestApp(
  db: Pick<TestDatabase, 'url' | 'pool'>,
  options: TestAppOptions = {},
): Promise<App> {
  return (await composeTestService(db, options)).app;
}

/** The whole composition (the app, and the outbox relay and publisher, not started), as main.ts gets it. */
export async function composeTestService(
  db: Pick<TestDatabase, 'url' | 'pool'>,
  options: TestAppOptions = {},
): Promise<ComposedService> {
  const config = testConfig(db, options.env);
  return composeService({ config, pool: db.pool, logger: options.logger ?? silentLogger });
}

/** composeTestApp, ready to take requests through `inject`. */
export async function buildTestApp(db: Pick<TestDatabase, 'url' | 'pool'>, options: TestAppOptions = {}): Promise<App> {
  const app = await composeTestApp(db, options);
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
