import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { RateLimiter } from '../http/rate-limit.js';
import { callerOf } from './auth.js';

/**
 * Per caller, the same buckets as REST (`sub:<subject>`): a caller's REST requests and calls
 * share one limit. RESOURCE_EXHAUSTED, with the seconds to wait, past it.
 */
export function limitCalls(limiter: RateLimiter): Interceptor {
  return (next) => (request) => {
    const decision = limiter.take(`sub:${callerOf({ values: request.contextValues })}`);
    if (!decision.allowed) {
      throw new ConnectError(
        `Rate limit of ${decision.limit} requests exceeded; retry after ${decision.resetSeconds} s`,
        Code.ResourceExhausted,
      );
    }
    return next(request);
  };
}

/** Load shedding as on REST: while the process is under pressure, UNAVAILABLE at once. */
export function shedCalls(isUnderPressure: () => boolean): Interceptor {
  return (next) => (request) => {
    if (isUnderPressure()) throw new ConnectError('The service is overloaded; retry shortly', Code.Unavailable);
    return next(request);
  };
}
