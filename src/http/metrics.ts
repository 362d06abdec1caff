import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
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
 * Prometheus metrics of one app instance. Each instance has its own Registry, so building
 * the app twice in one process (tests, several listeners) never double-registers.
 */
export class HttpMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'method' | 'route' | 'status_code'>;
  readonly #duration: Histogram<'method' | 'route' | 'status_code'>;

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
    this.#requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from receiving a request to finishing its response, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
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
    const labels = { method, route, status_code: statusCode };
    this.#requests.inc(labels);
    this.#duration.observe(labels, seconds);
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
