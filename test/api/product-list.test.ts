import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput, unique } from '../helpers/factories.js';
import { holdNextStatement } from '../helpers/held-statement.js';

let db: TestDatabase;
let app: App;

interface Item {
  id: string;
  name: string;
  price: number;
  created_at: string;
  sku: string;
  currency: string;
}
interface PageBody {
  items: Item[];
  next_cursor: string | null;
}

beforeAll(async () => {
  db = await createTestDatabase();
  // CACHE=off: tests here count (and hold) statements of every pg client in the process, and
  // the cache's outbox reader would add its own every 100 ms. Lists are never cached anyway.
  app = await buildTestApp(db, { env: { CACHE: 'off' } });
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

async function seed(tag: string, count: number): Promise<Item[]> {
  const items: Item[] = [];
  for (let i = 0; i < count; i++) {
    // Few distinct names and prices, so every sort has ties that only the id can break.
    const payload = productInput({
      name: `${tag} ${'ABC'[i % 3]}`,
      price: [5, 7.5, 5, 12][i % 4],
      currency: i % 2 === 0 ? 'EUR' : 'USD',
    });
    const response = await app.inject({ method: 'POST', url: '/api/v1/products', payload });
    items.push(response.json<Item>());
  }
  return items;
}

async function list(query: string): Promise<{ status: number; body: PageBody; link: string | undefined }> {
  const response = await app.inject({ method: 'GET', url: `/api/v1/products?${query}` });
  return {
    status: response.statusCode,
    body: response.json<PageBody>(),
    link: response.headers.link as string | undefined,
  };
}

/** Follows next_cursor until the end and returns every id in order. */
async function walk(query: string, onPage?: (page: number) => Promise<void>): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let page = 0;
  do {
    const suffix: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const { status, body } = await list(`${query}${suffix}`);
    expect(status).toBe(200);
    ids.push(...body.items.map((i) => i.id));
    cursor = body.next_cursor;
    await onPage?.(++page);
  } while (cursor !== null && ids.length < 1000);
  return ids;
}

function expectedOrder(items: Item[], sort: string): string[] {
  const field = sort.replace(/^-/, '') as 'name' | 'price' | 'created_at';
  const sign = sort.startsWith('-') ? -1 : 1;
  const key = (item: Item) => (field === 'price' ? item.price.toFixed(2).padStart(12, '0') : item[field]);
  return [...items]
    .sort((a, b) => sign * (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((i) => i.id);
}

describe('GET /api/v1/products (keyset pagination)', () => {
  it.each(['created_at', '-created_at', 'name', '-name', 'price', '-price'])(
    'walks every row exactly once in %s order, ties broken by id',
    async (sort) => {
      const tag = `Walk${unique()}`;
      const items = await seed(tag, 17);
      const ids = await walk(`q=${tag}&sort=${sort}&limit=4`);
      expect(ids).toEqual(expectedOrder(items, sort));
    },
  );

  it('defaults to newest first and 20 per page', async () => {
    const tag = `Default${unique()}`;
    const items = await seed(tag, 22);
    const { body } = await list(`q=${tag}`);
    expect(body.items).toHaveLength(20);
    expect(body.items.map((i) => i.id)).toEqual(expectedOrder(items, '-created_at').slice(0, 20));
  });

  it('neither repeats nor skips a row while new rows are being inserted', async () => {
    const tag = `Live${unique()}`;
    const original = await seed(tag, 12);
    const seen = await walk(`q=${tag}&sort=name&limit=3`, async () => {
      await seed(tag, 2);
    });
    expect(new Set(seen).size).toBe(seen.length);
    for (const item of original) expect(seen).toContain(item.id);
  });

  it('sends Link rel="next" with the same query and the new cursor, and none on the last page', async () => {
    const tag = `Link${unique()}`;
    await seed(tag, 3);
    const first = await list(`q=${tag}&limit=2&sort=price`);
    expect(first.link).toBe(
      `</api/v1/products?q=${tag}&limit=2&sort=price&cursor=${first.body.next_cursor ?? ''}>; rel="next"`,
    );
    const next = await app.inject({ method: 'GET', url: /<([^>]+)>/.exec(first.link ?? '')?.[1] ?? '' });
    expect(next.json<PageBody>().items).toHaveLength(1);
    expect(next.headers.link).toBeUndefined();
    expect(next.json<PageBody>().next_cursor).toBeNull();
  });

  it('answers one query asked at once, however spelled, with one statement, each with its own Link', async () => {
    const tag = `Same${unique()}`;
    await seed(tag, 3);
    const spellings = [`q=${tag}&limit=2&sort=price`, `sort=price&q=${tag}&limit=2`, `limit=2&sort=price&q=${tag}`];
    // Statements reach the database through the pool's clients (queryWithin).
    const statements = vi.spyOn(pg.Client.prototype, 'query');
    let pages: Awaited<ReturnType<typeof list>>[];
    try {
      [, ...pages] = await Promise.all([list(`q=${tag}&limit=3&sort=price`), ...spellings.map(list)]);
      // One statement for the three spellings, one for the other query.
      expect(statements).toHaveBeenCalledTimes(2);
    } finally {
      statements.mockRestore();
    }
    const [first] = pages;
    expect(first?.body.items).toHaveLength(2);
    pages.forEach((page, i) => {
      expect(page.status).toBe(200);
      expect(page.body).toEqual(first?.body);
      expect(page.link).toBe(
        `</api/v1/products?${spellings[i] ?? ''}&cursor=${first?.body.next_cursor ?? ''}>; rel="next"`,
      );
    });
  });

  it('never answers a list request with work started before a write it saw acknowledged', async () => {
    const tag = `Late${unique()}`;
    // The earlier request's statement is held in flight (its answer withheld) until the end,
    // so a design that let later requests join work already started would hang here.
    const held = holdNextStatement();
    try {
      const earlier = list(`q=${tag}`);
      await held.sent;
      const written = await app.inject({
        method: 'POST',
        url: '/api/v1/products',
        payload: productInput({ name: tag }),
      });
      expect(written.statusCode).toBe(201);
      const later = await list(`q=${tag}`);
      expect(later.body.items.map((i) => i.id)).toEqual([written.json<Item>().id]);
      held.release();
      expect((await earlier).status).toBe(200);
    } finally {
      held.restore();
    }
  });

  it('filters by currency, price range and exact SKU ignoring case', async () => {
    const tag = `Filter${unique()}`;
    const items = await seed(tag, 8);
    const eur = await list(`q=${tag}&currency=EUR&limit=100`);
    expect(eur.body.items.map((i) => i.id).sort()).toEqual(
      items
        .filter((i) => i.currency === 'EUR')
        .map((i) => i.id)
        .sort(),
    );
    const range = await list(`q=${tag}&min_price=6&max_price=12&limit=100`);
    expect(range.body.items.every((i) => i.price >= 6 && i.price <= 12)).toBe(true);
    expect(range.body.items).toHaveLength(items.filter((i) => i.price >= 6 && i.price <= 12).length);
    const target = items[3];
    const bySku = await list(`sku=${target?.sku.toLowerCase() ?? ''}`);
    expect(bySku.body.items.map((i) => i.id)).toEqual([target?.id]);
  });

  it('matches q case-insensitively and treats % and _ literally', async () => {
    const tag = unique();
    await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      payload: productInput({ name: `100% Cotton_${tag}` }),
    });
    await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      payload: productInput({ name: `1000 CottonX${tag}` }),
    });
    const { body } = await list(`q=${encodeURIComponent(`0% cotton_${tag}`)}`);
    expect(body.items.map((i) => i.name)).toEqual([`100% Cotton_${tag}`]);
    const wildcardOnly = await list(`q=${encodeURIComponent('%')}&sku=nothing-${tag}`);
    expect(wildcardOnly.body.items).toEqual([]);
  });

  it.each([
    ['limit=0', 'query.limit'],
    ['limit=101', 'query.limit'],
    ['limit=abc', 'query.limit'],
    ['limit=-1', 'query.limit'],
    ['sort=price_desc', 'query.sort'],
    ['min_price=1.234', 'query.min_price'],
    ['currency=eur', 'query.currency'],
    ['q=', 'query.q'],
    ['unknown=1', 'query.unknown'],
    ['cursor=not-a-cursor', 'query.cursor'],
  ])('rejects %s with 400 naming %s', async (query, path) => {
    const { status, body } = await list(query);
    expect(status).toBe(400);
    expect(body).toMatchObject({ errors: [{ path }] });
  });

  it('refuses a cursor that was tampered with or issued for another sort or filter', async () => {
    const tag = `Cursor${unique()}`;
    await seed(tag, 3);
    const { body } = await list(`q=${tag}&limit=1&sort=name`);
    const cursor = body.next_cursor ?? '';
    expect((await list(`q=${tag}&limit=1&sort=name&cursor=${cursor}`)).status).toBe(200);
    expect((await list(`q=${tag}&limit=1&sort=-name&cursor=${cursor}`)).status).toBe(400);
    expect((await list(`q=other&limit=1&sort=name&cursor=${cursor}`)).status).toBe(400);
    const tampered = `${cursor.slice(0, 5)}${cursor[5] === 'A' ? 'B' : 'A'}${cursor.slice(6)}`;
    expect((await list(`q=${tag}&limit=1&sort=name&cursor=${tampered}`)).status).toBe(400);
    const users = await app.inject({ method: 'GET', url: `/api/v1/users?sort=name&limit=1&cursor=${cursor}` });
    expect(users.statusCode).toBe(400);
  });

  it('lets the page size change between pages', async () => {
    const tag = `Resize${unique()}`;
    const items = await seed(tag, 6);
    const first = await list(`q=${tag}&limit=2&sort=created_at`);
    const second = await list(`q=${tag}&limit=4&sort=created_at&cursor=${first.body.next_cursor ?? ''}`);
    expect([...first.body.items, ...second.body.items].map((i) => i.id)).toEqual(expectedOrder(items, 'created_at'));
  });
});
