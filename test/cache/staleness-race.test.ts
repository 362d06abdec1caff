import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput } from '../helpers/factories.js';
import { RedisServer } from '../helpers/redis-server.js';

const RACE_MS = 20_000;
/** The configured bound across replicas (CACHE_STALENESS_MS, the default). */
const BOUND_MS = 1000;

let db: TestDatabase;
let redis: RedisServer;
/** Two replicas with the near tier alone (the embedded default), two with Redis behind it. */
let nearOnly: App[];
let withRedis: App[];

beforeAll(async () => {
  [db, redis] = await Promise.all([createTestDatabase(), RedisServer.start()]);
  const near = { CACHE: 'on' };
  const shared = { CACHE: 'on', REDIS_URL: redis.url };
  [nearOnly, withRedis] = await Promise.all([
    Promise.all([buildTestApp(db, { env: near }), buildTestApp(db, { env: near })]),
    Promise.all([buildTestApp(db, { env: shared }), buildTestApp(db, { env: shared })]),
  ]);
});
afterAll(async () => {
  await Promise.all([...nearOnly, ...withRedis].map((app) => app.close()));
  await redis.stop();
  await db.drop();
});

interface Acknowledged {
  readonly replica: number;
  readonly version: number;
  readonly at: number;
}

describe('readers and writers racing on one id across two replicas', () => {
  it(
    `for ${RACE_MS / 1000} s: no read older than its replica acknowledged, nor (past ${BOUND_MS} ms) than any`,
    async () => {
      const [near, shared] = await Promise.all([race(nearOnly), race(withRedis)]);
      // The measured window, for docs/decisions.md: how long ago a newer version was acknowledged.
      console.info(`near only: ${near.staleness}\nnear + Redis: ${shared.staleness}`);
      for (const { violations, acknowledged, reads } of [near, shared]) {
        expect(violations.slice(0, 5)).toEqual([]);
        expect(acknowledged).toBeGreaterThan(50);
        expect(reads).toBeGreaterThan(200);
      }
    },
    RACE_MS + 30_000,
  );
});

/** Two writers and four readers on one id through two replicas, every read checked. */
async function race(
  replicas: App[],
): Promise<{ violations: string[]; acknowledged: number; reads: number; staleness: string }> {
  const [first] = replicas;
  const created = await first?.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() });
  const { id } = created?.json<{ id: string }>() ?? { id: '' };
  const acknowledged: Acknowledged[] = [{ replica: 0, version: 1, at: Date.now() }];
  const violations: string[] = [];
  let reads = 0;
  const staleness: number[] = [];
  const until = Date.now() + RACE_MS;

  const writer = async (replica: number) => {
    const app = replicas[replica];
    while (Date.now() < until && app !== undefined) {
      const response = await app.inject({
        method: 'PATCH',
        url: `/api/v1/products/${id}`,
        payload: { name: `w${replica}` },
      });
      if (response.statusCode === 200) {
        acknowledged.push({ replica, version: response.json<{ version: number }>().version, at: Date.now() });
      }
    }
  };
  const reader = async (replica: number) => {
    const app = replicas[replica];
    while (Date.now() < until && app !== undefined) {
      const started = Date.now();
      // Everything acknowledged before this read started, as it stood then.
      const known = [...acknowledged];
      const response = await app.inject({ method: 'GET', url: `/api/v1/products/${id}` });
      const version = response.json<{ version: number }>().version;
      reads += 1;
      const mine = Math.max(0, ...known.filter((w) => w.replica === replica).map((w) => w.version));
      const settled = Math.max(0, ...known.filter((w) => w.at <= started - BOUND_MS).map((w) => w.version));
      if (version < mine) violations.push(`replica ${replica} read v${version} after acknowledging v${mine}`);
      if (version < settled) violations.push(`replica ${replica}: v${version}, v${settled} acknowledged before`);
      // How stale this read was: since when a newer version had been acknowledged (0 if none).
      const newer = known.find((w) => w.version > version);
      staleness.push(newer === undefined ? 0 : started - newer.at);
      // A read from memory completes without I/O: let the writers' I/O run between reads.
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all([writer(0), writer(1), reader(0), reader(1), reader(0), reader(1)]);
  staleness.sort((a, b) => a - b);
  const at = (q: number) => staleness[Math.floor((staleness.length - 1) * q)] ?? 0;
  return {
    violations,
    acknowledged: acknowledged.length,
    reads,
    staleness:
      `reads ${reads}, stale ${staleness.filter((ms) => ms > 0).length}; ` +
      `staleness p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`,
  };
}
