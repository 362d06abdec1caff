import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError } from '../../src/domain/errors.js';
import { newId } from '../../src/domain/id.js';
import { Outbox } from '../../src/postgres/outbox.js';
import { PostgresUserRepository } from '../../src/postgres/user-repository.js';
import type { UserRepository } from '../../src/services/user-service.js';
import { createTestDatabase, TEST_EVENT_NAMING, type TestDatabase } from '../helpers/database.js';
import { unique } from '../helpers/factories.js';

let db: TestDatabase;
let repository: UserRepository;

beforeAll(async () => {
  db = await createTestDatabase();
  repository = new PostgresUserRepository(db.database, new Outbox(TEST_EVENT_NAMING));
});
afterAll(() => db.drop());

describe('user repository (PostgreSQL)', () => {
  it('enforces one account per e-mail address, ignoring case', async () => {
    const email = `ada-${unique()}@example.com`;
    await repository.insert(newId(), { email, name: 'Ada' });
    await expect(
      repository.insert(newId(), { email: email.toUpperCase().toLowerCase(), name: 'Other' }),
    ).rejects.toMatchObject({ constructor: AlreadyExistsError, field: 'email' });
  });

  it('refuses upper-case storage at the database level too (defence in depth)', async () => {
    await expect(
      db.pool.query(`INSERT INTO users (id, email, name) VALUES ($1, 'Mixed@Example.com', 'Mixed')`, [newId()]),
    ).rejects.toMatchObject({ code: '23514' });
  });

  it('filters by exact e-mail ignoring case and by name substring', async () => {
    const tag = unique();
    const ada = await repository.insert(newId(), { email: `ada-${tag}@example.com`, name: `Ada ${tag}` });
    await repository.insert(newId(), { email: `bob-${tag}@example.com`, name: `Bob ${tag}` });
    const byEmail = await repository.list({
      sort: { field: 'email', direction: 'asc' },
      after: null,
      limit: 10,
      filter: { email: `ADA-${tag}@EXAMPLE.COM` },
    });
    expect(byEmail.map((u) => u.id)).toEqual([ada.id]);
    const byName = await repository.list({
      sort: { field: 'name', direction: 'desc' },
      after: null,
      limit: 10,
      filter: { q: tag },
    });
    expect(byName.map((u) => u.name)).toEqual([`Bob ${tag}`, `Ada ${tag}`]);
  });
});
