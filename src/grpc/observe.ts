import { randomUUID } from 'node:crypto';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { REQUEST_ID } from '../http/schemas.js';
import { parseTraceparent, untracedFields } from '../logger.js';

/** Statuses that say the server failed, which mark a span as an error (OpenTelemetry RPC conventions). */
const SERVER_FAULTS = new Set([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);
const HEADERS = {
  get: (headers: Headers, key: string) => headers.get(key) ?? undefined,
  keys: (headers: Headers) => [...headers.keys()],
};

/** A caller's sampled flag decides; without one, a share `ratio` of calls is traced. */
function traced(traceparent: string | null, ratio: number): boolean {
  return parseTraceparent(traceparent)?.sampled ?? Math.random() < ratio;
}

/**
 * For native gRPC, which no Fastify hook sees: a server span per traced call (continuing the
 * caller's trace context; the handler's pg spans beneath it), one log line per call (request
 * id, trace id) and the calls counted per service, method and status code on /metrics.
 */
export function observeCalls(logger: Logger, registry: Registry, traceRatio: number): Interceptor {
  const tracer = trace.getTracer('product-user-service/grpc-server');
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
    const rpc = `${request.service.typeName}/${request.method.name}`;
    const traceparent = request.header.get('traceparent');
    const parent = propagation.extract(ROOT_CONTEXT, request.header, HEADERS);
    const span = traced(traceparent, traceRatio)
      ? tracer.startSpan(
          rpc,
          {
            kind: SpanKind.SERVER,
            attributes: {
              'rpc.system': 'grpc',
              'rpc.service': request.service.typeName,
              'rpc.method': request.method.name,
            },
          },
          parent,
        )
      : undefined;
    const done = (code: Code | undefined) => {
      const seconds = (performance.now() - started) / 1000;
      const name = code === undefined ? 'OK' : Code[code];
      const labels = { grpc_service: request.service.typeName, grpc_method: request.method.name, grpc_code: name };
      calls.inc(labels);
      duration.observe(labels, seconds);
      const ids = span?.spanContext();
      if (span !== undefined) {
        span.setAttribute('rpc.grpc.status_code', code ?? 0);
        if (code !== undefined && SERVER_FAULTS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
      logger.info(
        {
          request_id: requestId,
          rpc: `/${rpc}`,
          code: name,
          duration_ms: Math.round(seconds * 100_000) / 100,
          ...(ids === undefined
            ? untracedFields(traceparent ?? undefined)
            : { trace_id: ids.traceId, span_id: ids.spanId, trace_flags: '01' }),
        },
        'call completed',
      );
    };
    try {
      const response =
        span === undefined ? await next(request) : await context.with(trace.setSpan(parent, span), () => next(request));
      done(undefined);
      return response;
    } catch (err) {
      done(ConnectError.from(err).code);
      throw err;
    }
  };
}
