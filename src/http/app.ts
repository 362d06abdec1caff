import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { accessLogger, redactUrl, untracedFields, type UntracedFields } from '../logger.js';
import type { ProductService } from '../services/product-service.js';
import type { UserService } from '../services/user-service.js';
import type { EventFeed } from '../services/event-feed.js';
import { API_PREFIX, guardApi } from './api-guard.js';
import type { Authenticator } from './auth.js';
import { corsOptions } from './cors.js';
import {
  createClientErrorHandler,
  createErrorHandler,
  createFrameworkErrorHandler,
  notFoundHandler,
} from './error-handler.js';
import { healthRoutes, type Readiness } from './health.js';
import { registerLoadShedding, type SheddingLimits } from './load-shedding.js';
import { HttpMetrics, metricsRoutes, UNMATCHED_ROUTE, type PoolStats } from './metrics.js';
import { openApiOptions } from './openapi.js';
import { CursorCodec } from './pagination.js';
import { eventRoutes } from './event-routes.js';
import { productRoutes } from './product-routes.js';
import { RateLimiter, type RateLimitSettings } from './rate-limit.js';
import { DeferredChildLogger } from './request-logger.js';
import { API_SECURITY, DOCS_SECURITY, securityHeaders } from './security-headers.js';
import { ID_LENGTH, REQUEST_ID } from './schemas.js';
import { parseQuery, registerBodyParsers } from './text-input.js';
import { userRoutes } from './user-routes.js';
import { serializerCompiler, validatorCompiler } from './validation.js';

/** The HTTP slice of the configuration (config.ts). */
export interface HttpSettings {
  readonly bodyLimitBytes: number;
  /** A client still sending its headers, or its whole request, after these gets 408. */
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Key for the cursor HMAC; the same on every replica so cursors work across them. */
  readonly cursorSecret: string;
  /** REQUIRE_IF_MATCH: writes to an existing resource must say which version they change. */
  readonly requireIfMatch: boolean;
  /** Origins allowed by CORS; none by default. */
  readonly corsOrigins: readonly string[];
  /** Per caller and per replica, in memory (rate-limit.ts). */
  readonly rateLimit: RateLimitSettings;
  /** Proxy addresses/CIDRs whose X-Forwarded-For is believed (never `true`: it can be forged). */
  readonly trustProxy: readonly string[];
  readonly shedding: SheddingLimits;
}

export interface AppDependencies {
  readonly logger: Logger;
  readonly products: ProductService;
  readonly users: UserService;
  readonly events: EventFeed;
  readonly authenticator: Authenticator;
  readonly readiness: Readiness;
  /** Read at scrape time for the pool gauges on /metrics. */
  readonly poolStats?: () => PoolStats;
  /** How /metrics collects: by default this app's registry; cluster workers add up all workers'. */
  readonly scrape?: ((local: Registry) => () => Promise<string>) | undefined;
  readonly settings: HttpSettings;
}

/** Where Swagger UI is served, and the URLs under it (not "/docsearch"). */
const DOCS_PREFIX = '/docs';
const DOCS_URL = /^\/docs(?:[/?]|$)/;

/** The caller's X-Request-ID when it is safe to echo and log, otherwise a fresh UUID. */
function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Builds the HTTP application without listening: main.ts listens, tests inject. */
export async function buildApp(deps: AppDependencies) {
  const { settings } = deps;
  // Typed as Fastify's base logger: request.log is a DeferredChildLogger, not a pino Logger.
  const loggerInstance: FastifyBaseLogger = deps.logger;
  // Helmet's protective headers on every response: the page set for Swagger UI, the API set
  // for everything else (security-headers.ts).
  const apiSecurity = securityHeaders(API_SECURITY);
  const docsSecurity = securityHeaders(DOCS_SECURITY);
  // One log line and one metrics observation per request, both labelled with the route
  // *pattern* (never the raw URL) so that they group by endpoint with bounded cardinality.
  const metrics = new HttpMetrics(deps.poolStats, deps.scrape);
  const logAccess = accessLogger(deps.logger);
  const recordResponse = (request: FastifyRequest, reply: FastifyReply): void => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    const elapsedMs = reply.elapsedTime;
    metrics.observe(request.method, route, reply.statusCode, elapsedMs / 1000);
    logAccess({
      request_id: request.id,
      method: request.method,
      route,
      url: redactUrl(request.url),
      status: reply.statusCode,
      duration_ms: Math.round(elapsedMs * 100) / 100,
      ...request.untraced,
    });
  };
  const frameworkErrors = createFrameworkErrorHandler(apiSecurity);
  const app = Fastify({
    loggerInstance,
    childLoggerFactory: (logger, bindings, options) => new DeferredChildLogger(logger, bindings, options),
    genReqId: requestId,
    // Fastify's own per-request lines are off: the onResponse hook below writes one richer line.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    bodyLimit: settings.bodyLimitBytes,
    // A path id longer than a UUID is refused by the router, before any route work (414).
    routerOptions: { maxParamLength: ID_LENGTH, querystringParser: parseQuery },
    // Refused before routing, where no hook runs: answered, then logged and counted here.
    frameworkErrors: (error, request, reply) => {
      frameworkErrors(error, request, reply);
      recordResponse(request, reply);
    },
    clientErrorHandler: createClientErrorHandler(apiSecurity, deps.logger),
    requestTimeout: settings.requestTimeoutMs,
    // Node checks the two timeouts on this interval (30 s by default), so it bounds how late a 408 comes.
    http: { headersTimeout: settings.headersTimeoutMs, connectionsCheckingInterval: 1000 },
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
  app.decorateRequest('untraced', undefined);

  // JSON only (text-input.ts): without the text/plain parser such bodies are refused with 415.
  registerBodyParsers(app);

  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(DOCS_URL.test(request.url) ? docsSecurity : apiSecurity);
    reply.header('x-request-id', request.id);
    const untraced = untracedFields(request.headers.traceparent);
    if (untraced !== undefined) {
      request.untraced = untraced;
      if (request.log instanceof DeferredChildLogger) request.log.bind(untraced);
    }
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    recordResponse(request, reply);
    done();
  });

  registerLoadShedding(app, settings.shedding);
  // Without allowed origins there is nothing for CORS to do: no hook runs per request, and a
  // preflight finds no route (404), as with the plugin and `origin: false`.
  if (settings.corsOrigins.length > 0) await app.register(cors, corsOptions(settings.corsOrigins));
  await app.register(swagger, openApiOptions);
  await app.register(swaggerUi, { routePrefix: DOCS_PREFIX });
  const openApiSchema = { tags: ['operations'], summary: 'This OpenAPI 3.1 document', operationId: 'openapi' };
  app.get('/openapi.json', { schema: { ...openApiSchema, security: [] } }, () => app.swagger());
  await app.register(healthRoutes(deps.readiness, () => app.isUnderPressure()));
  await app.register(metricsRoutes(metrics));

  // Every route under /api/v1, these and any added later, is authenticated, scoped and rate limited.
  const limiter = new RateLimiter(settings.rateLimit);
  guardApi(app, deps.authenticator, limiter);
  // For the RPC transport (compose.ts): the same buckets per caller, the same /metrics.
  app.decorate('rateLimiter', limiter);
  app.decorate('metricsRegistry', metrics.registry);
  const cursors = new CursorCodec(settings.cursorSecret);
  const routeOptions = { cursors, requireIfMatch: settings.requireIfMatch };
  await app.register(productRoutes(deps.products, routeOptions), { prefix: API_PREFIX });
  await app.register(userRoutes(deps.users, routeOptions), { prefix: API_PREFIX });
  await app.register(eventRoutes(deps.events, cursors), { prefix: API_PREFIX });
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;

declare module 'fastify' {
  interface FastifyRequest {
    /** The trace fields of a request without a span, for its log lines (logger.ts). */
    untraced: UntracedFields | undefined;
  }
  interface FastifyInstance {
    /** Requests per caller and window, shared with the RPC transport. */
    rateLimiter: RateLimiter;
    /** What GET /metrics answers from; the RPC transport records its calls here too. */
    metricsRegistry: Registry;
  }
}
