/**
 * OpenTelemetry, preloaded before the application: `node --import ./dist/telemetry/preload.js dist/main.js`.
 * Nothing imports this file; main.ts flushes the tracer provider through the public API on
 * shutdown. Configuration is the standard OTEL_* environment only (OTEL_SDK_DISABLED,
 * OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME, …), which is why
 * this file, and not config.ts, looks at those variables.
 */
import type { Attributes } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';

// No ES module loader hook (`@opentelemetry/instrumentation/hook.mjs`): it runs in a thread
// of its own with its own V8 isolate, tens of MiB of RSS. The instrumentations used here do not
// need it: pg is patched in place when first required, Fastify announces itself on a
// diagnostics channel (server spans, below), and log lines get their trace ids from
// logger.ts's mixin.

// NodeSDK turns OTLP metrics and logs exporters on when these are unset; this service
// exposes metrics to Prometheus and logs to stdout, and the idle exporters slowed
// shutdown by seconds.
process.env.OTEL_METRICS_EXPORTER ??= 'none';
process.env.OTEL_LOGS_EXPORTER ??= 'none';
process.env.OTEL_SERVICE_NAME ??= 'product-user-service';
// Trace one request in ten unless the caller's traceparent decides: exporting every span
// costs more CPU than the rest of a read, and a tenth still shows every route's behaviour.
// OTEL_TRACES_SAMPLER / _ARG override it.
process.env.OTEL_TRACES_SAMPLER ??= 'parentbased_traceidratio';
process.env.OTEL_TRACES_SAMPLER_ARG ??= '0.1';
// With no collector named, export nothing rather than retrying against localhost:4318 (the
// OTLP default), which on a laptop or in CI is usually not there. Naming an endpoint, or an
// exporter explicitly, turns tracing on.
if (
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT === undefined &&
  process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT === undefined
) {
  process.env.OTEL_TRACES_EXPORTER ??= 'none';
}

// Instrumentations patch modules as soon as they are constructed, whatever the SDK decides:
// with the SDK disabled, construct none, so that "off" costs nothing per request.
if (process.env.OTEL_SDK_DISABLED === 'true') {
  // Nothing to set up.
} else {
  await start();
}

async function start(): Promise<void> {
  // Loaded after the environment defaults above: the SDK reads them when it is constructed.
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const { PgInstrumentation } = await import('@opentelemetry/instrumentation-pg');
  const { context, createContextKey, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } =
    await import('@opentelemetry/api');
  const { subscribe } = await import('node:diagnostics_channel');
  const { ParentBasedSampler, SamplingDecision } = await import('@opentelemetry/sdk-trace-base');
  const { parentBasedRatioSampler, samplingRatio, traceBudget, tracesPerSecond } = await import('./head-sampling.js');

  // With the parent-based ratio sampler (the default), the decision is taken at the door, by
  // the same rule, before anything else runs for the request: a request that will not be
  // traced gets no span, no context and no listener. Any other OTEL_TRACES_SAMPLER is left to
  // the SDK as configured: every request then gets a span, recording or not as the SDK decides.
  const headSampler =
    process.env.OTEL_TRACES_SAMPLER === 'parentbased_traceidratio'
      ? parentBasedRatioSampler(
          samplingRatio(process.env.OTEL_TRACES_SAMPLER_ARG),
          Math.random,
          traceBudget(tracesPerSecond(process.env.TRACES_PER_SECOND)),
        )
      : undefined;
  // Marks the context of a span the door has already decided to trace.
  const TRACED_AT_THE_DOOR = createContextKey('product-user-service: traced at the door');

  // Probes and scrapes arrive every few seconds from every kubelet and Prometheus: tracing
  // them would drown the traces people look for.
  const UNTRACED = new Set(['/healthz', '/livez', '/readyz', '/metrics']);

  const sdk = new NodeSDK({
    ...(headSampler === undefined
      ? {}
      : {
          sampler: new ParentBasedSampler({
            // A span without a parent: an HTTP request the door chose; a gRPC call, which
            // grpc/observe.ts leaves to this sampler, by the door's rule and with the same
            // ceiling; or background work (the relay's publish passes), always recorded.
            root: {
              shouldSample: (parent, _traceId, _name, kind) =>
                parent.getValue(TRACED_AT_THE_DOOR) === true || kind !== SpanKind.SERVER || headSampler.startsTrace()
                  ? { decision: SamplingDecision.RECORD_AND_SAMPLED }
                  : { decision: SamplingDecision.NOT_RECORD },
              toString: () => 'HeadSampler',
            },
          }),
        }),
    instrumentations: [
      // Only queries made while serving a traced request: pool housekeeping is noise, and so is
      // a span per connection checkout (a wait for the pool still shows as the gap before the
      // query span); each exported span costs CPU to serialise.
      new PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
    ],
  });
  sdk.start();

  /**
   * The server span of each traced request, made here rather than by
   * `@opentelemetry/instrumentation-http`. That instrumentation wraps the server's 'request'
   * event: even a request it was told to skip ran inside a context of its own, with tracing
   * suppressed, at a cost to every untraced request. Here an untraced request costs one
   * sampling decision.
   *
   * A Fastify hook, on each instance as it is built (announced on this channel), makes the span
   * once the route is known, with the attributes of the stable HTTP server conventions, and runs
   * the rest of the request inside its context: later hooks, body parsing (Fastify resumes after
   * a body in the request's own async context), the handler and its queries, and the log lines
   * written meanwhile. The span ends when the response closes, finished or abandoned by its
   * client. test/process/tracing.test.ts checks parentage, names, attributes and log lines.
   */
  const tracer = trace.getTracer('product-user-service/http-server');
  subscribe('fastify.initialization', (message) => {
    const { fastify } = message as { fastify: FastifyInstance };
    fastify.addHook('onRequest', (request, reply, done) => {
      const route = request.routeOptions.url;
      if (route !== undefined && UNTRACED.has(route)) {
        done();
        return;
      }
      const headers = request.headers;
      if (headSampler !== undefined && !headSampler.shouldTrace(headers.traceparent)) {
        done();
        return;
      }
      const parent = propagation.extract(ROOT_CONTEXT, headers);
      const span = tracer.startSpan(
        route === undefined ? request.method : `${request.method} ${route}`,
        { kind: SpanKind.SERVER, attributes: serverSpanAttributes(request, route) },
        headSampler === undefined ? parent : parent.setValue(TRACED_AT_THE_DOOR, true),
      );
      const response = reply.raw;
      response.once('close', () => {
        // Not finished: the client gave up before the whole response was written.
        if (response.writableFinished) {
          const status = response.statusCode;
          span.setAttribute('http.response.status_code', status);
          if (status >= 500) span.setAttribute('error.type', String(status)).setStatus({ code: SpanStatusCode.ERROR });
        } else {
          span.setAttribute('error.type', 'aborted');
        }
        span.end();
      });
      context.with(trace.setSpan(parent, span), done);
    });
  });
}

/**
 * The request's attributes by the stable HTTP server semantic conventions. Not `url.query`:
 * list filters carry e-mail addresses and names, which have no business in a trace store.
 */
function serverSpanAttributes(request: FastifyRequest, route: string | undefined): Attributes {
  const url = request.url;
  const query = url.indexOf('?');
  const attributes: Attributes = {
    'http.request.method': request.method,
    'url.scheme': request.protocol,
    'url.path': query < 0 ? url : url.slice(0, query),
    'server.address': request.hostname,
    'client.address': request.ip,
    'network.peer.address': request.socket.remoteAddress,
    'network.peer.port': request.socket.remotePort,
    'network.protocol.version': request.raw.httpVersion,
  };
  if (request.port !== null) attributes['server.port'] = request.port;
  const userAgent = request.headers['user-agent'];
  if (userAgent !== undefined) attributes['user_agent.original'] = userAgent;
  if (route !== undefined) attributes['http.route'] = route;
  return attributes;
}
