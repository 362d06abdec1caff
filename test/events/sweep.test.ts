import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComposedService } from '../../src/compose.js';
import { PostgresOutboxStore } from '../../src/postgres/outbox-store.js';
import { composeTestService } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput } from '../helpers/factories.js';

let db: TestDatabase;
let service: ComposedService;

beforeAll(async () => {
  db = await createTestDatabase();
  service = await composeTestService(db);
  await service.app.ready();
});
afterAll(async () => {
  // Gives up the lead the ticks below took: its connection holds the relay's lock.
  await service.events.relay.stop();
  await service.app.close();
  await db.drop();
});

const count = async (where: string) =>
  (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox WHERE ${where}`)).rows[0]?.n;

describe('the outbox sweep', () => {
  it('deletes old published events (numbered ones, without a broker), never pending or parked ones', async () => {
    const create = () => service.app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() });
    await Promise.all([create(), create(), create(), create()]);
    await service.events.relay.tick(); // numbers the four
    await create(); // not numbered yet
    await db.pool.query(`UPDATE outbox SET parked_at = now() WHERE position = 1`);
    const store = new PostgresOutboxStore(service.database);
    const future = new Date(Date.now() + 60_000);

    // With a broker, only what it acknowledged (published_through) may go.
    await db.pool.query('UPDATE outbox_relay SET published_through = 2');
    expect(await store.sweep(future, true, 100)).toBe(1);
    // Without one, everything numbered past retention, except the parked event.
    expect(await store.sweep(future, false, 100)).toBe(2);
    expect(await count('true')).toBe(2);
    expect(await count('parked_at IS NOT NULL')).toBe(1);
    expect(await count('position IS NULL')).toBe(1);
    // Nothing younger than the retention period goes.
    await service.events.relay.tick();
    expect(await store.sweep(new Date(Date.now() - 60_000), false, 100)).toBe(0);
  });

  it('an idle pass writes nothing: the relay row keeps its version (xmin)', async () => {
    await service.events.relay.tick();
    const xmin = async () => (await db.pool.query<{ xmin: string }>('SELECT xmin FROM outbox_relay')).rows[0]?.xmin;
    const before = await xmin();
    await service.events.relay.tick();
    await service.events.relay.tick();
    expect(await xmin()).toBe(before);
  });
});
