import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComposedService } from '../../src/compose.js';
import { composeTestService, TEST_JWT_SECRET } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput, userInput } from '../helpers/factories.js';
import { bearer } from '../helpers/tokens.js';

let db: TestDatabase;
let service: ComposedService;
let reader: { authorization: string };

beforeAll(async () => {
  db = await createTestDatabase();
  service = await composeTestService(db, { env: { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: TEST_JWT_SECRET } });
  await service.app.ready();
  reader = await bearer({ scopes: ['events:read'] });
});
afterAll(async () => {
  // Gives up the lead the ticks below took: its connection holds the relay's lock.
  await service.events.relay.stop();
  await service.app.close();
  await db.drop();
});

const get = (url: string, headers: Record<string, string> = reader) =>
  service.app.inject({ method: 'GET', url, headers });

interface Page {
  items: { id: string; type: string; subject: string; resourceversion: number; data: Record<string, unknown> }[];
  next_cursor: string | null;
}

/** Walks the feed from the start by following each page's Link header. */
async function walk(url: string): Promise<Page['items']> {
  const items: Page['items'] = [];
  let next: string | undefined = url;
  while (next !== undefined) {
    const response = await get(next);
    expect(response.statusCode).toBe(200);
    items.push(...response.json<Page>().items);
    const link = response.headers.link;
    next = typeof link === 'string' ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined;
    if (next === undefined) expect(response.json<Page>().next_cursor).toBeNull();
  }
  return items;
}

async function write(
  method: 'POST' | 'PATCH' | 'DELETE',
  url: string,
  payload?: Record<string, unknown>,
): Promise<{ id: string; version: number }> {
  const headers = await bearer();
  const response = await service.app.inject({
    method,
    url,
    headers,
    ...(payload !== undefined && { payload }),
  });
  expect(response.statusCode).toBeLessThan(300);
  return response.statusCode === 204 ? { id: '', version: 0 } : response.json();
}

describe('GET /api/v1/events: the change feed', () => {
  it('needs the events:read scope', async () => {
    expect((await get('/api/v1/events', {})).statusCode).toBe(401);
    expect((await get('/api/v1/events', await bearer({ scopes: ['products:write', 'users:write'] }))).statusCode).toBe(
      403,
    );
    expect((await get('/api/v1/events')).statusCode).toBe(200);
  });

  it('shows an event once its place in commit order is final, then walks every change in that order', async () => {
    const product = await write('POST', '/api/v1/products', productInput());
    // Committed, not yet numbered by the relay: not in the feed, so no later event can overtake it.
    expect((await walk('/api/v1/events?limit=100')).some((e) => e.subject === product.id)).toBe(false);
    await write('PATCH', `/api/v1/products/${product.id}`, { name: 'Second' });
    const user = await write('POST', '/api/v1/users', userInput());
    await write('DELETE', `/api/v1/users/${user.id}`);
    expect((await service.events.relay.tick()).led).toBe(true);

    const events = await walk('/api/v1/events?limit=1');
    expect(events.map((e) => [e.type.split('.').slice(-3, -1).join('.'), e.subject, e.resourceversion])).toEqual([
      ['product.created', product.id, 1],
      ['product.updated', product.id, 2],
      ['user.created', user.id, 1],
      ['user.deleted', user.id, 2],
    ]);
    expect(new Set(events.map((e) => e.id)).size).toBe(4);
  });

  it('filters by type and by subject, and resumes from a cursor without repeats', async () => {
    const a = await write('POST', '/api/v1/products', productInput());
    await write('PATCH', `/api/v1/products/${a.id}`, { name: 'A2' });
    await write('PATCH', `/api/v1/products/${a.id}`, { name: 'A3' });
    await service.events.relay.tick();

    const bySubject = await walk(`/api/v1/events?subject=${a.id}&limit=2`);
    expect(bySubject.map((e) => e.resourceversion)).toEqual([1, 2, 3]);
    const updated = await walk(`/api/v1/events?type=com.example.productuser.product.updated.v1&subject=${a.id}`);
    expect(updated.map((e) => e.data.name)).toEqual(['A2', 'A3']);

    const first = (await get(`/api/v1/events?subject=${a.id}&limit=1`)).json<Page>();
    const rest = (await get(`/api/v1/events?subject=${a.id}&cursor=${first.next_cursor ?? ''}`)).json<Page>();
    expect([...first.items, ...rest.items].map((e) => e.id)).toEqual(bySubject.map((e) => e.id));
  });

  it('refuses a bad query with a 400 problem naming the parameter', async () => {
    const other = (await get(`/api/v1/events?limit=1`)).json<Page>().next_cursor ?? '';
    for (const [query, parameter] of [
      ['subject=not-a-uuid', 'subject'],
      ['type=Product%20Created', 'type'],
      ['cursor=forged.cursor', 'cursor'],
      [`cursor=${other}&subject=00000000-0000-4000-8000-000000000000`, 'cursor'],
      ['limit=0', 'limit'],
      ['sort=position', 'sort'],
    ]) {
      const response = await get(`/api/v1/events?${query}`);
      expect(response.statusCode, query).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.stringify(response.json()), query).toContain(parameter);
    }
  });

  it('every item matches the JSON Schema of its event type in /openapi.json', async () => {
    const document = (await get('/openapi.json')).json<{ components: { schemas: Record<string, unknown> } }>();
    const ajv = new Ajv2020({ strict: false });
    addFormats.default(ajv);
    ajv.addSchema({ $id: 'doc', components: document.components });
    const names = ['Product', 'User'].flatMap((r) => ['Created', 'Updated', 'Deleted'].map((a) => `${r}${a}Event`));
    for (const name of names) expect(document.components.schemas[name], name).toBeDefined();
    const events = await walk('/api/v1/events?limit=100');
    expect(events.length).toBeGreaterThan(5);
    for (const event of events) {
      const [resource = '', action = ''] = event.type.split('.').slice(-3, -1);
      const capital = (word: string) => `${word.charAt(0).toUpperCase()}${word.slice(1)}`;
      const name = `${capital(resource)}${capital(action)}Event`;
      const validate = ajv.getSchema(`doc#/components/schemas/${name}`);
      expect(validate?.(event), `${name}: ${JSON.stringify(validate?.errors)}`).toBe(true);
    }
  });
});
