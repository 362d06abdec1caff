import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { startChildService, type ChildService } from '../helpers/child-service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/database-server.js';
import { eventually } from '../helpers/eventually.js';
import { productInput } from '../helpers/factories.js';
import { NatsServer, readStream } from '../helpers/nats-server.js';
import { bearer } from '../helpers/tokens.js';

let db: TestDatabase;
let nats: NatsServer;
let headers: Record<string, string>;

beforeAll(async () => {
  [db, nats] = await Promise.all([createTestDatabase(), NatsServer.start()]);
  headers = { ...(await bearer()), 'content-type': 'application/json' };
});
afterAll(async () => {
  await nats.dispose();
  await db.drop();
});

async function start(stream: string): Promise<ChildService> {
  return startChildService({
    DATABASE_URL: db.url,
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    PORT: String(await freePort()),
    OTEL_SDK_DISABLED: 'true',
    NATS_URL: nats.url,
    NATS_STREAM: stream,
    NATS_SUBJECT_PREFIX: stream.toLowerCase(),
    OUTBOX_RETRY_MS: '200',
  });
}

async function create(service: ChildService): Promise<{ id: string } | null> {
  const response = await fetch(`${service.url}/api/v1/products`, {
    method: 'POST',
    headers,
    body: JSON.stringify(productInput()),
  }).catch(() => null);
  return response?.status === 201 ? ((await response.json()) as { id: string }) : null;
}

async function rename(service: ChildService, id: string, name: string): Promise<boolean> {
  const response = await fetch(`${service.url}/api/v1/products/${id}`, {
    method: 'PATCH',
    headers,
    body: JSON.stringify({ name }),
  }).catch(() => null);
  return response?.status === 200;
}

async function kill(service: ChildService): Promise<void> {
  service.process.kill('SIGKILL');
  await service.exited;
}

describe('the outbox across crashes (SIGKILL)', () => {
  it('an event committed while nothing could publish it is published after a restart', async () => {
    await nats.stop();
    const service = await start('CRASH_BEFORE_PUBLISH');
    const created = await create(service);
    expect(created).not.toBeNull();
    await kill(service);
    const unpublished = await db.pool.query('SELECT 1 FROM outbox WHERE subject = $1', [created?.id]);
    expect(unpublished.rowCount).toBe(1);

    await nats.resume();
    const restarted = await start('CRASH_BEFORE_PUBLISH');
    await eventually(async () => (await readStream(nats.url, 'CRASH_BEFORE_PUBLISH')).length === 1, 30_000);
    const [message] = await readStream(nats.url, 'CRASH_BEFORE_PUBLISH');
    expect(message?.event).toMatchObject({ subject: created?.id, resourceversion: 1 });
    await kill(restarted);
  });

  it('SIGTERM with the broker unreachable still drains and exits 0', async () => {
    await nats.stop();
    const service = await start('SIGTERM_BROKER_DOWN');
    expect(await create(service)).not.toBeNull();
    service.process.kill('SIGTERM');
    expect(await service.exited).toBe(0);
    await nats.resume();
  });

  it('killed mid-run under writes: restarted, every acknowledged write is in the stream once, in order', async () => {
    const stream = 'CRASH_MID_RUN';
    const service = await start(stream);
    // Acknowledged versions per product: each write loop renames its own product again and again.
    const acknowledged = new Map<string, number>();
    let running = true;
    const writers = Array.from({ length: 8 }, async () => {
      const product = await create(service);
      if (product === null) return;
      acknowledged.set(product.id, 1);
      for (let version = 2; running; version += 1) {
        if (!(await rename(service, product.id, `v${version}`))) return;
        acknowledged.set(product.id, version);
      }
    });
    await eventually(async () => (await readStream(nats.url, stream)).length >= 100, 30_000);
    await kill(service);
    running = false;
    await Promise.all(writers);
    expect(acknowledged.size).toBe(8);

    const restarted = await start(stream);
    const expected = [...acknowledged.values()].reduce((sum, versions) => sum + versions, 0);
    // At least every acknowledged write; a write that committed as the process died may be there too.
    await eventually(async () => {
      const pending = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM outbox, outbox_relay WHERE position IS NULL OR position > published_through`,
      );
      return pending.rows[0]?.n === 0;
    }, 30_000);
    const messages = await readStream(nats.url, stream);
    expect(messages.length).toBeGreaterThanOrEqual(expected);
    expect(new Set(messages.map((m) => m.event.id)).size).toBe(messages.length);
    for (const [id, versions] of acknowledged) {
      const seen = messages.filter((m) => m.event.subject === id).map((m) => m.event.resourceversion as number);
      // In order, without gaps or repeats, up to (at least) the last acknowledged version.
      expect(seen.slice(0, versions)).toEqual(Array.from({ length: versions }, (_, i) => i + 1));
      expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1));
    }
    await kill(restarted);
  });
});
