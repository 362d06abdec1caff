import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { hasScope, insufficientScope, type Authenticator, type Principal, type Scope } from './auth.js';
import { rateLimitHook, type RateLimiter, type RateLimitHook } from './rate-limit.js';

export const API_PREFIX = '/api/v1';

/**
 * Guards everything under /api/v1, in one place: each route registered there, by whatever
 * plugin, gets authentication and its scope check first, then rate limiting by the verified
 * subject, both in one onRequest hook: a caller without the right token learns nothing about
 * bodies, validation rules or whether an id exists, and a caller over its limit is refused
 * before its body is read. A route there without a scope in its config is refused at
 * start-up. Call before registering the API's routes.
 */
export function guardApi(app: FastifyInstance, authenticator: Authenticator, limiter: RateLimiter): void {
  const rateLimit = rateLimitHook(limiter);
  app.addHook('onRoute', (route) => {
    if (route.url !== API_PREFIX && !route.url.startsWith(`${API_PREFIX}/`)) return;
    const scope = route.config?.scope;
    if (scope === undefined)
      throw new Error(`${String(route.method)} ${route.url} is under ${API_PREFIX} but has no scope`);
    route.onRequest = [guard(authenticator, scope, rateLimit), ...asArray(route.onRequest)];
  });
}

/**
 * Callback style: a remembered token is admitted without a promise (auth.ts). One hook rather
 * than two, as every hook stage a request goes through costs it a runner of its own.
 */
function guard(authenticator: Authenticator, scope: Scope, rateLimit: RateLimitHook): onRequestHookHandler {
  return (request, reply, done) => {
    const admit = (principal: Principal): void => {
      if (!hasScope(principal, scope)) return done(insufficientScope(scope));
      request.principal = principal;
      rateLimit(request, reply, done);
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
