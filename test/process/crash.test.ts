import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { startChildService } from '../helpers/child-service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/database-server.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

describe('a crash', () => {
  it.each([
    ['exception', 'uncaught exception: exiting', 'an uncaught exception'],
    ['rejection', 'unhandled promise rejection: exiting', 'an unhandled rejection'],
  ])('an uncaught %s is logged as fatal and ends the process with exit code 1', async (mode, msg, message) => {
    const service = await startChildService(
      {
        DATABASE_URL: db.url,
        AUTH_JWT_SECRET: TEST_JWT_SECRET,
        PORT: String(await freePort()),
        OTEL_SDK_DISABLED: 'true',
        CRASH_MODE: mode,
      },
      { preload: './test/fixtures/crash-after-start.mjs' },
    );
    service.process.kill('SIGUSR2');
    expect(await service.exited).toBe(1);
    expect(service.logs.find((l) => l.level === 'fatal')).toMatchObject({ msg, err: { message } });
  });

  it('exits 1 and lists every configuration problem before starting', async () => {
    const failure = await startChildService(
      { DATABASE_URL: 'mysql://x', PORT: 'eighty', AUTH_JWT_SECRET: 'short-secret' },
      { timeoutMs: 15_000 },
    ).then(
      () => new Error('the service started'),
      (err: unknown) => err as Error,
    );
    expect(failure.message).toMatch(/exited with 1/);
    for (const problem of [
      'DATABASE_URL: must be a postgres',
      'PORT: must be an integer',
      'AUTH_JWT_SECRET: must be at least 32',
    ]) {
      expect(failure.message).toContain(problem);
    }
    expect(failure.message).not.toContain('short-secret');
  });
});
