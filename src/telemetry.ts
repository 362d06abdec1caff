/**
 * OpenTelemetry, preloaded before the application: `node --import ./dist/telemetry.js dist/main.js`.
 * Nothing imports this file; main.ts flushes the tracer provider through the public API on
 * shutdown. Configuration is the standard OTEL_* environment only (OTEL_SDK_DISABLED,
 * OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME, …), which is why
 * this file, and not config.ts, looks at those variables.
 */
import type { Context } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';
import type { EventEmitter as Emitter } from 'node:events';

// No ES module loader hook (`@opentelemetry/instrumentation/hook.mjs`): it runs in a thread
// of its own with its own V8 isolate, 32 MiB of RSS. The instrumentations used here do not
// need it: http and pg are patched in place when first required, and Fastify announces
// itself on a diagnostics channel; log lines get their trace ids from logger.ts's mixin.

// NodeSDK turns OTLP metrics and logs exporters on when these are unset; this service
// exposes metrics to Prometheus and logs to stdout, and the idle exporters slowed
// shutdown by seconds.
process.env.OTEL_METRICS_EXPORTER ??= 'none';
process.env.OTEL_LOGS_EXPORTER ??= 'none';
process.env.OTEL_SERVICE_NAME ??= 'product-user-service';
// Trace one request in ten unless the caller's traceparent decides: exporting every span
// cost ~25 µs of CPU per request in the benchmark, and a 10 % sample still shows every
// route's behaviour. OTEL_TRACES_SAMPLER / _ARG override it.
process.env.OTEL_TRACES_SAMPLER ??= 'parentbased_traceidratio';
process.env.OTEL_TRACES_SAMPLER_ARG ??= '0.1';
// With no collector named, export nothing rather than retrying against localhost:4318 (the
// OTLP default), which on a laptop or in CI is usually not there. Naming an endpoint, or an
// exporter explicitly, turns tracing on.
if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT === undefined && process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT === undefined) {
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
const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
const { PgInstrumentation } = await import('@opentelemetry/instrumentation-pg');
const { context } = await import('@opentelemetry/api');
const { getRPCMetadata, isTracingSuppressed, RPCType } = await import('@opentelemetry/core');
const { subscribe } = await import('node:diagnostics_channel');
const { AlwaysOnSampler, ParentBasedSampler } = await import('@opentelemetry/sdk-trace-base');
const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
const { EventEmitter } = await import('node:events');
const { IncomingMessage, ServerResponse } = await import('node:http');
const { parentBasedRatioSampler, samplingRatio } = await import('./head-sampling.js');

// With the parent-based ratio sampler (the default), the decision is taken at the door, by
// the same rule, before the instrumentations run: a request that will not be traced is then
// skipped by the HTTP instrumentation (no attributes, listeners or non-recording spans: ~25 µs
// of CPU per request), and the SDK samples every request that got through.
// Requests skipped that way have no trace_id in their log line; request_id still ties it
// to the request. Any other OTEL_TRACES_SAMPLER is left to the SDK as configured.
const headSampler =
  process.env.OTEL_TRACES_SAMPLER === 'parentbased_traceidratio' ? parentBasedRatioSampler(samplingRatio(process.env.OTEL_TRACES_SAMPLER_ARG)) : undefined;

// Probes and scrapes arrive every few seconds from every kubelet and Prometheus: tracing
// them would drown the traces people look for.
const UNTRACED = new Set(['/healthz', '/livez', '/readyz', '/metrics']);

/**
 * Binding an emitter to a context patches its listener methods and wraps every listener
 * added later: for an HTTP request and response, a dozen closures per request, and own
 * properties that give a traced request's two objects hidden classes of their own, so that
 * Node's HTTP and stream code, shared by every request, meets two shapes of each where it
 * met one. The server's request and response are therefore never bound. Nothing here needs
 * them to be: Fastify runs a bodyless request's handler inside the 'request' event and
 * resumes after a body in the request's async context (an AsyncResource of its own, for a
 * body that arrives after the headers too), and a response's 'finish' and 'close' are
 * emitted on ticks scheduled inside that context. test/process/tracing.test.ts checks the
 * route on the span, the query in the trace and the trace id on the log line, for a GET, a
 * POST, and a POST whose body comes 100 ms after its headers. The one listener left outside
 * is the 'close' of a request its client gave up on, which is why the route is put on the
 * span when it is known (below). Measured, W1 at the default 10 %: ~5 µs of CPU per request
 * fewer with two workers, 7–12 µs in one process (README, "What the profile said").
 * Other emitters are bound as usual, unless tracing is suppressed: then nothing in them needs
 * a context carried into listeners.
 */
class ServerExchangeContextManager extends AsyncLocalStorageContextManager {
  override bind<T>(ctx: Context, target: T): T {
    if (target instanceof EventEmitter && (isServerExchange(target) || isTracingSuppressed(ctx))) return target;
    return super.bind(ctx, target);
  }
}

/** A request the HTTP server received (only those have a method), or its response. */
function isServerExchange(emitter: Emitter): boolean {
  return emitter instanceof ServerResponse || (emitter instanceof IncomingMessage && typeof emitter.method === 'string');
}

const sdk = new NodeSDK({
  contextManager: new ServerExchangeContextManager(),
  ...(headSampler === undefined ? {} : { sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }) }),
  instrumentations: [
    new HttpInstrumentation({
      // Ignored requests run with tracing suppressed: no span, no RPC metadata, and pg's
      // instrumentation (which requires a parent span) stays out of their queries.
      ignoreIncomingRequestHook: (request) =>
        UNTRACED.has((request.url ?? '').split('?')[0] ?? '') || (headSampler !== undefined && !headSampler.shouldTrace(request.headers.traceparent)),
    }),
    // Only queries made while serving a traced request: pool housekeeping is noise, and so is
    // a span per connection checkout (a wait for the pool still shows as the gap before the
    // query span); each exported span costs CPU to serialise.
    new PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
  ],
});
sdk.start();

// One server span per request, named after its route ("GET /api/v1/products/:id", with
// http.route), by a hook on each Fastify instance (announced on this channel as it is built)
// as soon as the route is known: a span closed by a client that gave up keeps it too. The
// route also goes into the request's RPC metadata, where the HTTP instrumentation looks for
// it when the response closes. @fastify/otel did the same and added a second span per traced
// request (~20 µs of CPU each, every request traced) and three hooks to every request.
subscribe('fastify.initialization', (message) => {
  const { fastify } = message as { fastify: FastifyInstance };
  fastify.addHook('onRequest', (request, _reply, done) => {
    const rpc = getRPCMetadata(context.active());
    const route = request.routeOptions.url;
    if (rpc?.type === RPCType.HTTP && route !== undefined) {
      rpc.route = route;
      rpc.span.setAttribute('http.route', route).updateName(`${request.method} ${route}`);
    }
    done();
  });
});
}
