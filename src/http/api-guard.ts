import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { hasScope, insufficientScope, type Authenticator, type Principal, type Scope } from './auth.js';
import { rateLimitHook, type RateLimiter } from './rate-limit.js';

export const API_PREFIX = '/api/v1';

/**
 * Guards everything under /api/v1, in one place: each route registered there, by whatever
 * plugin, gets authentication and its scope check first (onRequest, so a caller without the
 * right token learns nothing about bodies, validation rules or whether an id exists), then
 * rate limiting by the verified subject (preHandler). A route there without a scope in its
 * config is refused at start-up. Call before registering the API's routes.
 */
export function guardApi(app: FastifyInstance, authenticator: Authenticator, limiter: RateLimiter): void {
  const rateLimit = rateLimitHook(limiter);
  app.addHook('onRoute', (route) => {
    if (route.url !== API_PREFIX && !route.url.startsWith(`${API_PREFIX}/`)) return;
    const scope = route.config?.scope;
    if (scope === undefined)
      throw new Error(`${String(route.method)} ${route.url} is under ${API_PREFIX} but has no scope`);
    route.onRequest = [authenticate(authenticator, scope), ...asArray(route.onRequest)];
    route.preHandler = [rateLimit, ...asArray(route.preHandler)];
  });
}

/** Callback style: a remembered token is admitted without a promise (auth.ts). */
function authenticate(authenticator: Authenticator, scope: Scope): onRequestHookHandler {
  return (request, _reply, done) => {
    const admit = (principal: Principal): void => {
      if (!hasScope(principal, scope)) return done(insufficientScope(scope));
      request.principal = principal;
      done();
    };
    const recalled = authenticator.recall(request.headers.authorization);
    if (recalled !== undefined) admit(recalled);
    else authenticator.authenticate(request.headers.authorization).then(admit, done);
  };
}

function asArray<T>(hooks: T | T[] | undefined): T[] {
  if (hooks === undefined) return [];
  return Array.isArray(hooks) ? hooks : [hooks];
}
