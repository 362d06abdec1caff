import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runMigrateCommand } from '../../src/cli/migrate.js';
import { createTestDatabase, silentLogger, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
});
afterAll(() => db.drop());

const hasProducts = async () =>
  (await db.pool.query(`SELECT 1 FROM information_schema.tables WHERE table_name = 'products'`)).rowCount === 1;

describe('npm run migrate', () => {
  it('migrates up, then all the way down, then up again', async () => {
    const env = { DATABASE_URL: db.url };
    expect(await runMigrateCommand(['up'], env, silentLogger)).toBe(0);
    expect(await hasProducts()).toBe(true);
    expect(await runMigrateCommand(['down', '5'], env, silentLogger)).toBe(0);
    expect(await hasProducts()).toBe(false);
    expect(await runMigrateCommand([], env, silentLogger)).toBe(0);
    expect(await hasProducts()).toBe(true);
  });

  it('answers usage errors with exit code 2 and configuration errors with 1', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await runMigrateCommand(['sideways'], {}, silentLogger)).toBe(2);
      expect(await runMigrateCommand(['down', '0'], {}, silentLogger)).toBe(2);
      expect(await runMigrateCommand(['up'], { DATABASE_URL: 'mysql://nope' }, silentLogger)).toBe(1);
      expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(
        /usage: npm run migrate[\s\S]*DATABASE_URL: must be a postgres/,
      );
    } finally {
      stderr.mockRestore();
    }
  });
});
