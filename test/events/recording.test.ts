import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { newId } from '../../src/domain/id.js';
import { Outbox } from '../../src/postgres/outbox.js';
import { productTransactions } from '../../src/postgres/product-repository.js';
import { composeTestService } from '../helpers/app.js';
import { createTestDatabase, TEST_EVENT_NAMING, type TestDatabase } from '../helpers/database.js';
import { productInput, userInput } from '../helpers/factories.js';

let db: TestDatabase;
let app: App;

beforeAll(async () => {
  db = await createTestDatabase();
  app = (await composeTestService(db)).app;
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

interface OutboxRow {
  type: string;
  source: string;
  resource_version: number;
  data: Record<string, unknown>;
  traceparent: string | null;
}

async function eventsOf(subject: string): Promise<OutboxRow[]> {
  const result = await db.pool.query<OutboxRow>(
    'SELECT type, source, resource_version, data, traceparent FROM outbox WHERE subject = $1 ORDER BY id',
    [subject],
  );
  return result.rows;
}

const type = (name: string) => `${TEST_EVENT_NAMING.typePrefix}.${name}.v1`;

describe('the outbox: every change records its event in the same transaction', () => {
  it('create, update, replace and delete of a product each record one event: the REST representation', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      payload: productInput({ price: 19.9 }),
    });
    const product = created.json<{ id: string; version: number }>();
    const patched = await app.inject({
      method: 'PATCH',
      url: `/api/v1/products/${product.id}`,
      payload: { name: 'Renamed' },
    });
    const replaced = await app.inject({
      method: 'PUT',
      url: `/api/v1/products/${product.id}`,
      payload: productInput({ price: 0.07, description: 'ünïcode ✓' }),
    });
    const deleted = await app.inject({ method: 'DELETE', url: `/api/v1/products/${product.id}` });
    expect([created.statusCode, patched.statusCode, replaced.statusCode, deleted.statusCode]).toEqual([
      201, 200, 200, 204,
    ]);

    const events = await eventsOf(product.id);
    expect(events.map((e) => [e.type, e.resource_version])).toEqual([
      [type('product.created'), 1],
      [type('product.updated'), 2],
      [type('product.updated'), 3],
      [type('product.deleted'), 4],
    ]);
    // Exactly what a client was sent: same fields, same values, same key order.
    expect(JSON.stringify(events[0]?.data)).toBe(created.body);
    expect(JSON.stringify(events[1]?.data)).toBe(patched.body);
    expect(JSON.stringify(events[2]?.data)).toBe(replaced.body);
    expect(events[3]?.data).toEqual({ id: product.id, version: 3 });
    expect(events.every((e) => e.source === TEST_EVENT_NAMING.source)).toBe(true);
  });

  it('user events carry what the REST read returns and nothing else', async () => {
    const created = await app.inject({ method: 'POST', url: '/api/v1/users', payload: userInput() });
    const user = created.json<{ id: string }>();
    const read = await app.inject({ method: 'GET', url: `/api/v1/users/${user.id}` });
    await app.inject({ method: 'DELETE', url: `/api/v1/users/${user.id}` });
    const events = await eventsOf(user.id);
    expect(events.map((e) => e.type)).toEqual([type('user.created'), type('user.deleted')]);
    expect(JSON.stringify(events[0]?.data)).toBe(read.body);
  });

  it('an idempotent create records one event, and its replay none', async () => {
    const headers = { 'idempotency-key': newId() };
    const payload = productInput();
    const first = await app.inject({ method: 'POST', url: '/api/v1/products', headers, payload });
    const replay = await app.inject({ method: 'POST', url: '/api/v1/products', headers, payload });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const events = await eventsOf(first.json<{ id: string }>().id);
    expect(events).toHaveLength(1);
    expect(JSON.stringify(events[0]?.data)).toBe(first.body);
  });

  it('creates batched into one statement record one event per row, and none for the row that lost', async () => {
    const sku = `DUP-${newId().slice(0, 8)}`;
    const payloads = [
      ...Array.from({ length: 24 }, () => productInput()),
      productInput({ sku }),
      productInput({ sku }),
    ];
    // Sent in one turn, so the repository folds the inserts into one multi-row statement.
    const responses = await Promise.all(
      payloads.map((payload) => app.inject({ method: 'POST', url: '/api/v1/products', payload })),
    );
    expect(responses.map((r) => r.statusCode).sort()).toEqual([...Array<number>(25).fill(201), 409]);
    for (const response of responses.filter((r) => r.statusCode === 201)) {
      const events = await eventsOf(response.json<{ id: string }>().id);
      expect(events.map((e) => e.type)).toEqual([type('product.created')]);
      expect(JSON.stringify(events[0]?.data)).toBe(response.body);
    }
  });

  it('a change that fails records nothing: conflict, stale version, missing row', async () => {
    const before = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
    const product = (await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() })).json<{
      id: string;
      sku: string;
    }>();
    const refused = [
      await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput({ sku: product.sku }) }),
      await app.inject({
        method: 'PATCH',
        url: `/api/v1/products/${product.id}`,
        headers: { 'if-match': '"7"' },
        payload: { name: 'Stale' },
      }),
      await app.inject({ method: 'DELETE', url: `/api/v1/products/${newId()}` }),
      await app.inject({ method: 'PATCH', url: `/api/v1/products/${product.id}`, payload: { price: -1 } }),
    ];
    expect(refused.map((r) => r.statusCode)).toEqual([409, 412, 404, 400]);
    const after = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox');
    expect(after.rows[0]?.n).toBe((before.rows[0]?.n ?? 0) + 1);
  });

  it('a transaction that rolls back after its change leaves neither the row nor its event', async () => {
    const id = newId();
    const transactions = productTransactions(db.database, new Outbox(TEST_EVENT_NAMING));
    await expect(
      transactions.transaction(async ({ products }) => {
        await products.insert(id, {
          sku: `RB-${id.slice(0, 8)}`,
          name: 'Rolled back',
          description: '',
          price: 1,
          currency: 'USD',
        });
        throw new Error('a later step of the same transaction failed');
      }),
    ).rejects.toThrow('a later step');
    expect((await db.pool.query('SELECT 1 FROM products WHERE id = $1', [id])).rowCount).toBe(0);
    expect(await eventsOf(id)).toEqual([]);
  });
});
