import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // Busy: what a CPU-bound request or a GC storm does to every other request.
  }
}

const status = async (app: App, url: string) => (await app.inject({ method: 'GET', url })).statusCode;

describe('load shedding', () => {
  it('over a limit: API 503 + Retry-After; liveness, metrics, API description 200; readiness 503', async () => {
    // A heap limit below any heap in use: over the limit at every sample, however busy the machine is.
    const app = await buildTestApp(db, { env: { SHED_MAX_HEAP_USED_MB: '1' } });
    try {
      await eventually(() => app.isUnderPressure());
      const shed = await app.inject({ method: 'GET', url: '/api/v1/products' });
      expect(shed.statusCode).toBe(503);
      expect(shed.headers['retry-after']).toBe('2');
      expect(shed.json()).toMatchObject({ type: 'https://problems.example.dev/overloaded', status: 503 });
      expect(await status(app, '/healthz')).toBe(200);
      expect(await status(app, '/metrics')).toBe(200);
      expect(await status(app, '/openapi.json')).toBe(200);
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ status: 'overloaded' });
    } finally {
      await app.close();
    }
  });

  it('event-loop lag past SHED_MAX_EVENT_LOOP_DELAY_MS turns shedding on; its end turns it off', async () => {
    const app = await buildTestApp(db, { env: { SHED_MAX_EVENT_LOOP_DELAY_MS: '100' } });
    try {
      // A busy machine may lag now and then by itself: what counts is that requests get through.
      await eventually(async () => (await status(app, '/api/v1/products')) === 200);
      // Sustained lag, as under real overload: a hog keeps the loop busy 150 ms in every 160.
      const hog = setInterval(() => blockEventLoop(150), 10);
      try {
        await eventually(() => app.isUnderPressure());
        expect(await status(app, '/api/v1/products')).toBe(503);
        expect(await status(app, '/healthz')).toBe(200);
        expect(await status(app, '/readyz')).toBe(503);
      } finally {
        clearInterval(hog);
      }
      await eventually(async () => (await status(app, '/api/v1/products')) === 200);
      await eventually(async () => (await status(app, '/readyz')) === 200);
    } finally {
      await app.close();
    }
  });
});
