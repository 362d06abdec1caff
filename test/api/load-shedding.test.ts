import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

let db: TestDatabase;
let app: App;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db, { env: { SHED_MAX_EVENT_LOOP_DELAY_MS: '100' } });
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // Busy: what a CPU-bound request or a GC storm does to every other request.
  }
}

describe('load shedding', () => {
  it('answers 503 + Retry-After while the event loop lags, keeps liveness 200, turns readiness 503, then recovers', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/v1/products' })).statusCode).toBe(200);
    // Sustained lag, as under real overload: a hog keeps the loop busy 150 ms in every 160.
    const hog = setInterval(() => blockEventLoop(150), 10);
    try {
      await sleep(700);
      const shed = await app.inject({ method: 'GET', url: '/api/v1/products' });
      expect(shed.statusCode).toBe(503);
      expect(shed.headers['retry-after']).toBe('2');
      expect(shed.json()).toMatchObject({ type: 'https://problems.example.dev/overloaded', status: 503 });
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ status: 'overloaded' });
      expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    } finally {
      clearInterval(hog);
    }

    let recovered = false;
    for (let i = 0; i < 40 && !recovered; i++) {
      await sleep(100);
      recovered = (await app.inject({ method: 'GET', url: '/api/v1/products' })).statusCode === 200;
    }
    expect(recovered).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});
