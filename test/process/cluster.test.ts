import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { startChildService, type ChildService } from '../helpers/child-service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/database-server.js';
import { bearer } from '../helpers/tokens.js';

let db: TestDatabase;
let service: ChildService;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(read: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(50);
  }
}

/** A GET on a connection of its own: the cluster hands out connections, not requests. */
function getOnNewConnection(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

const workerPids = () => new Set(service.logs.filter((l) => l.msg === 'worker started').map((l) => l.pid));

beforeAll(async () => {
  db = await createTestDatabase();
  service = await startChildService({
    DATABASE_URL: db.url,
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    PORT: String(await freePort()),
    OTEL_SDK_DISABLED: 'true',
    WORKERS: '2',
  });
  // The first worker's line resolves startChildService; the primary announces when all listen.
  await until(() => service.logs.find((l) => l.msg === 'listening' && l.workers === 2));
});
afterAll(async () => {
  service.process.kill('SIGTERM');
  await service.exited;
  await db.drop();
});

describe('WORKERS=2 (node:cluster)', () => {
  it('serves from both workers, and /metrics counts the requests of all of them', async () => {
    const auth = await bearer();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++)
      statuses.push((await getOnNewConnection(`${service.url}/api/v1/users?limit=1`, auth)).status);
    expect(statuses).toEqual(Array.from({ length: 10 }, () => 200));
    const lines = await until(() => {
      const found = service.logs.filter((l) => l.msg === 'request completed' && l.route === '/api/v1/users');
      return found.length === 10 ? found : undefined;
    });
    expect(new Set(lines.map((l) => l.worker))).toEqual(new Set([1, 2]));

    // Whichever worker answers the scrape, the counter is the pod's total.
    for (let i = 0; i < 2; i++) {
      const scrape = await getOnNewConnection(`${service.url}/metrics`);
      expect(scrape.status).toBe(200);
      expect(scrape.body).toContain('http_requests_total{method="GET",route="/api/v1/users",status_code="200"} 10');
    }
  });

  it('replaces a worker that dies, and keeps serving meanwhile', async () => {
    const before = workerPids();
    expect(before.size).toBe(2);
    const [victim] = [...before] as number[];
    process.kill(victim as number, 'SIGKILL');
    await until(() =>
      service.logs.some((l) => l.msg === 'worker exited unexpectedly: starting a replacement') ? true : undefined,
    );
    expect((await getOnNewConnection(`${service.url}/healthz`)).status).toBe(200);
    const after = await until(() => (workerPids().size === 3 ? workerPids() : undefined));
    expect(after.has(victim)).toBe(true);
    await until(() => (service.logs.some((l) => l.msg === 'worker listening' && l.worker === 3) ? true : undefined));
    expect(service.process.exitCode).toBeNull();
    // The replacement serves too: both live workers answer.
    const seen = new Set<unknown>();
    const probeLines = () => service.logs.filter((l) => l.msg === 'request completed' && l.route === '/healthz');
    const probesBefore = probeLines().length;
    for (let i = 0; i < 6; i++) await getOnNewConnection(`${service.url}/healthz`);
    // Log lines are written asynchronously, by each worker at the end of its event-loop turn.
    await until(() => (probeLines().length >= probesBefore + 6 ? true : undefined));
    const recent = probeLines().slice(-6);
    for (const line of recent) seen.add(line.worker);
    expect(seen.has(3)).toBe(true); // the replacement
    expect(seen.size).toBe(2);
  });
});

describe('WORKERS=2: the pod’s life', () => {
  it('stops with exit 1 when a worker cannot start, instead of restarting it in a loop', async () => {
    const closed = await freePort(); // nothing listens there: every worker's first ping fails
    await expect(
      startChildService({
        DATABASE_URL: `postgres://postgres:postgres@127.0.0.1:${closed}/none`,
        MIGRATE_ON_START: 'false',
        DB_CONNECT_TIMEOUT_MS: '200',
        AUTH_JWT_SECRET: TEST_JWT_SECRET,
        PORT: String(await freePort()),
        OTEL_SDK_DISABLED: 'true',
        WORKERS: '2',
      }),
    ).rejects.toThrow(/exited with 1 before listening/);
  });

  // node:cluster itself ends a worker whose primary is gone (at once, without draining).
  it('takes its workers down when the primary is killed', async () => {
    const pod = await startChildService({
      DATABASE_URL: db.url,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      PORT: String(await freePort()),
      OTEL_SDK_DISABLED: 'true',
      WORKERS: '2',
    });
    await until(() => pod.logs.find((l) => l.msg === 'listening' && l.workers === 2));
    const pids = pod.logs.filter((l) => l.msg === 'worker started').map((l) => l.pid as number);
    expect(pids).toHaveLength(2);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(pids.every(alive)).toBe(true);
    pod.process.kill('SIGKILL');
    await pod.exited;
    await until(() => (pids.some(alive) ? undefined : true));
  });
});
