import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AlreadyExistsError } from '../../src/domain/errors.js';
import { newId } from '../../src/domain/id.js';
import type { ProductFields } from '../../src/domain/product.js';
import { Outbox } from '../../src/postgres/outbox.js';
import { PostgresProductRepository } from '../../src/postgres/product-repository.js';
import type { ProductRepository } from '../../src/services/product-service.js';
import { createTestDatabase, TEST_EVENT_NAMING, type TestDatabase } from '../helpers/database.js';
import { unique } from '../helpers/factories.js';
import { holdNextStatement } from '../helpers/held-statement.js';

let db: TestDatabase;
let repository: ProductRepository;

beforeAll(async () => {
  db = await createTestDatabase();
  repository = new PostgresProductRepository(db.database, new Outbox(TEST_EVENT_NAMING));
});
afterAll(() => db.drop());

const fields = (overrides: Partial<ProductFields> = {}): ProductFields => ({
  sku: `SKU-${unique()}`,
  name: 'Thing',
  description: '',
  price: 1,
  currency: 'USD',
  ...overrides,
});

describe('product repository (PostgreSQL)', () => {
  it('stores prices exactly and returns them as the same numbers', async () => {
    for (const price of [19.99, 0.1, 0.07, 1.1, 99999999.99, 0.01]) {
      const product = await repository.insert(newId(), fields({ price }));
      expect(product.price).toBe(price);
      const stored = await db.pool.query<{ text: string; type: string }>(
        'SELECT price::text AS text, pg_typeof(price)::text AS type FROM products WHERE id = $1',
        [product.id],
      );
      expect(stored.rows[0]).toEqual({ text: price.toFixed(2), type: 'numeric' });
      expect((await repository.findById(product.id))?.price).toBe(price);
    }
  });

  it('sets id, version 1 and millisecond timestamps', async () => {
    const id = newId();
    const product = await repository.insert(id, fields());
    expect(product.id).toBe(id);
    expect(product.version).toBe(1);
    expect(product.createdAt).toEqual(product.updatedAt);
    // timestamptz(3): the database keeps exactly the milliseconds the API shows (and cursors carry).
    const stored = await db.pool.query<{ exact: boolean }>(
      `SELECT created_at = date_trunc('milliseconds', created_at) AS exact FROM products WHERE id = $1`,
      [id],
    );
    expect(stored.rows[0]?.exact).toBe(true);
  });

  it('batches concurrent inserts into one statement, each caller getting its own row', async () => {
    const rows = await Promise.all(
      Array.from({ length: 20 }, (_, i) => repository.insert(newId(), fields({ name: `Batch ${i}` }))),
    );
    expect(rows.map((r) => r.name)).toEqual(Array.from({ length: 20 }, (_, i) => `Batch ${i}`));
    expect(new Set(rows.map((r) => r.id)).size).toBe(20);
    for (const row of rows) expect((await repository.findById(row.id))?.name).toBe(row.name);
    // One statement, one transaction: now() is the same for every row. Twenty separate
    // autocommit round trips could not all fall within one millisecond.
    expect(new Set(rows.map((r) => r.createdAt.getTime())).size).toBe(1);
  });

  it('one batch, a SKU twice: one insert wins, the other gets AlreadyExistsError, the rest are unharmed', async () => {
    const sku = `Twice-${unique()}`;
    const outcomes = await Promise.allSettled([
      repository.insert(newId(), fields({ sku })),
      repository.insert(newId(), fields()),
      repository.insert(newId(), fields({ sku: sku.toLowerCase() })),
      repository.insert(newId(), fields()),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[2] as PromiseRejectedResult).reason).toBeInstanceOf(AlreadyExistsError);
    const stored = await db.pool.query('SELECT 1 FROM products WHERE lower(sku) = lower($1)', [sku]);
    expect(stored.rowCount).toBe(1);
  });

  it('when one row of a batch is invalid, the others are still written', async () => {
    const outcomes = await Promise.allSettled([
      repository.insert(newId(), fields({ name: 'good one' })),
      // Below the CHECK (price > 0): validation normally stops this; here it reaches the database.
      repository.insert(newId(), fields({ price: 0 })),
      repository.insert(newId(), fields({ name: 'good two' })),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23514' });
  });

  it('rejects a SKU that differs only in case with a AlreadyExistsError, on insert and on update', async () => {
    const sku = `Case-${unique()}`;
    await repository.insert(newId(), fields({ sku }));
    await expect(repository.insert(newId(), fields({ sku: sku.toUpperCase() }))).rejects.toMatchObject({
      constructor: AlreadyExistsError,
      field: 'sku',
    });
    const other = await repository.insert(newId(), fields());
    await expect(repository.update(other.id, { sku: sku.toLowerCase() }, undefined)).rejects.toBeInstanceOf(
      AlreadyExistsError,
    );
  });

  it('applies a conditional update atomically: of ten racing writers with one version, one wins', async () => {
    const product = await repository.insert(newId(), fields());
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => repository.update(product.id, { name: `Writer ${i}` }, 1)),
    );
    const winners = outcomes.filter((o) => typeof o === 'object');
    expect(winners).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'version_mismatch')).toHaveLength(9);
    expect((await repository.findById(product.id))?.version).toBe(2);
  });

  it('tells a missing row from a moved-on version', async () => {
    const product = await repository.insert(newId(), fields());
    expect(await repository.update(newId(), { name: 'x' }, 1)).toBe('not_found');
    expect(await repository.update(newId(), { name: 'x' }, undefined)).toBe('not_found');
    expect(await repository.delete(product.id, 5)).toBe('version_mismatch');
    expect(await repository.delete(product.id, 1)).toBe(true);
    expect(await repository.delete(product.id, undefined)).toBe('not_found');
  });

  it('bumps version and updated_at on every update, keeping created_at', async () => {
    const product = await repository.insert(newId(), fields({ price: 5 }));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const updated = await repository.update(product.id, { price: 6, description: 'new' }, undefined);
    expect(updated).toMatchObject({ version: 2, price: 6, description: 'new', createdAt: product.createdAt });
    expect(typeof updated === 'object' && updated.updatedAt > product.updatedAt).toBe(true);
  });

  it('sends every list as a statement of its own (identical list requests are coalesced over HTTP)', async () => {
    const tag = unique();
    const named = await Promise.all(
      ['a', 'b'].map((n) => repository.insert(newId(), fields({ name: `${n} shared ${tag}` }))),
    );
    const query = { sort: { field: 'name', direction: 'asc' }, after: null, limit: 5, filter: { q: tag } } as const;
    // Statements reach the database through the pool's clients (queryWithin).
    const statements = vi.spyOn(pg.Client.prototype, 'query');
    try {
      const [a, b, smaller] = await Promise.all([
        repository.list(query),
        repository.list(query),
        repository.list({ ...query, limit: 1 }),
      ]);
      expect(statements).toHaveBeenCalledTimes(3);
      expect(b).toEqual(a);
      expect(a.map((r) => r.id)).toEqual(named.map((r) => r.id));
      expect(smaller.map((r) => r.id)).toEqual([named[0]?.id]);
    } finally {
      statements.mockRestore();
    }
  });

  it('never answers a list with a statement sent before a write the caller saw acknowledged', async () => {
    const tag = unique();
    const query = { sort: { field: 'name', direction: 'asc' }, after: null, limit: 5, filter: { q: tag } } as const;
    // The earlier list's statement is held in flight (its answer withheld) until the end, so
    // a design that let later callers join a statement already sent would hang here.
    const held = holdNextStatement();
    try {
      const earlier = repository.list(query);
      await held.sent;
      const written = await repository.insert(newId(), fields({ name: `late ${tag}` }));
      const later = await repository.list(query);
      expect(later.map((r) => r.id)).toEqual([written.id]);
      held.release();
      await earlier;
    } finally {
      held.restore();
    }
  });

  it('matches % and _ in the name filter literally', async () => {
    const tag = unique();
    const literal = await repository.insert(newId(), fields({ name: `50% off_${tag}` }));
    await repository.insert(newId(), fields({ name: `500 offX${tag}` }));
    const rows = await repository.list({
      sort: { field: 'name', direction: 'asc' },
      after: null,
      limit: 10,
      filter: { q: `0% OFF_${tag}` },
    });
    expect(rows.map((r) => r.id)).toEqual([literal.id]);
  });

  it('serves every keyset page from the (sort column, id) index, in both directions', async () => {
    const client = await db.pool.connect();
    try {
      // Tiny test tables favour a sequential scan; forbid it to see which index the planner would use.
      await client.query('SET enable_seqscan = off');
      for (const [column, type, index] of [
        ['created_at', 'timestamptz', 'products_created_at_id_idx'],
        ['name', 'text', 'products_name_id_idx'],
        ['price', 'numeric', 'products_price_id_idx'],
      ]) {
        for (const [op, dir] of [
          ['>', 'ASC'],
          ['<', 'DESC'],
        ]) {
          const value = column === 'created_at' ? '2026-01-01T00:00:00.000Z' : column === 'price' ? '10.00' : 'M';
          const plan = await client.query<{ 'QUERY PLAN': string }>(
            `EXPLAIN SELECT id FROM products WHERE (${column}, id) ${op} ($1::${type}, $2::uuid)
             ORDER BY ${column} ${dir}, id ${dir} LIMIT 21`,
            [value, newId()],
          );
          const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
          expect(text, `${column} ${dir}`).toMatch(
            new RegExp(`Index (Only )?Scan${dir === 'DESC' ? ' Backward' : ''} using ${index}`),
          );
          expect(text).toContain('Index Cond: (ROW(');
          expect(text).not.toContain('Sort');
        }
      }
    } finally {
      client.release();
    }
  });
});
