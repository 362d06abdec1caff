import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import underPressure from '@fastify/under-pressure';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { accessLogger } from '../logger.js';
import type { IdempotencyStore } from '../services/idempotency.js';
import type { ProductService } from '../services/product-service.js';
import type { UserService } from '../services/user-service.js';
import type { Authenticator } from './auth.js';
import { createErrorHandler, HttpProblem, notFoundHandler } from './error-handler.js';
import { healthRoutes, type Readiness } from './health.js';
import { HttpMetrics, metricsRoutes, UNMATCHED_ROUTE, type PoolStats } from './metrics.js';
import { openApiOptions } from './openapi.js';
import { CursorCodec } from './pagination.js';
import {
  ProductCreate,
  ProductListQuery,
  ProductPage,
  ProductPatch,
  ProductReplace,
  ProductResponse,
  presentProduct,
  productSortValuePatterns,
} from './product-schemas.js';
import { RateLimiter, rateLimitHook } from './rate-limit.js';
import { DeferredChildLogger } from './request-logger.js';
import { resourceRoutes } from './resource-routes.js';
import { API_SECURITY, DOCS_SECURITY, securityHeaders } from './security-headers.js';
import {
  presentUser,
  UserCreate,
  UserListQuery,
  UserPage,
  UserPatch,
  UserReplace,
  UserResponse,
  userSortValuePatterns,
} from './user-schemas.js';
import { serializerCompiler, validatorCompiler } from './validation.js';

export interface AppDependencies {
  readonly logger: Logger;
  readonly products: ProductService;
  readonly users: UserService;
  readonly readiness: Readiness;
  readonly authenticator: Authenticator;
  readonly idempotency: IdempotencyStore;
  /** Read at scrape time for the pool gauges on /metrics. */
  readonly poolStats?: () => PoolStats;
  /** How /metrics collects: by default this app's registry; cluster workers add up all workers'. */
  readonly scrape?: (local: Registry) => () => Promise<string>;
  readonly settings: {
    readonly bodyLimitBytes: number;
    /** Key for the cursor HMAC; the same on every replica so cursors work across them. */
    readonly cursorSecret: string;
    readonly requireIfMatch: boolean;
    /** Origins allowed by CORS; none by default. */
    readonly corsOrigins: readonly string[];
    readonly rateLimit: { readonly max: number; readonly windowMs: number };
    /** Proxy addresses/CIDRs whose X-Forwarded-For is believed (never `true`: it can be forged). */
    readonly trustProxy: readonly string[];
    /** Past these, API requests are refused with 503 instead of queueing (0 = no limit). */
    readonly shedding: { readonly maxEventLoopDelayMs: number; readonly maxHeapUsedBytes: number };
  };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MERGE_PATCH = 'application/merge-patch+json';
/** Where Swagger UI is served, and the URLs under it (not "/docsearch"). */
const DOCS_PREFIX = '/docs';
const DOCS_URL = /^\/docs(?:[/?]|$)/;
/** Probes, scrapes and the API description are never refused for load. */
const NEVER_SHED_PATHS = new Set(['/healthz', '/livez', '/readyz', '/metrics', '/openapi.json']);

/** The caller's X-Request-ID when it is safe to echo and log, otherwise a fresh UUID. */
function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** How often load shedding samples event-loop delay and heap use. */
const SHEDDING_SAMPLE_MS = 100;

/**
 * Resolves true once load shedding would let a request through, or false after `timeoutMs`.
 * main.ts waits for it before listening. A fresh process's first event-loop sample covers
 * its own start-up (compiling routes and schemas blocks the loop for a second or more), and
 * it is taken only after the start-up: a port opened at once shed its first requests with
 * 503 (20 and 38 of them in two of three starts with two workers), and so did one opened
 * as soon as a check passed (that check read the value from before the late sample). So:
 * two sample periods for that sample to be taken and replaced, then until one says the
 * loop is free.
 */
export async function untilNotShedding(
  isUnderPressure: () => boolean,
  timeoutMs: number,
  sampleMs = SHEDDING_SAMPLE_MS,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  await new Promise((resolve) => setTimeout(resolve, 2 * sampleMs));
  while (isUnderPressure()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, sampleMs / 5));
  }
  return true;
}

/** Builds the HTTP application without listening; main.ts listens, tests inject. */
export async function buildApp(deps: AppDependencies) {
  const { settings } = deps;
  // Typed as Fastify's base logger: request.log is a DeferredChildLogger, not a pino Logger.
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance,
    childLoggerFactory: (logger, bindings, options) => new DeferredChildLogger(logger, bindings, options),
    genReqId: requestId,
    // Fastify's own per-request lines are off: the onResponse hook below writes one richer line.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    bodyLimit: settings.bodyLimitBytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    trustProxy: settings.trustProxy.length > 0 ? [...settings.trustProxy] : false,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(createErrorHandler(settings.bodyLimitBytes));
  app.setNotFoundHandler(notFoundHandler);
  app.decorateRequest('principal', null);

  // JSON only: without the text/plain parser such bodies are refused with 415.
  app.removeContentTypeParser('text/plain');
  // A merge patch only means something on PATCH; refused in the parser rather than by a
  // hook, which every request (bodyless GETs included) would run.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser(MERGE_PATCH, { parseAs: 'string' }, (request, body, done) => {
    if (request.method === 'PATCH') {
      // parseAs 'string': the body is a string (the type allows a Buffer); the parser calls done.
      void parseJson(request, String(body), done);
      return;
    }
    done(
      new HttpProblem(
        415,
        'unsupported-media-type',
        'Unsupported media type',
        `${MERGE_PATCH} is accepted on PATCH only; send application/json`,
      ),
      undefined,
    );
  });

  // Helmet's protective headers on every response: the page set for Swagger UI, the API set
  // for everything else (security-headers.ts).
  const apiSecurity = securityHeaders(API_SECURITY);
  const docsSecurity = securityHeaders(DOCS_SECURITY);
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(DOCS_URL.test(request.url) ? docsSecurity : apiSecurity);
    reply.header('x-request-id', request.id);
    done();
  });
  // One log line and one metrics observation per request, both labelled with the route
  // *pattern* (never the raw URL) so that they group by endpoint with bounded cardinality.
  const metrics = new HttpMetrics(deps.poolStats, deps.scrape);
  const logAccess = accessLogger(deps.logger);
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    const elapsedMs = reply.elapsedTime;
    metrics.observe(request.method, route, reply.statusCode, elapsedMs / 1000);
    logAccess({
      request_id: request.id,
      method: request.method,
      route,
      url: request.url,
      status: reply.statusCode,
      duration_ms: Math.round(elapsedMs * 100) / 100,
    });
    done();
  });

  // Load shedding: an overloaded process answers 503 at once rather than letting latency
  // grow without bound. Probes and scrapes still answer (liveness must stay 200: restarting
  // an overloaded pod makes things worse); /readyz reports the overload so traffic moves away.
  await app.register(underPressure, {
    maxEventLoopDelay: settings.shedding.maxEventLoopDelayMs,
    maxHeapUsedBytes: settings.shedding.maxHeapUsedBytes,
    sampleInterval: SHEDDING_SAMPLE_MS,
    pressureHandler: (request, _reply, type) => {
      if (NEVER_SHED_PATHS.has(request.url.split('?')[0] ?? '')) return;
      request.log.warn({ pressure: type }, 'shedding load');
      throw new HttpProblem(503, 'overloaded', 'Service overloaded', 'The service is shedding load; retry shortly', {
        'retry-after': '2',
      });
    },
  });
  // Without allowed origins there is nothing for CORS to do: no hook runs per request, and a
  // preflight finds no route (404), as with the plugin and `origin: false`.
  if (settings.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: [...settings.corsOrigins],
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: [
        'Authorization',
        'Content-Type',
        'If-Match',
        'If-None-Match',
        'Idempotency-Key',
        'X-Request-ID',
        'traceparent',
      ],
      exposedHeaders: [
        'ETag',
        'Location',
        'Link',
        'X-Request-ID',
        'Retry-After',
        'Idempotent-Replayed',
        'RateLimit-Limit',
        'RateLimit-Remaining',
        'RateLimit-Reset',
      ],
      maxAge: 600,
    });
  }
  await app.register(swagger, openApiOptions);
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
  app.get(
    '/openapi.json',
    { schema: { tags: ['operations'], summary: 'This OpenAPI 3.1 document', operationId: 'openapi', security: [] } },
    () => app.swagger(),
  );

  await app.register(healthRoutes(deps.readiness, () => app.isUnderPressure()));
  await app.register(metricsRoutes(metrics));

  const routeSettings = {
    cursors: new CursorCodec(settings.cursorSecret),
    requireIfMatch: settings.requireIfMatch,
    authenticator: deps.authenticator,
    idempotency: deps.idempotency,
  };
  // Counted per replica, in memory (see README); only the API is limited, never probes,
  // scrapes or the API description.
  const rateLimiter = new RateLimiter(settings.rateLimit);
  await app.register(
    async (api) => {
      api.addHook('preHandler', rateLimitHook(rateLimiter));
      await api.register(
        resourceRoutes(
          {
            path: '/products',
            tag: 'products',
            service: deps.products,
            schemas: {
              create: ProductCreate,
              replace: ProductReplace,
              patch: ProductPatch,
              list: ProductListQuery,
              item: ProductResponse,
              page: ProductPage,
            },
            present: presentProduct,
            sortValuePatterns: productSortValuePatterns,
            scopes: { read: 'products:read', write: 'products:write' },
          },
          routeSettings,
        ),
      );
      await api.register(
        resourceRoutes(
          {
            path: '/users',
            tag: 'users',
            service: deps.users,
            schemas: {
              create: UserCreate,
              replace: UserReplace,
              patch: UserPatch,
              list: UserListQuery,
              item: UserResponse,
              page: UserPage,
            },
            present: presentUser,
            sortValuePatterns: userSortValuePatterns,
            scopes: { read: 'users:read', write: 'users:write' },
          },
          routeSettings,
        ),
      );
    },
    { prefix: '/api/v1' },
  );

  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
