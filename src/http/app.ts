import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { ProductService } from '../services/product-service.js';
import type { UserService } from '../services/user-service.js';
import { createErrorHandler, HttpProblem, notFoundHandler } from './error-handler.js';
import { healthRoutes, type Readiness } from './health.js';
import { HttpMetrics, metricsRoutes, UNMATCHED_ROUTE, type PoolStats } from './metrics.js';
import { CursorCodec } from './pagination.js';
import { ProductCreate, ProductListQuery, ProductPage, ProductPatch, ProductReplace, ProductResponse, presentProduct, productSortValuePatterns } from './product-schemas.js';
import { resourceRoutes } from './resource-routes.js';
import { presentUser, UserCreate, UserListQuery, UserPage, UserPatch, UserReplace, UserResponse, userSortValuePatterns } from './user-schemas.js';
import { serializerCompiler, validatorCompiler } from './validation.js';

export interface AppDependencies {
  readonly logger: Logger;
  readonly products: ProductService;
  readonly users: UserService;
  readonly readiness: Readiness;
  /** Read at scrape time for the pool gauges on /metrics. */
  readonly poolStats?: () => PoolStats;
  readonly settings: {
    readonly bodyLimitBytes: number;
    /** Key for the cursor HMAC; the same on every replica so cursors work across them. */
    readonly cursorSecret: string;
    readonly requireIfMatch: boolean;
  };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MERGE_PATCH = 'application/merge-patch+json';

/** The caller's X-Request-ID when it is safe to echo and log, otherwise a fresh UUID. */
function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

function isMergePatch(request: FastifyRequest): boolean {
  return request.headers['content-type']?.toLowerCase().startsWith(MERGE_PATCH) ?? false;
}

/** Builds the HTTP application without listening; main.ts listens, tests inject. */
export async function buildApp(deps: AppDependencies) {
  const app = Fastify({
    loggerInstance: deps.logger,
    genReqId: requestId,
    requestIdLogLabel: 'request_id',
    disableRequestLogging: true,
    bodyLimit: deps.settings.bodyLimitBytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(createErrorHandler(deps.settings.bodyLimitBytes));
  app.setNotFoundHandler(notFoundHandler);

  // JSON only: without the text/plain parser such bodies are refused with 415.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(MERGE_PATCH, { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.method !== 'PATCH' && isMergePatch(request)) {
      done(new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', `${MERGE_PATCH} is accepted on PATCH only; send application/json`));
      return;
    }
    done();
  });
  // One log line and one metrics observation per request, both labelled with the route
  // *pattern* (never the raw URL) so that they group by endpoint with bounded cardinality.
  const metrics = new HttpMetrics(deps.poolStats);
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    const elapsedMs = reply.elapsedTime;
    metrics.observe(request.method, route, reply.statusCode, elapsedMs / 1000);
    request.log.info(
      { method: request.method, route, url: request.url, status: reply.statusCode, duration_ms: Math.round(elapsedMs * 100) / 100 },
      'request completed',
    );
    done();
  });

  await app.register(healthRoutes(deps.readiness));
  await app.register(metricsRoutes(metrics));

  const routeSettings = { cursors: new CursorCodec(deps.settings.cursorSecret), requireIfMatch: deps.settings.requireIfMatch };
  await app.register(
    async (api) => {
      await api.register(
        resourceRoutes(
          {
            path: '/products',
            service: deps.products,
            schemas: { create: ProductCreate, replace: ProductReplace, patch: ProductPatch, list: ProductListQuery, item: ProductResponse, page: ProductPage },
            present: presentProduct,
            sortValuePatterns: productSortValuePatterns,
          },
          routeSettings,
        ),
      );
      await api.register(
        resourceRoutes(
          {
            path: '/users',
            service: deps.users,
            schemas: { create: UserCreate, replace: UserReplace, patch: UserPatch, list: UserListQuery, item: UserResponse, page: UserPage },
            present: presentUser,
            sortValuePatterns: userSortValuePatterns,
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
