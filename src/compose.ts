import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { hmacSecret } from './dev/development-auth.js';
import { fastifyConnectPlugin } from '@connectrpc/connect-fastify';
import { CallLog, observeCalls, observeReflection } from './grpc/observe.js';
import { rpcRoutes, rpcServices } from './grpc/routes.js';
import type { GrpcServing } from './grpc/server.js';
import { buildApp, type App, type AppDependencies } from './http/app.js';
import { Authenticator } from './http/auth.js';
import { CursorCodec } from './http/pagination.js';
import { Database } from './postgres/database.js';
import { DatabaseGate } from './postgres/gate.js';
import { pingDatabase } from './postgres/pool.js';
import { CacheMetrics } from './cache/cache-metrics.js';
import { CachedRepository } from './cache/cached-repository.js';
import { RedisTier } from './cache/redis-tier.js';
import { OutboxRelay } from './events/relay.js';
import { JetStreamPublisher } from './nats/jetstream-publisher.js';
import { PostgresEventLog } from './postgres/event-log.js';
import { Outbox } from './postgres/outbox.js';
import { PostgresOutboxStore } from './postgres/outbox-store.js';
import { OutboxChanges } from './postgres/outbox-changes.js';
import { PostgresProductRepository, productTransactions } from './postgres/product-repository.js';
import { PostgresUserRepository, userTransactions } from './postgres/user-repository.js';
import { EventFeed } from './services/event-feed.js';
import { ProductService } from './services/product-service.js';
import { UserService } from './services/user-service.js';

export interface ServiceParts {
  readonly config: Config;
  readonly pool: pg.Pool;
  /** The outbox relay's own connection, so that it never queues behind requests (default: `pool`). */
  readonly relayPool?: pg.Pool;
  readonly logger: Logger;
  /** False from the moment a shutdown starts (readiness then answers 503); always true by default. */
  readonly isAcceptingTraffic?: () => boolean;
  /** Set in a cluster worker: /metrics then adds up every worker's registry. */
  readonly scrape?: AppDependencies['scrape'];
}

export interface ComposedService {
  /** Built, not yet listening. Closing it also stops the database circuit breaker. */
  readonly app: App;
  readonly database: Database;
  /** The HS256 key tokens are verified with: AUTH_JWT_SECRET, or development's own. */
  readonly hmacSecret: string | undefined;
  /** The RPC services: already on the app (Connect, gRPC-Web); main.ts serves native gRPC with them. */
  readonly rpc: GrpcServing;
  /** Publishes committed events (with NATS_URL) and numbers them for the feed; main.ts starts and stops it. */
  readonly events: EventParts;
}

export interface EventParts {
  readonly relay: OutboxRelay;
  readonly publisher: JetStreamPublisher | undefined;
}

/**
 * The wiring, written once for the server, the tests and the OpenAPI writer: the pool behind
 * its circuit breaker → repositories → services → the HTTP app, with Connect and gRPC-Web on
 * it, and the RPC routes main.ts serves as native gRPC.
 */
export async function composeService(parts: ServiceParts): Promise<ComposedService> {
  const { config, pool, logger } = parts;
  const gate = new DatabaseGate(config.database.breaker, logger);
  const database = new Database(pool, gate, config.database.statementDeadlineMs);
  const secret = await hmacSecret(config);
  // Every write records its event in the statement (or transaction) that makes the change.
  const outbox = new Outbox(config.events.naming);
  const productRows = new PostgresProductRepository(database, outbox);
  const userRows = new PostgresUserRepository(database, outbox);
  // Reads by id through the near-cache (CACHE=on): the services see the same interfaces.
  const caches = config.cache.enabled ? await readCaches(config, logger, pool, productRows, userRows) : undefined;
  const products = new ProductService(caches?.products ?? productRows, productTransactions(database, outbox));
  const users = new UserService(caches?.users ?? userRows, userTransactions(database, outbox));
  const authenticator = new Authenticator({ ...config.auth, secret });
  const readiness = {
    isAcceptingTraffic: parts.isAcceptingTraffic ?? (() => true),
    pingDatabase: () => pingDatabase(pool, config.database.readinessTimeoutMs),
  };
  const app = await buildApp({
    logger,
    products,
    users,
    events: new EventFeed(new PostgresEventLog(database)),
    authenticator,
    readiness,
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    scrape: parts.scrape,
    settings: config.http,
  });
  app.addHook('onClose', () => gate.shutdown());
  if (caches !== undefined) {
    caches.metrics.registerWith(app.metricsRegistry);
    app.addHook('onClose', async () => {
      caches.redis?.close();
      await caches.changes.close();
    });
  }
  const rpcDependencies = {
    logger,
    products,
    users,
    authenticator,
    readiness,
    cursors: new CursorCodec(config.http.cursorSecret),
    limiter: app.rateLimiter,
    isUnderPressure: () => app.isUnderPressure(),
  };
  // In a scope of its own without the app's JSON parsers: Connect reads its bodies itself.
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    // RPCs are described by proto/, not by the OpenAPI document.
    scope.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, hide: true };
    });
    await scope.register(fastifyConnectPlugin, {
      routes: rpcRoutes(rpcDependencies),
      readMaxBytes: config.http.bodyLimitBytes,
    });
  });
  const calls = new CallLog(logger, app.metricsRegistry);
  const rpc: GrpcServing = {
    services: rpcServices({ ...rpcDependencies, observe: observeCalls(calls) }),
    observeReflection: observeReflection(calls),
  };
  const publisher = config.events.nats === undefined ? undefined : new JetStreamPublisher(config.events.nats, logger);
  const relayDatabase =
    parts.relayPool === undefined ? database : new Database(parts.relayPool, gate, config.database.statementDeadlineMs);
  const relay = new OutboxRelay(
    new PostgresOutboxStore(database, relayDatabase),
    publisher ?? null,
    config.events.relay,
    logger,
    app.metricsRegistry,
  );
  return { app, database, hmacSecret: secret, rpc, events: { relay, publisher } };
}

/**
 * The read caches around the repositories: the near tier, Redis with REDIS_URL, and what
 * tells them of every change committed anywhere (the outbox, read on a connection of its own).
 */
async function readCaches(
  config: Config,
  logger: Logger,
  pool: pg.Pool,
  productRows: PostgresProductRepository,
  userRows: PostgresUserRepository,
) {
  const metrics = new CacheMetrics();
  const redis = config.cache.redis === undefined ? undefined : new RedisTier(config.cache.redis, logger);
  const shared = redis === undefined ? undefined : { tier: redis, dateFields: ['createdAt', 'updatedAt'] as const };
  const changes = new OutboxChanges(
    {
      // The pool's own connection settings (address, credentials, TLS), on a client of its own.
      connection: { ...pool.options, connectionTimeoutMillis: config.database.connectTimeoutMs },
      // Several reads within the bound, so that one slow read does not stop the caches serving.
      pollMs: Math.max(10, Math.min(100, Math.floor(config.cache.near.stalenessMs / 4))),
    },
    logger,
    // Called only once start() reads, after both caches exist; other resources have no cache.
    (resource, id, version) => {
      if (resource === 'product') products.changedElsewhere(id, version);
      else if (resource === 'user') users.changedElsewhere(id, version);
    },
  );
  const products = new CachedRepository(productRows, 'product', config.cache.near, changes, metrics, shared);
  const users = new CachedRepository(userRows, 'user', config.cache.near, changes, metrics, shared);
  metrics.trackFeed(() => changes.heardUntil());
  await Promise.all([changes.start(), redis?.connected()]);
  return { metrics, redis, changes, products, users };
}
