import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProductService } from '../../src/grpc/gen/productuser/v1/product_service_pb.js';
import { TEST_JWT_SECRET } from '../helpers/app.js';
import { startChildService } from '../helpers/child-service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from '../helpers/database-server.js';
import { productInput } from '../helpers/factories.js';
import { NatsServer, readStream } from '../helpers/nats-server.js';
import { bearer } from '../helpers/tokens.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string; intValue?: number | string } }[];
  links?: { traceId: string; spanId: string }[];
}
interface OtlpExport {
  resourceSpans: { scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[] }[];
}

let db: TestDatabase;
let receiver: Server;
let receiverUrl: string;
const received: (OtlpSpan & { scope: string })[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  // A real OTLP/HTTP (JSON) endpoint: the service exports exactly as it would to a collector.
  receiver = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const payload = JSON.parse(body) as OtlpExport;
      for (const resource of payload.resourceSpans) {
        for (const scope of resource.scopeSpans)
          received.push(...scope.spans.map((span) => ({ ...span, scope: scope.scope.name })));
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  receiverUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
});
afterAll(async () => {
  receiver.close();
  await db.drop();
});

const attribute = (span: OtlpSpan, key: string) => span.attributes.find((a) => a.key === key)?.value.stringValue;
const intAttribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value.intValue;
  return value === undefined ? undefined : Number(value);
};
/** The instrumentation scope of the server spans telemetry/preload.ts makes. */
const SERVER_SCOPE = 'product-user-service/http-server';

/** The service in a child process, exporting OTLP/HTTP JSON to the receiver above. */
async function startExporting(env: Record<string, string> = {}) {
  return startChildService({
    DATABASE_URL: db.url,
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    PORT: String(await freePort()),
    OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    ...env,
  });
}

/** The first value `read` gives that is not undefined, polling for up to 15 s. */
async function waitFor<T>(read: () => Promise<T | undefined>): Promise<T> {
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(50)) {
    const value = await read();
    if (value !== undefined) return value;
  }
  throw new Error('nothing arrived within 15 s');
}

/** Connects and sends a POST's request line and headers, and nothing of its body yet. */
async function startPost(
  url: string,
  path: string,
  headers: Record<string, string>,
  contentLength: number,
): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const head = [
    `POST ${path} HTTP/1.1`,
    `host: ${hostname}:${port}`,
    `content-length: ${contentLength}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.write(`${head.join('\r\n')}\r\n\r\n`);
  return socket;
}

/**
 * A POST whose body reaches the server 100 ms after its headers, in a segment of its own: its
 * 'data' and 'end' events then come from a read on the socket, outside the request's context.
 */
async function postBodyLater(
  url: string,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<number> {
  const socket = await startPost(url, path, { ...headers, connection: 'close' }, Buffer.byteLength(body));
  await sleep(100);
  socket.write(body);
  let reply = '';
  for await (const chunk of socket.setEncoding('utf8')) reply += chunk as string;
  return Number(reply.split(' ')[1]);
}

/** A POST whose client sends the start of its body, then gives up and closes the connection. */
async function abandonPost(url: string, path: string, headers: Record<string, string>): Promise<void> {
  const socket = await startPost(url, path, headers, 1000);
  socket.write('{"sku":');
  await sleep(100);
  socket.destroy();
}

describe('OpenTelemetry preload', () => {
  it('continues the caller’s traceparent: one trace has server and pg spans, the log line its id', async () => {
    const service = await startExporting();
    const traceId = randomBytes(16).toString('hex');
    const parentSpanId = randomBytes(8).toString('hex');
    const response = await fetch(`${service.url}/api/v1/products`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(await bearer()),
        traceparent: `00-${traceId}-${parentSpanId}-01`,
        'x-request-id': 'traced-1',
      },
      body: JSON.stringify(productInput()),
    });
    expect(response.status).toBe(201);
    await fetch(`${service.url}/healthz`);
    service.process.kill('SIGTERM');
    expect(await service.exited).toBe(0); // shutdown flushes the batch processor

    const trace = received.filter((span) => span.traceId === traceId);
    const server = trace.find((span) => span.scope === SERVER_SCOPE && span.kind === 2);
    expect(server?.parentSpanId).toBe(parentSpanId);
    // One server span, named after the route pattern, not the raw URL.
    expect(server?.name).toBe('POST /api/v1/products');
    expect(attribute(server as OtlpSpan, 'http.route')).toBe('/api/v1/products');
    // The stable HTTP server conventions.
    expect(attribute(server as OtlpSpan, 'http.request.method')).toBe('POST');
    expect(attribute(server as OtlpSpan, 'url.path')).toBe('/api/v1/products');
    expect(attribute(server as OtlpSpan, 'url.scheme')).toBe('http');
    expect(attribute(server as OtlpSpan, 'client.address')).toBe('127.0.0.1');
    expect(intAttribute(server as OtlpSpan, 'server.port')).toBe(Number(new URL(service.url).port));
    expect(intAttribute(server as OtlpSpan, 'http.response.status_code')).toBe(201);
    expect(trace.filter((span) => span.kind === 2)).toHaveLength(1);
    const query = trace.find(
      (span) =>
        span.scope === '@opentelemetry/instrumentation-pg' &&
        /INSERT/.test(attribute(span, 'db.statement') ?? attribute(span, 'db.query.text') ?? ''),
    );
    expect(query, JSON.stringify(trace.map((s) => [s.scope, s.name]))).toBeDefined();
    // Queries only: no span per pool checkout.
    expect(
      trace.filter((span) => span.scope === '@opentelemetry/instrumentation-pg').map((span) => span.name),
    ).not.toContainEqual(expect.stringMatching(/connect/));
    // Probes are not traced.
    expect(received.some((span) => /healthz/.test(`${span.name} ${attribute(span, 'url.path') ?? ''}`))).toBe(false);

    const line = service.logs.find((l) => l.request_id === 'traced-1' && l.msg === 'request completed');
    expect(line).toMatchObject({ trace_id: traceId, route: '/api/v1/products', status: 201 });
    expect(line?.span_id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('continues the caller’s trace on native gRPC: a server span per call, the pg span beneath it', async () => {
    const service = await startExporting();
    const grpcUrl = String(service.logs.find((line) => line.msg === 'gRPC listening')?.url);
    const client = createClient(ProductService, createGrpcTransport({ baseUrl: grpcUrl }));
    const traceId = randomBytes(16).toString('hex');
    const parentSpanId = randomBytes(8).toString('hex');
    const headers = {
      ...(await bearer()),
      traceparent: `00-${traceId}-${parentSpanId}-01`,
      'x-request-id': 'rpc-traced-1',
    };
    const { product } = await client.createProduct(
      { product: { sku: `TRACE-${traceId.slice(0, 8)}`, displayName: 'Traced', price: '1.00' } },
      { headers },
    );
    expect(product?.name).toMatch(/^products\//);
    service.process.kill('SIGTERM');
    expect(await service.exited).toBe(0);

    const spans = received.filter((span) => span.traceId === traceId);
    const server = spans.find((span) => span.scope === 'product-user-service/grpc-server');
    expect(server).toMatchObject({ name: 'productuser.v1.ProductService/CreateProduct', kind: 2, parentSpanId });
    expect(attribute(server as OtlpSpan, 'rpc.system')).toBe('grpc');
    const insert = spans.find((span) => span.scope === '@opentelemetry/instrumentation-pg');
    expect(insert?.parentSpanId).toBe(server?.spanId);
    const line = service.logs.find((l) => l.request_id === 'rpc-traced-1');
    expect(line).toMatchObject({ msg: 'call completed', trace_id: traceId, span_id: server?.spanId, code: 'OK' });
  });

  it('starts at most TRACES_PER_SECOND new traces, HTTP and gRPC together; follows sampled callers', async () => {
    const service = await startExporting({ OTEL_TRACES_SAMPLER_ARG: '1', TRACES_PER_SECOND: '2' });
    const grpcUrl = String(service.logs.find((line) => line.msg === 'gRPC listening')?.url);
    const client = createClient(ProductService, createGrpcTransport({ baseUrl: grpcUrl }));
    const auth = await bearer();
    const missing = '01890000-0000-7000-8000-000000000000';
    const parents = Array.from({ length: 5 }, () => randomBytes(16).toString('hex'));
    const earlier = received.length;
    const started = performance.now();
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) =>
        fetch(`${service.url}/api/v1/products/${missing}`, { headers: { ...auth, 'x-request-id': `capped-${i}` } }),
      ),
      ...Array.from({ length: 10 }, () =>
        client.getProduct({ name: `products/${missing}` }, { headers: auth }).catch(() => undefined),
      ),
      ...parents.map((traceId) =>
        fetch(`${service.url}/api/v1/products/${missing}`, {
          headers: { ...auth, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
        }),
      ),
    ]);
    const seconds = (performance.now() - started) / 1000;
    service.process.kill('SIGTERM');
    expect(await service.exited).toBe(0);

    const servers = received
      .slice(earlier)
      .filter(
        (span) => span.kind === 2 && (span.scope === SERVER_SCOPE || span.scope === 'product-user-service/grpc-server'),
      );
    const followed = servers.filter((span) => parents.includes(span.traceId));
    expect(followed).toHaveLength(5);
    // 30 new traces asked for at a ratio of 1: two at once, then two a second (a bucket).
    const roots = servers.length - followed.length;
    expect(roots).toBeGreaterThanOrEqual(2);
    expect(roots).toBeLessThanOrEqual(2 + Math.ceil(2 * seconds));
    // The requests the ceiling turned away are logged as untraced, with a trace id of their own.
    const lines = service.logs.filter((l) => /^capped-/.test(String(l.request_id)));
    expect(lines).toHaveLength(20);
    const untraced = lines.filter((l) => l.trace_flags === '00');
    expect(untraced.length).toBeGreaterThanOrEqual(20 - roots);
    for (const line of untraced) expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('carries the request’s trace into its event, and links the relay’s publish span to it', async () => {
    const nats = await NatsServer.start();
    try {
      const service = await startExporting({ NATS_URL: nats.url, NATS_STREAM: 'TRACED' });
      const traceId = randomBytes(16).toString('hex');
      const response = await fetch(`${service.url}/api/v1/products`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(await bearer()),
          traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
        },
        body: JSON.stringify(productInput()),
      });
      expect(response.status).toBe(201);
      const { id } = (await response.json()) as { id: string };
      // Earlier tests' events come first: this database's outbox had never been published.
      const sent = await waitFor(async () =>
        (await readStream(nats.url, 'TRACED')).find((m) => m.event.subject === id),
      );
      service.process.kill('SIGTERM');
      expect(await service.exited).toBe(0);

      const server = received.find((span) => span.traceId === traceId && span.scope === SERVER_SCOPE);
      // The CloudEvents distributed-tracing extension: the consumer continues this trace.
      expect(sent.event.traceparent).toBe(`00-${traceId}-${server?.spanId}-01`);
      const publish = received.filter((span) => span.name === 'outbox publish');
      expect(publish.map((span) => span.kind)).toContain(4); // PRODUCER
      const links = publish.flatMap((span) => span.links ?? []);
      expect(links).toContainEqual(expect.objectContaining({ traceId, spanId: server?.spanId }));
    } finally {
      await nats.dispose();
    }
  });

  it('keeps a body that arrives after its headers in the trace: the handler’s query and log line', async () => {
    const service = await startExporting({ OTEL_TRACES_SAMPLER_ARG: '0' });
    const traceId = randomBytes(16).toString('hex');
    const status = await postBodyLater(
      service.url,
      '/api/v1/products',
      {
        'content-type': 'application/json',
        ...(await bearer()),
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
        'x-request-id': 'traced-late-body',
      },
      JSON.stringify(productInput()),
    );
    expect(status).toBe(201);
    service.process.kill('SIGTERM');
    expect(await service.exited).toBe(0);

    const trace = received.filter((span) => span.traceId === traceId);
    expect(
      trace.some(
        (span) =>
          span.scope === '@opentelemetry/instrumentation-pg' &&
          /INSERT/.test(attribute(span, 'db.statement') ?? attribute(span, 'db.query.text') ?? ''),
      ),
    ).toBe(true);
    expect(
      service.logs.find((l) => l.request_id === 'traced-late-body' && l.msg === 'request completed'),
    ).toMatchObject({ trace_id: traceId, status: 201 });
  });

  it('traces a request without a body whole as well: its route, its query, the trace id on its log line', async () => {
    // The span's context is entered by a Fastify hook (telemetry/preload.ts): what runs after it, in
    // continuations and in the request's and response's listeners, must still see it.
    // CACHE=off: the read's query must be in its trace, not answered from the cache.
    const service = await startExporting({ OTEL_TRACES_SAMPLER_ARG: '0', CACHE: 'off' });
    const created = await fetch(`${service.url}/api/v1/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await bearer()) },
      body: JSON.stringify(productInput()),
    });
    const { id } = (await created.json()) as { id: string };
    const traceId = randomBytes(16).toString('hex');
    const response = await fetch(`${service.url}/api/v1/products/${id}`, {
      headers: {
        ...(await bearer()),
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
        'x-request-id': 'traced-get',
      },
    });
    expect(response.status).toBe(200);
    const missingTraceId = randomBytes(16).toString('hex');
    const missing = await fetch(`${service.url}/api/v1/nothing-here?x=1`, {
      headers: { traceparent: `00-${missingTraceId}-${randomBytes(8).toString('hex')}-01` },
    });
    expect(missing.status).toBe(404);
    service.process.kill('SIGTERM');
    expect(await service.exited).toBe(0);

    const trace = received.filter((span) => span.traceId === traceId);
    const server = trace.find((span) => span.scope === SERVER_SCOPE && span.kind === 2);
    expect(server?.name).toBe('GET /api/v1/products/:id');
    expect(attribute(server as OtlpSpan, 'http.route')).toBe('/api/v1/products/:id');
    const query = trace.find(
      (span) =>
        span.scope === '@opentelemetry/instrumentation-pg' &&
        /SELECT/.test(attribute(span, 'db.statement') ?? attribute(span, 'db.query.text') ?? ''),
    );
    expect(query?.parentSpanId, JSON.stringify(trace.map((s) => [s.scope, s.name]))).toBe(server?.spanId);
    const line = service.logs.find((l) => l.request_id === 'traced-get' && l.msg === 'request completed');
    expect(line).toMatchObject({
      trace_id: traceId,
      span_id: server?.spanId,
      route: '/api/v1/products/:id',
      status: 200,
    });
    // No route matched: the span is named by the method alone, and a 4xx is not a server error.
    const unmatched = received.find((span) => span.traceId === missingTraceId && span.kind === 2);
    expect(unmatched?.name).toBe('GET');
    expect(attribute(unmatched as OtlpSpan, 'http.route')).toBeUndefined();
    // The query string stays out of traces (list filters carry e-mail addresses).
    expect(attribute(unmatched as OtlpSpan, 'url.path')).toBe('/api/v1/nothing-here');
    expect(attribute(unmatched as OtlpSpan, 'url.query')).toBeUndefined();
    expect(intAttribute(unmatched as OtlpSpan, 'http.response.status_code')).toBe(404);
    expect((unmatched as OtlpSpan & { status?: { code?: number } }).status?.code ?? 0).toBe(0);
  });

  it('names the span of a request its client gave up on after its route', async () => {
    const service = await startExporting({ OTEL_TRACES_SAMPLER_ARG: '0' });
    const traceId = randomBytes(16).toString('hex');
    await abandonPost(service.url, '/api/v1/products', {
      'content-type': 'application/json',
      ...(await bearer()),
      traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
    });
    await sleep(200);
    service.process.kill('SIGTERM');
    expect(await service.exited).toBe(0);

    const server = received.find((span) => span.traceId === traceId && span.kind === 2);
    expect(server?.name).toBe('POST /api/v1/products');
    expect(attribute(server as OtlpSpan, 'http.route')).toBe('/api/v1/products');
    // Ended when the connection closed, without a response.
    expect(attribute(server as OtlpSpan, 'error.type')).toBe('aborted');
    expect(intAttribute(server as OtlpSpan, 'http.response.status_code')).toBeUndefined();
  });

  it('decides at the door: the caller’s sampled flag is followed; untraced requests are not exported', async () => {
    // No request without a traceparent is traced: only the caller's flag can turn tracing on.
    const service = await startExporting({ OTEL_TRACES_SAMPLER_ARG: '0' });
    const sampled = randomBytes(16).toString('hex');
    const unsampled = randomBytes(16).toString('hex');
    const send = async (requestId: string, traceparent?: string) => {
      const response = await fetch(`${service.url}/api/v1/products`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(await bearer()),
          'x-request-id': requestId,
          ...(traceparent === undefined ? {} : { traceparent }),
        },
        body: JSON.stringify(productInput()),
      });
      expect(response.status).toBe(201);
    };
    const before = received.length;
    await send('head-none');
    await send('head-00', `00-${unsampled}-${randomBytes(8).toString('hex')}-00`);
    await send('head-01', `00-${sampled}-${randomBytes(8).toString('hex')}-01`);
    service.process.kill('SIGTERM');
    expect(await service.exited).toBe(0);

    const spans = received.slice(before);
    // Exactly the one sampled request, with its whole trace: HTTP server span and INSERT.
    expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([sampled]));
    expect(new Set(spans.map((span) => span.scope))).toEqual(
      new Set([SERVER_SCOPE, '@opentelemetry/instrumentation-pg']),
    );
    expect(service.logs.find((l) => l.request_id === 'head-01' && l.msg === 'request completed')?.trace_id).toBe(
      sampled,
    );
    // Not exported, yet logged with the caller's trace id (and a new one without a traceparent).
    expect(service.logs.find((l) => l.request_id === 'head-00' && l.msg === 'request completed')).toMatchObject({
      trace_id: unsampled,
      trace_flags: '00',
    });
    expect(service.logs.find((l) => l.request_id === 'head-none' && l.msg === 'request completed')?.trace_id).toMatch(
      /^[0-9a-f]{32}$/,
    );
  });

  it('is off cleanly with OTEL_SDK_DISABLED=true: nothing exported, the service still serves', async () => {
    const before = received.length;
    const service = await startChildService({
      DATABASE_URL: db.url,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      PORT: String(await freePort()),
      OTEL_SDK_DISABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    expect((await fetch(`${service.url}/api/v1/products?limit=1`, { headers: await bearer() })).status).toBe(200);
    service.process.kill('SIGTERM');
    expect(await service.exited).toBe(0);
    expect(received.length).toBe(before);
  });
});
