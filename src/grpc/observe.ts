import { randomUUID } from 'node:crypto';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import * as grpc from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { DURATION_BUCKETS } from '../http/metrics.js';
import { REQUEST_ID } from '../http/schemas.js';
import { untracedFields, withoutRedaction } from '../logger.js';

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

/** The request id a call's metadata gives, when it is safe to echo and log; otherwise a fresh one. */
function requestIdOf(given: string | null | undefined): string {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** What one finished call on GRPC_PORT leaves behind: a count, a duration and a log line. */
export class CallLog {
  readonly #logger: Logger;
  readonly #calls: Counter<'grpc_service' | 'grpc_method' | 'grpc_code'>;
  readonly #duration: Histogram<'grpc_service' | 'grpc_method' | 'grpc_code'>;

  constructor(logger: Logger, registry: Registry) {
    const labelNames = ['grpc_service', 'grpc_method', 'grpc_code'] as const;
    // Its fields are never credentials: the redactor would only cost (logger.ts).
    this.#logger = withoutRedaction(logger);
    this.#calls = new Counter({
      name: 'grpc_server_handled_total',
      help: 'gRPC calls answered on GRPC_PORT, by service, method and status code',
      labelNames,
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Time to answer a gRPC call on GRPC_PORT, by service, method and status code',
      labelNames,
      buckets: [...DURATION_BUCKETS],
      registers: [registry],
    });
  }

  /** `code` undefined is OK; `trace` holds the call's span ids, or the untraced fields. */
  record(
    call: { service: string; method: string; requestId: string; started: number },
    code: Code | undefined,
    trace: object | undefined,
  ): void {
    const seconds = (performance.now() - call.started) / 1000;
    const name = code === undefined ? 'OK' : Code[code];
    const labels = { grpc_service: call.service, grpc_method: call.method, grpc_code: name };
    this.#calls.inc(labels);
    this.#duration.observe(labels, seconds);
    this.#logger.info(
      {
        request_id: call.requestId,
        rpc: `/${call.service}/${call.method}`,
        code: name,
        duration_ms: Math.round(seconds * 100_000) / 100,
        ...trace,
      },
      'call completed',
    );
  }
}

/**
 * For native gRPC, which no Fastify hook sees: a server span per traced call (continuing the
 * caller's trace context; the handler's pg spans beneath it), one log line per call (request
 * id, trace id) and the calls counted per service, method and status code on /metrics.
 */
export function observeCalls(log: CallLog): Interceptor {
  const tracer = trace.getTracer('product-user-service/grpc-server');
  return (next) => async (request) => {
    const call = {
      service: request.service.typeName,
      method: request.method.name,
      requestId: requestIdOf(request.header.get('x-request-id')),
      started: performance.now(),
    };
    const traceparent = request.header.get('traceparent');
    const parent = propagation.extract(ROOT_CONTEXT, request.header, HEADERS);
    // The tracer provider's sampler decides, by the rule HTTP requests meet at the door (the
    // caller's sampled flag, else the ratio and the ceiling: telemetry/preload.ts). A call it
    // does not trace gets a span that records nothing, and no context.
    const started = tracer.startSpan(
      `${call.service}/${call.method}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'rpc.system': 'grpc', 'rpc.service': call.service, 'rpc.method': call.method },
      },
      parent,
    );
    const span = started.isRecording() ? started : undefined;
    const done = (code: Code | undefined) => {
      const ids = span?.spanContext();
      if (span !== undefined) {
        span.setAttribute('rpc.grpc.status_code', code ?? 0);
        if (code !== undefined && SERVER_FAULTS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
      log.record(
        call,
        code,
        ids === undefined
          ? untracedFields(traceparent ?? undefined)
          : { trace_id: ids.traceId, span_id: ids.spanId, trace_flags: '01' },
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

/**
 * The same count, duration and log line for server reflection, which @grpc/reflection serves
 * on the grpc-js server directly, past the Connect interceptors (a grpc-js server interceptor).
 * Reflection describes the API only, so its calls are not traced.
 */
export function observeReflection(log: CallLog): grpc.ServerInterceptor {
  return (definition, next) => {
    // Returned as it is, every other call keeps no wrapper: grpc-js chains interceptors over
    // the interface the call already implements, whatever the declared return type says.
    if (!definition.path.startsWith('/grpc.reflection.')) return next as grpc.ServerInterceptingCall;
    const [, service = '', method = ''] = definition.path.split('/');
    const started = performance.now();
    let metadata: grpc.Metadata | undefined;
    let recorded = false;
    const header = (key: string) => {
      const [value] = metadata?.get(key) ?? [];
      return typeof value === 'string' ? value : undefined;
    };
    const record = (code: Code | undefined) => {
      if (recorded) return;
      recorded = true;
      const requestId = requestIdOf(header('x-request-id'));
      log.record({ service, method, requestId, started }, code, untracedFields(header('traceparent')));
    };
    return new grpc.ServerInterceptingCall(next, {
      start: (start) =>
        start({
          onReceiveMetadata: (received, pass) => {
            metadata = received;
            pass(received);
          },
          onCancel: () => record(Code.Canceled),
        }),
      sendStatus: (status, send) => {
        // gRPC's codes and Connect's are the same numbers; Connect has no name for OK (0).
        const code: number = status.code;
        record(code === 0 ? undefined : code);
        send(status);
      },
    });
  };
}
