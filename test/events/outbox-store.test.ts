import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComposedService } from '../../src/compose.js';
import type { Database, Session } from '../../src/postgres/database.js';
import { PostgresOutboxStore } from '../../src/postgres/outbox-store.js';
import { composeTestService } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput } from '../helpers/factories.js';

let db: TestDatabase;
let service: ComposedService;
let store: PostgresOutboxStore;
/** Every statement the leading connection ran, in order. */
const statements: string[] = [];

/** The service's database, but the leader's session records the statements it runs. */
function recording(database: Database): Database {
  const session = async (): Promise<Session> => {
    const inner = await database.session();
    return {
      sql: {
        shared: false,
        query: (statement: string | pg.QueryConfig, signal?: AbortSignal) => {
          statements.push(typeof statement === 'string' ? statement : (statement.name ?? statement.text));
          return inner.sql.query(statement, signal);
        },
      } as Session['sql'],
      release: (err?: Error) => inner.release(err),
    };
  };
  return Object.assign(Object.create(database) as Database, { session });
}

beforeAll(async () => {
  db = await createTestDatabase();
  service = await composeTestService(db);
  await service.app.ready();
  store = new PostgresOutboxStore(service.database, recording(service.database));
});
afterAll(async () => {
  store.close();
  await service.app.close();
  await db.drop();
});

const create = () => service.app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() });
const pass = (publishedThrough?: number) => store.lead((outbox) => outbox.sequence(100, publishedThrough));

describe('the outbox store, as the leading relay uses it', () => {
  it('numbers new events, returning them with the cursor; an idle pass is one statement, the cursor', async () => {
    await Promise.all([create(), create(), create()]);
    const first = await pass();
    expect(first?.events.map((event) => event.position)).toEqual([1, 2, 3]);
    expect(first).toMatchObject({ lastPosition: 3, publishedThrough: 0 });

    // Nothing new: no events, the cursor all the same, in one statement after the lock.
    statements.length = 0;
    expect(await pass()).toEqual({ events: [], lastPosition: 3, publishedThrough: 0 });
    expect(statements).toEqual(['outbox-sequence']);

    // A cursor moved by this pass comes back moved, though the statement's snapshot predates it.
    expect(await pass(2)).toEqual({ events: [], lastPosition: 3, publishedThrough: 2 });
    // An operator's rewind (docs/operations.md) is seen by the next idle pass.
    await db.pool.query('UPDATE outbox_relay SET published_through = 1');
    expect(await pass()).toEqual({ events: [], lastPosition: 3, publishedThrough: 1 });

    await create();
    const next = await pass();
    expect(next?.events.map((event) => event.position)).toEqual([4]);
    expect(next).toMatchObject({ lastPosition: 4, publishedThrough: 1 });
  });
});
