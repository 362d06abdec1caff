import { randomUUID } from 'node:crypto';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { RateLimiter } from '../http/rate-limit.js';
import { untracedFields } from '../logger.js';
import { callerOf } from './auth.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

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

/**
 * For native gRPC, which no Fastify hook sees: one log line per call (request id, trace id)
 * and the calls counted per service, method and status code, on the app's /metrics.
 */
export function observeCalls(logger: Logger, registry: Registry): Interceptor {
  const labelNames = ['grpc_service', 'grpc_method', 'grpc_code'] as const;
  const calls = new Counter({
    name: 'grpc_server_handled_total',
    help: 'gRPC calls answered on GRPC_PORT, by service, method and status code',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'grpc_server_handling_seconds',
    help: 'Time to answer a gRPC call on GRPC_PORT, by service, method and status code',
    labelNames,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return (next) => async (request) => {
    const started = performance.now();
    const given = request.header.get('x-request-id');
    const requestId = given !== null && REQUEST_ID.test(given) ? given : randomUUID();
    const done = (code: Code | undefined) => {
      const seconds = (performance.now() - started) / 1000;
      const labels = {
        grpc_service: request.service.typeName,
        grpc_method: request.method.name,
        grpc_code: code === undefined ? 'OK' : Code[code],
      };
      calls.inc(labels);
      duration.observe(labels, seconds);
      logger.info(
        {
          request_id: requestId,
          rpc: `/${request.service.typeName}/${request.method.name}`,
          code: code === undefined ? 'OK' : Code[code],
          duration_ms: Math.round(seconds * 100_000) / 100,
          ...untracedFields(request.header.get('traceparent') ?? undefined),
        },
        'call completed',
      );
    };
    try {
      const response = await next(request);
      done(undefined);
      return response;
    } catch (err) {
      done(ConnectError.from(err).code);
      throw err;
    }
  };
}
