import CircuitBreaker from 'opossum';
import type { Logger } from 'pino';
import { UnavailableError } from '../domain/errors.js';
import { isOutage } from './errors.js';

export interface GateSettings {
  /** How long the circuit stays open before one probing query may pass. */
  readonly resetTimeoutMs: number;
  /** Failures within the rolling window that open the circuit (with at least this many calls). */
  readonly volumeThreshold: number;
}

/**
 * A circuit breaker in front of the database. While PostgreSQL is unreachable, every query
 * would otherwise wait out a connection attempt; once failures pile up the circuit opens
 * and requests fail at once with a 503 (Retry-After), sparing the pool, the database on its
 * way back, and the callers. After `resetTimeoutMs` one query probes; success closes the
 * circuit, so the service recovers by itself. Only outages count (errors.ts): a taken SKU, a
 * statement bug, or a statement timed out behind a locked row never opens it.
 */
export class DatabaseGate {
  readonly #breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  readonly #retryAfterSeconds: number;

  constructor(settings: GateSettings, logger: Logger) {
    this.#retryAfterSeconds = Math.max(1, Math.ceil(settings.resetTimeoutMs / 1000));
    this.#breaker = new CircuitBreaker((work: () => Promise<unknown>) => work(), {
      timeout: false, // statement_timeout, queryWithin's deadline and the connect timeout bound each call
      resetTimeout: settings.resetTimeoutMs,
      volumeThreshold: settings.volumeThreshold,
      errorThresholdPercentage: 50,
      rollingCountTimeout: 5000,
      // Returning true means "not a failure of the database": only outages count (errors.ts).
      errorFilter: (err: unknown) => !isOutage(err),
    });
    this.#breaker.on('open', () =>
      logger.warn({ reset_timeout_ms: settings.resetTimeoutMs }, 'database circuit opened: failing fast'),
    );
    this.#breaker.on('halfOpen', () => logger.info('database circuit half-open: probing'));
    this.#breaker.on('close', () => logger.info('database circuit closed: database reachable again'));
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return (await this.#breaker.fire(work)) as T;
    } catch (err) {
      if ((err as { code?: string }).code === 'EOPENBREAKER') {
        throw new UnavailableError('The database is unavailable; retry shortly', this.#retryAfterSeconds, {
          cause: err,
        });
      }
      throw err;
    }
  }

  shutdown(): void {
    this.#breaker.shutdown();
  }
}
