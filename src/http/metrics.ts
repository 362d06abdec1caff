import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** Connection pool occupancy, read at scrape time (main.ts passes the pg pool's counters). */
export interface PoolStats {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
}

/** The label for requests that matched no route: raw URLs would make cardinality unbounded. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Upper bounds (seconds) of http_request_duration_seconds' buckets, and of gRPC's
 * grpc_server_handling_seconds: the same, so one dashboard compares the two transports.
 */
export const DURATION_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

type RequestLabels = { readonly method: string; readonly route: string; readonly status_code: number };

/** The requests of one method, route and status: how many, how long in all, how many per bucket. */
class RequestSeries {
  count = 0;
  /** What http_requests_total has been given of `count`. */
  counted = 0;
  sum = 0;
  /** Per bucket, not cumulative (one increment per request); the last is +Inf. */
  readonly perBucket: number[] = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  readonly labels: RequestLabels;
  constructor(labels: RequestLabels) {
    this.labels = labels;
  }
}

/**
 * Prometheus metrics of one app instance. Each instance has its own Registry, so building
 * the app twice in one process (tests, several listeners) never double-registers.
 *
 * Each request is counted in plain numbers (RequestSeries), which prom-client reads when
 * scraped: its own inc and observe hash the label set on every call, twice per request, about
 * 1 µs of a 50 µs warm read (docs/performance.md).
 */
export class HttpMetrics {
  readonly registry = new Registry();
  /** By route, then method, then status: three lookups and no key to build. */
  readonly #series = new Map<string, Map<string, Map<number, RequestSeries>>>();

  /** What /metrics answers: this registry, or (in a cluster worker) every worker's added up. */
  readonly scrape: () => Promise<string>;

  constructor(poolStats?: () => PoolStats, scrape?: (local: Registry) => () => Promise<string>) {
    this.scrape = scrape?.(this.registry) ?? (() => this.registry.metrics());
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // These gauges break the naming rule that `promtool check metrics` enforces (_total is
    // for counters); the per-type nodejs_active_handles/requests/resources gauges stay.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      this.registry.removeSingleMetric(name);
    }
    const all = () => this.#all();
    new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers,
      collect() {
        for (const series of all()) {
          this.inc(series.labels, series.count - series.counted);
          series.counted = series.count;
        }
      },
    });
    // prom-client's registry (and the cluster's AggregatorRegistry) read a metric through get().
    this.registry.registerMetric(new DurationHistogram(all) as unknown as Metric);
    if (poolStats !== undefined) {
      const gauge = (name: string, help: string, read: (stats: PoolStats) => number) =>
        new Gauge({
          name,
          help,
          registers,
          collect() {
            this.set(read(poolStats()));
          },
        });
      gauge('db_pool_connections', 'Connections open in the database pool', (s) => s.total);
      gauge('db_pool_idle_connections', 'Open connections not checked out', (s) => s.idle);
      gauge('db_pool_waiting_requests', 'Queries waiting for a free connection', (s) => s.waiting);
    }
  }

  observe(method: string, route: string, statusCode: number, seconds: number): void {
    let byMethod = this.#series.get(route);
    if (byMethod === undefined) this.#series.set(route, (byMethod = new Map<string, Map<number, RequestSeries>>()));
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) byMethod.set(method, (byStatus = new Map<number, RequestSeries>()));
    let series = byStatus.get(statusCode);
    if (series === undefined)
      byStatus.set(statusCode, (series = new RequestSeries({ method, route, status_code: statusCode })));
    series.count += 1;
    series.sum += seconds;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[bucket] ?? 0)) bucket += 1;
    series.perBucket[bucket] = (series.perBucket[bucket] ?? 0) + 1;
  }

  *#all(): IterableIterator<RequestSeries> {
    for (const byMethod of this.#series.values()) for (const byStatus of byMethod.values()) yield* byStatus.values();
  }
}

/**
 * http_request_duration_seconds, read from the request series when scraped, in the shape of a
 * prom-client Histogram's get(): what the registry formats, and what the cluster's
 * AggregatorRegistry adds up across workers (aggregator `sum`).
 */
class DurationHistogram {
  readonly name = 'http_request_duration_seconds';
  readonly help = 'Time from receiving a request to finishing its response, by method, route pattern and status code';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series: () => Iterable<RequestSeries>;

  constructor(series: () => Iterable<RequestSeries>) {
    this.#series = series;
  }

  get() {
    const bucket = `${this.name}_bucket`;
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const { labels, perBucket, sum, count } of this.#series()) {
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += perBucket[i] ?? 0;
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: bucket });
      });
      values.push({ labels: { le: '+Inf', ...labels }, value: count, metricName: bucket });
      values.push({ labels, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: count, metricName: `${this.name}_count` });
    }
    const { name, help, type, aggregator } = this;
    return Promise.resolve({ name, help, type, aggregator, values });
  }
}

export function metricsRoutes(metrics: HttpMetrics): FastifyPluginAsyncZod {
  // eslint-disable-next-line @typescript-eslint/require-await -- Fastify plugins are async functions by contract.
  return async (app) => {
    const exposition = {
      description: 'Prometheus text exposition format 0.0.4',
      content: { 'text/plain': { schema: z.string() } },
    };
    app.get(
      '/metrics',
      {
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics',
          operationId: 'metrics',
          security: [],
          response: { 200: exposition },
        },
      },
      async (_request, reply) => {
        const body = await metrics.scrape();
        return reply.type(metrics.registry.contentType).header('cache-control', 'no-store').send(body);
      },
    );
  };
}
