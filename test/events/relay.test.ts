import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComposedService } from '../../src/compose.js';
import { composeTestService } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from '../helpers/eventually.js';
import { productInput } from '../helpers/factories.js';
import { NatsServer, readStream, type StreamMessage } from '../helpers/nats-server.js';

let db: TestDatabase;
let nats: NatsServer;
const started: ComposedService[] = [];

beforeAll(async () => {
  [db, nats] = await Promise.all([createTestDatabase(), NatsServer.start()]);
});
afterAll(async () => {
  for (const service of started) await stop(service);
  await nats.dispose();
  await db.drop();
});

/** A replica as main.ts runs it: app, relay and publisher over the shared database and broker. */
async function replica(stream: string, env: Record<string, string> = {}): Promise<ComposedService> {
  const service = await composeTestService(db, {
    env: { NATS_URL: nats.url, NATS_STREAM: stream, NATS_SUBJECT_PREFIX: stream.toLowerCase(), ...env },
  });
  await service.app.ready();
  service.events.publisher?.start();
  service.events.relay.start();
  started.push(service);
  return service;
}

async function stop(service: ComposedService): Promise<void> {
  await service.events.relay.stop();
  await service.events.publisher?.close();
  await service.app.close();
}

async function create(service: ComposedService, overrides: Record<string, unknown> = {}) {
  const response = await service.app.inject({
    method: 'POST',
    url: '/api/v1/products',
    payload: productInput(overrides),
  });
  expect(response.statusCode).toBe(201);
  return response.json<{ id: string; version: number }>();
}

async function metric(service: ComposedService, name: string): Promise<number> {
  const values = (await service.app.metricsRegistry.getSingleMetric(name)?.get())?.values ?? [];
  return values.reduce((sum, { value }) => sum + value, 0);
}

/** Each acknowledged change in the stream exactly once, and one resource's events in version order. */
function expectExactlyOnceInOrder(messages: readonly StreamMessage[], subjects: ReadonlyMap<string, number>): void {
  const ids = messages.map((m) => m.event.id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const [subject, versions] of subjects) {
    const seen = messages.filter((m) => m.event.subject === subject).map((m) => m.event.resourceversion);
    expect(seen).toEqual(Array.from({ length: versions }, (_, i) => i + 1));
  }
}

describe('the outbox relay, publishing to a real nats-server (JetStream)', () => {
  // One stream per test, so that each reads only its own messages.
  const streams = { basic: 'EVENTS_BASIC', outage: 'EVENTS_OUTAGE', poison: 'EVENTS_POISON', two: 'EVENTS_TWO' };

  it('creates the stream as configured and publishes each committed event once as a CloudEvent, in order', async () => {
    const service = await replica(streams.basic, { NATS_DUPLICATE_WINDOW_MS: '120000' });
    const connection = await connect({ servers: nats.url });
    const manager = await jetstreamManager(connection);
    // Created at start, before any event: a consumer can bind to it first.
    await eventually(() =>
      manager.streams.info(streams.basic).then(
        () => true,
        () => false,
      ),
    );
    const product = await create(service);
    for (const name of ['b', 'c']) {
      const patched = await service.app.inject({
        method: 'PATCH',
        url: `/api/v1/products/${product.id}`,
        payload: { name },
      });
      expect(patched.statusCode).toBe(200);
    }
    await eventually(async () => (await readStream(nats.url, streams.basic)).length === 3);
    const messages = await readStream(nats.url, streams.basic);
    expect(messages.map((m) => m.subject)).toEqual([
      'events_basic.product.created',
      'events_basic.product.updated',
      'events_basic.product.updated',
    ]);
    // Nats-Msg-Id is the event id: a re-publish after a crash is dropped by the broker.
    expect(messages.every((m) => m.msgId === m.event.id)).toBe(true);
    expect(messages[2]?.event).toMatchObject({
      specversion: '1.0',
      type: 'com.example.productuser.product.updated.v1',
      source: '/product-user-service',
      subject: product.id,
      datacontenttype: 'application/json',
      resourceversion: 3,
      data: { id: product.id, name: 'c', version: 3 },
    });
    // The feed and the stream carry the same events.
    const feed = await service.app.inject({ method: 'GET', url: `/api/v1/events?subject=${product.id}` });
    expect(feed.json<{ items: unknown[] }>().items).toEqual(messages.map((m) => m.event));

    const info = await manager.streams.info(streams.basic);
    await connection.close();
    expect(info.config).toMatchObject({
      subjects: ['events_basic.>'],
      duplicate_window: nanos(120_000),
      max_age: nanos(604_800_000),
    });
    expect(await metric(service, 'outbox_events_published_total')).toBe(3);
    await stop(service);
  });

  it('keeps serving writes while the broker is down, and drains the backlog in order when it returns', async () => {
    const service = await replica(streams.outage, { OUTBOX_RETRY_MS: '200' });
    const versions = new Map<string, number>();
    const first = await create(service);
    versions.set(first.id, 1);
    await eventually(async () => (await metric(service, 'outbox_events_published_total')) === 1);

    await nats.stop();
    for (let i = 0; i < 20; i += 1) {
      const product = await create(service);
      const patched = await service.app.inject({
        method: 'PATCH',
        url: `/api/v1/products/${product.id}`,
        payload: { name: `while down ${i}` },
      });
      expect(patched.statusCode).toBe(200);
      versions.set(product.id, 2);
    }
    // Writes succeeded; the broker is not a dependency of serving.
    expect((await service.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    await eventually(async () => (await metric(service, 'outbox_pending_events')) === 40);
    expect(await metric(service, 'outbox_oldest_pending_age_seconds')).toBeGreaterThan(0);

    await nats.resume();
    await eventually(async () => (await readStream(nats.url, streams.outage)).length === 41, 30_000);
    expectExactlyOnceInOrder(await readStream(nats.url, streams.outage), versions);
    await eventually(async () => (await metric(service, 'outbox_pending_events')) === 0);
    expect(await metric(service, 'outbox_publish_failures_total')).toBeGreaterThan(0);
    await stop(service);
  });

  it('parks an event the stream refuses, counts it, and publishes the ones after it', async () => {
    const service = await replica(streams.poison, { NATS_STREAM_MAX_MSG_BYTES: '2048', OUTBOX_MAX_ATTEMPTS: '3' });
    const before = await create(service);
    const poison = await create(service, { description: 'x'.repeat(1900) });
    const after = await create(service);
    await eventually(async () => (await metric(service, 'outbox_events_parked_total')) === 1);
    await eventually(async () => (await readStream(nats.url, streams.poison)).length === 2);
    const subjects = (await readStream(nats.url, streams.poison)).map((m) => m.event.subject);
    expect(subjects).toEqual([before.id, after.id]);
    const parked = await db.pool.query<{ attempts: number; parked_reason: string }>(
      'SELECT attempts, parked_reason FROM outbox WHERE subject = $1 AND parked_at IS NOT NULL',
      [poison.id],
    );
    expect(parked.rows).toEqual([{ attempts: 3, parked_reason: expect.stringMatching(/size|max/i) as unknown }]);
    expect(await metric(service, 'outbox_parked_events')).toBe(1);
    // Parked, not lost: the feed still has it.
    const feed = await service.app.inject({ method: 'GET', url: `/api/v1/events?subject=${poison.id}` });
    expect(feed.json<{ items: unknown[] }>().items).toHaveLength(1);
    await db.pool.query('DELETE FROM outbox WHERE parked_at IS NOT NULL');
    await stop(service);
  });

  it('two replicas relay side by side without publishing any event twice', async () => {
    const [a, b] = [await replica(streams.two), await replica(streams.two)];
    const versions = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const product = await create(i % 2 === 0 ? a : b);
        versions.set(product.id, 1);
      }),
    );
    await eventually(async () => (await readStream(nats.url, streams.two)).length === 60);
    expectExactlyOnceInOrder(await readStream(nats.url, streams.two), versions);
    // Not merely de-duplicated by the broker: each event went out once.
    const published =
      (await metric(a, 'outbox_events_published_total')) + (await metric(b, 'outbox_events_published_total'));
    expect(published).toBe(60);
    await Promise.all([stop(a), stop(b)]);
  });
});
