import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { startChildService } from '../helpers/child-service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/database-server.js';
import { productInput } from '../helpers/factories.js';
import { bearer } from '../helpers/tokens.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// WORKERS=2: the primary receives the signal and each worker drains on its own.
describe.each(['1', '2'])('SIGTERM under write load, WORKERS=%s', (workers) => {
  it('keeps serving through the delay with readiness 503, drains, loses no acknowledged write, exits 0', async () => {
    const service = await startChildService({
      DATABASE_URL: db.url,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      PORT: String(await freePort()),
      // Long enough to watch readiness through it however slowly this machine runs the test;
      // the assertions are about the order of events, not their timing.
      SHUTDOWN_DELAY_MS: '3000',
      OTEL_SDK_DISABLED: 'true',
      WORKERS: workers,
    });
    let exited = false;
    void service.exited.then(() => (exited = true));
    const acknowledged: { id: string; at: number }[] = [];
    const otherStatuses: number[] = [];
    let running = true;
    const writer = async () => {
      while (running) {
        try {
          const response = await fetch(`${service.url}/api/v1/products`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(await bearer()) },
            body: JSON.stringify(productInput()),
          });
          if (response.status === 201)
            acknowledged.push({ id: ((await response.json()) as { id: string }).id, at: Date.now() });
          else otherStatuses.push(response.status);
        } catch {
          await sleep(20); // the listener is closed: expected once the drain has begun
        }
      }
    };
    const writers = Array.from({ length: 8 }, writer);
    await sleep(400);

    const signalledAt = Date.now();
    service.process.kill('SIGTERM');
    // Signal delivery is asynchronous: wait for the process to act on it. A listener that
    // closed before readiness said 503 fails this fetch, and the test with it.
    while ((await fetch(`${service.url}/readyz`)).status !== 503) await sleep(5);
    const turnedAt = Date.now();
    // Then watch readiness until the listener closes: it must say 503 all along.
    const readiness: number[] = [];
    while (!exited) {
      const status = await fetch(`${service.url}/readyz`).then(
        (response) => response.status,
        () => null,
      );
      if (status === null) break;
      readiness.push(status);
      await sleep(50);
    }
    const exitCode = await service.exited;
    running = false;
    await Promise.all(writers);

    expect(exitCode).toBe(0);
    expect(readiness.length).toBeGreaterThan(3);
    expect(readiness.every((status) => status === 503)).toBe(true);
    expect(acknowledged.filter((a) => a.at < signalledAt).length).toBeGreaterThan(0);
    // Writes kept being accepted during the delay, after readiness had turned.
    expect(acknowledged.filter((a) => a.at > turnedAt).length).toBeGreaterThan(0);
    expect(otherStatuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    const stored = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM products WHERE id = ANY($1::uuid[])', [
      acknowledged.map((a) => a.id),
    ]);
    expect(Number(stored.rows[0]?.n)).toBe(acknowledged.length);
    expect(service.logs.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['signal received: shutting down', 'shutdown complete']),
    );
  });

  it('exits non-zero at once on a second signal', async () => {
    const service = await startChildService({
      DATABASE_URL: db.url,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      PORT: String(await freePort()),
      SHUTDOWN_DELAY_MS: '5000',
      OTEL_SDK_DISABLED: 'true',
      WORKERS: workers,
    });
    service.process.kill('SIGTERM');
    await sleep(200);
    const secondAt = Date.now();
    service.process.kill('SIGINT');
    // A graceful exit would be 0, and only after the 5 s delay.
    expect(await service.exited).toBe(1);
    expect(Date.now() - secondAt).toBeLessThan(4500);
  });
});
