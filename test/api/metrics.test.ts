import { mkdir, writeFile } from 'node:fs/promises';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/app.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { productInput } from '../helpers/factories.js';

let db: TestDatabase;
let app: App;

beforeAll(async () => {
  db = await createTestDatabase();
  app = await buildTestApp(db);
});
afterAll(async () => {
  await app.close();
  await db.drop();
});

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

describe('GET /metrics', () => {
  it('exposes request counts and latency by method, route pattern and status; pool and runtime metrics', async () => {
    const created = await app.inject({ method: 'POST', url: '/api/v1/products', payload: productInput() });
    const id = created.json<{ id: string }>().id;
    await app.inject({ method: 'GET', url: `/api/v1/products/${id}` });
    await app.inject({ method: 'GET', url: '/api/v1/products/01890000-0000-7000-8000-000000000000' });
    for (let i = 0; i < 3; i++) await app.inject({ method: 'GET', url: `/no/such/path/${i}` });

    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    // Kept for .ci/run, which runs `promtool check metrics` on it when promtool is installed.
    await mkdir('coverage', { recursive: true });
    await writeFile('coverage/metrics.prom', response.body);

    const families = new Map(parsePrometheusTextFormat(response.body).map((f) => [f.name, f]));
    const requests = families.get('http_requests_total');
    expect(requests?.type).toBe('COUNTER');
    const samples = requests?.metrics ?? [];
    const count = (labels: Record<string, string>) =>
      Number(samples.find((s) => JSON.stringify(s.labels) === JSON.stringify(labels))?.value ?? 0);
    expect(count({ method: 'POST', route: '/api/v1/products', status_code: '201' })).toBe(1);
    expect(count({ method: 'GET', route: '/api/v1/products/:id', status_code: '200' })).toBe(1);
    expect(count({ method: 'GET', route: '/api/v1/products/:id', status_code: '404' })).toBe(1);
    expect(count({ method: 'GET', route: 'unmatched', status_code: '404' })).toBe(3);
    // Bounded cardinality: no label value carries an id or a raw path.
    for (const sample of samples) {
      expect(Object.values(sample.labels ?? {}).join(' ')).not.toMatch(UUID);
      expect(sample.labels?.route).not.toMatch(/^\/no\//);
    }

    // The parser folds labelled histograms into one series, so the labelled _count and
    // _bucket lines are read from the text; promtool validates all of it in CI.
    expect(families.get('http_request_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(response.body).toContain(
      'http_request_duration_seconds_count{method="GET",route="/api/v1/products/:id",status_code="200"} 1',
    );
    const bucket = 'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/products/:id"';
    expect(response.body.split('\n').find((line) => line.startsWith(bucket))).toMatch(/,status_code="200"\} [01]$/);

    for (const name of ['db_pool_connections', 'db_pool_idle_connections', 'db_pool_waiting_requests']) {
      expect(families.get(name)?.type, name).toBe('GAUGE');
    }
    expect(Number(families.get('db_pool_connections')?.metrics[0]?.value)).toBeGreaterThan(0);
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(families.has(name), name).toBe(true);
    }
  });

  it('keeps a separate registry per app, so building the app twice in one process works', async () => {
    const second = await buildTestApp(db);
    try {
      const response = await second.inject({ method: 'GET', url: '/metrics' });
      expect(response.statusCode).toBe(200);
      expect(response.body).not.toContain('route="/api/v1/products/:id"');
    } finally {
      await second.close();
    }
  });
});
