import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisTier } from '../../src/cache/redis-tier.js';
import type { App } from '../../src/http/app.js';
import { buildTestApp, capturingLogger } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';
import { productInput } from '../helpers/factories.js';
import { RedisServer } from '../helpers/redis-server.js';

let db: TestDatabase;
let redis: RedisServer;
let a: App;
let b: App;
let checkouts = 0;

beforeAll(async () => {
  [db, redis] = await Promise.all([createTestDatabase(), RedisServer.start()]);
  db.pool.on('acquire', () => (checkouts += 1));
  // Two replicas over one database and one Redis. Near entries live long here, so that what
  // reaches replica B in time can only have come over the change feed.
  const env = { CACHE: 'on', REDIS_URL: redis.url, CACHE_NEAR_TTL_MS: '600000', CACHE_REDIS_BREAKER_MS: '500' };
  [a, b] = await Promise.all([buildTestApp(db, { env }), buildTestApp(db, { env })]);
});
afterAll(async () => {
  await Promise.all([a.close(), b.close()]);
  await redis.stop();
  await db.drop();
});

async function databaseUse(work: () => Promise<unknown>): Promise<number> {
  const before = checkouts;
  await work();
  return checkouts - before;
}

const metric = async (app: App, pattern: RegExp) =>
  Number(pattern.exec((await app.inject({ method: 'GET', url: '/metrics' })).body)?.[1] ?? 0);

describe('the shared tier (a real redis-server) between two replicas', () => {
  it('what one replica read or wrote, another reads from Redis without PostgreSQL', async () => {
    const { id } = (await a.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() })).json<{
      id: string;
    }>();
    await a.inject({ method: 'GET', url: `/api/v1/products/${id}` });
    const read = await databaseUse(async () => {
      const response = await b.inject({ method: 'GET', url: `/api/v1/products/${id}` });
      expect(response.json()).toMatchObject({ id, version: 1 });
      expect(response.json<{ created_at: string }>().created_at).toMatch(/Z$/);
    });
    expect(read).toBe(0);
    expect(await metric(b, /^cache_requests_total\{resource="product",tier="shared",result="hit"\} (\d+)/m)).toBe(1);
    // A write on A updates Redis before it answers: B, once it hears of it, reads the new version from Redis.
    await a.inject({ method: 'PATCH', url: `/api/v1/products/${id}`, payload: { name: 'Changed on A' } });
    const afterWrite = await databaseUse(() =>
      eventually(
        async () =>
          (await b.inject({ method: 'GET', url: `/api/v1/products/${id}` })).json<{ version: number }>().version === 2,
        2000,
      ),
    );
    expect(afterWrite).toBe(0);
  });

  it('a write on one replica reaches the other’s near entry over the change feed, long before its TTL', async () => {
    const { id } = (await a.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() })).json<{
      id: string;
    }>();
    expect((await b.inject({ method: 'GET', url: `/api/v1/products/${id}` })).json()).toMatchObject({ version: 1 });
    await a.inject({ method: 'PATCH', url: `/api/v1/products/${id}`, payload: { name: 'Changed on A' } });
    await eventually(
      async () =>
        (await b.inject({ method: 'GET', url: `/api/v1/products/${id}` })).json<{ version: number }>().version === 2,
      2000,
    );
    await a.inject({ method: 'DELETE', url: `/api/v1/products/${id}` });
    await eventually(
      async () => (await b.inject({ method: 'GET', url: `/api/v1/products/${id}` })).statusCode === 404,
      2000,
    );
  });

  it('Redis gone: reads fall through to PostgreSQL without errors, readiness stays; back: it fills again', async () => {
    const { id } = (await a.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() })).json<{
      id: string;
    }>();
    await redis.stop();
    const other = (await a.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() })).json<{
      id: string;
    }>();
    expect(other.id).toBeDefined();
    const started = Date.now();
    for (let i = 0; i < 20; i += 1) {
      const response = await b.inject({ method: 'GET', url: `/api/v1/products/${i % 2 === 0 ? id : other.id}` });
      expect(response.statusCode).toBe(200);
    }
    // Each call is bounded (50 ms) and a failure skips Redis for a while: no read waits on it.
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await b.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);

    await redis.resume();
    const fresh = (await a.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() })).json<{
      id: string;
    }>();
    await eventually(async () => {
      await a.inject({ method: 'PATCH', url: `/api/v1/products/${fresh.id}`, payload: { name: 'Again' } });
      const before = await metric(b, /^cache_requests_total\{resource="product",tier="shared",result="hit"\} (\d+)/m);
      // B has not read it: its miss asks Redis, which A's write filled.
      await b.inject({ method: 'GET', url: `/api/v1/products/${fresh.id}` });
      return (
        (await metric(b, /^cache_requests_total\{resource="product",tier="shared",result="hit"\} (\d+)/m)) > before
      );
    }, 10_000);
  });
});

describe('a near entry past its TTL', () => {
  it('is filled again from Redis, and then served near again', async () => {
    // Near entries expire within a second here; Redis keeps its copy, at the same version.
    const env = { CACHE: 'on', REDIS_URL: redis.url, CACHE_NEAR_TTL_MS: '1000' };
    const c = await buildTestApp(db, { env });
    try {
      const { id } = (await c.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() })).json<{
        id: string;
      }>();
      await c.inject({ method: 'GET', url: `/api/v1/products/${id}` });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const nearHits = () => metric(c, /^cache_requests_total\{resource="product",tier="near",result="hit"\} (\d+)/m);
      const sharedHits = () =>
        metric(c, /^cache_requests_total\{resource="product",tier="shared",result="hit"\} (\d+)/m);
      const [nearBefore, sharedBefore] = [await nearHits(), await sharedHits()];
      // Expired: the first read goes to Redis and fills the near tier with Redis's copy.
      await c.inject({ method: 'GET', url: `/api/v1/products/${id}` });
      expect(await sharedHits()).toBe(sharedBefore + 1);
      // Within the new TTL (drawn between 500 and 1000 ms), the next reads are near hits.
      await c.inject({ method: 'GET', url: `/api/v1/products/${id}` });
      await c.inject({ method: 'GET', url: `/api/v1/products/${id}` });
      expect(await nearHits()).toBe(nearBefore + 2);
      expect(await sharedHits()).toBe(sharedBefore + 1);
    } finally {
      await c.close();
    }
  });
});

describe('the tier’s calls', () => {
  const settings = () => ({ url: redis.url, timeoutMs: 50, ttlMs: 60_000, breakerMs: 60_000, keyPrefix: 'calls:' });

  /** How many calls of `command` Redis has served (INFO commandstats). */
  async function calls(admin: Redis, command: string): Promise<number> {
    const stats = await admin.info('commandstats');
    return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
  }

  it('a put sends the script by its SHA, not its text', async () => {
    const admin = new Redis(redis.url);
    const tier = new RedisTier(settings(), capturingLogger().logger);
    try {
      const [evals, shas] = [await calls(admin, 'eval'), await calls(admin, 'evalsha')];
      for (let version = 1; version <= 5; version += 1) await tier.put('sha', { version, json: `{"v":${version}}` });
      expect(await tier.get('sha')).toEqual({ version: 5, json: '{"v":5}' });
      // A client sends the text once (its first call of the script), then only the SHA.
      const [byText, bySha] = [(await calls(admin, 'eval')) - evals, (await calls(admin, 'evalsha')) - shas];
      expect(byText).toBeLessThanOrEqual(1);
      expect(byText + bySha).toBe(5);
    } finally {
      tier.close();
      admin.disconnect();
    }
  });

  it('a stalled Redis fails the calls in flight, and the breaker that opens is logged once', async () => {
    const admin = new Redis(redis.url);
    const { logger, lines } = capturingLogger();
    const tier = new RedisTier(settings(), logger);
    try {
      await tier.connected();
      expect(await tier.get('absent')).toBeUndefined();
      expect(lines).toEqual([]);
      // Every client but this one waits 2 s for an answer: longer than each call's 50 ms bound.
      await admin.call('CLIENT', 'PAUSE', '2000', 'ALL');
      const started = Date.now();
      const reads = await Promise.all(Array.from({ length: 10 }, (_, i) => tier.get(`stalled-${i}`)));
      expect(reads).toEqual(Array.from({ length: 10 }, () => undefined));
      expect(Date.now() - started).toBeLessThan(1500);
      const failures = lines.filter((line) => line.msg === 'Redis: call failed; reading PostgreSQL meanwhile');
      expect(failures).toHaveLength(1);
      // Open: the next call does not ask Redis (and is not logged either).
      expect(await tier.get('absent')).toBeUndefined();
      expect(lines.filter((line) => line.msg === failures[0]?.msg)).toHaveLength(1);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
      tier.close();
      admin.disconnect();
    }
  });
});
