import { getHeapStatistics } from 'node:v8';
import type { FastifyInstance } from 'fastify';
import { HttpProblem } from './error-handler.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Whether API requests are being refused for load (readiness reports it too). */
    isUnderPressure(): boolean;
  }
}

/** Past these, API requests are refused with 503 instead of queueing (0 turns a limit off). */
export interface SheddingLimits {
  readonly maxEventLoopDelayMs: number;
  readonly maxHeapUsedBytes: number;
}

/** What is past its limit. */
type Pressure = 'eventLoopDelay' | 'heapUsedBytes';

/** How often load shedding decides, from the event-loop delay measured since and the heap in use. */
const SAMPLE_MS = 100;
/** How often the event loop's delay is measured: a timer's lateness, so a long turn is one late tick. */
const TICK_MS = 10;

/** Probes, scrapes and the API description are never refused for load. */
const NEVER_SHED_PATHS = new Set(['/healthz', '/livez', '/readyz', '/metrics', '/openapi.json']);

/**
 * Event-loop delay and heap use, and whether either is past its limit. The delay is how late
 * a 10 ms timer fires, averaged over each 100 ms: a turn of the loop that took 150 ms makes
 * one tick 140 ms late. (@fastify/under-pressure, used before, took the mean of a
 * `monitorEventLoopDelay` histogram reset every sample; a histogram records nothing until two
 * of its ticks follow a reset, so any turn longer than about 100 ms left it empty, and it
 * counted empty as an infinite delay: 503s for turns of 120 ms under a 1 s limit.)
 */
export class PressureGauge {
  readonly #limits: SheddingLimits;
  #over: Pressure | null = null;
  #timer: NodeJS.Timeout | undefined;
  #due = 0;
  #lateSum = 0;
  #ticks = 0;
  #decidedAt = 0;

  constructor(limits: SheddingLimits) {
    this.#limits = limits;
  }

  start(): void {
    this.#decidedAt = performance.now();
    this.#schedule();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** What is past its limit now, if anything. */
  pressure(): Pressure | null {
    return this.#over;
  }

  #schedule(): void {
    this.#due = performance.now() + TICK_MS;
    this.#timer = setTimeout(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  #tick(): void {
    const now = performance.now();
    this.#lateSum += Math.max(0, now - this.#due);
    this.#ticks += 1;
    if (now - this.#decidedAt >= SAMPLE_MS) {
      const { maxEventLoopDelayMs, maxHeapUsedBytes } = this.#limits;
      const delayMs = this.#lateSum / this.#ticks;
      this.#over =
        maxEventLoopDelayMs > 0 && delayMs > maxEventLoopDelayMs
          ? 'eventLoopDelay'
          : maxHeapUsedBytes > 0 && getHeapStatistics().used_heap_size > maxHeapUsedBytes
            ? 'heapUsedBytes'
            : null;
      this.#lateSum = 0;
      this.#ticks = 0;
      this.#decidedAt = now;
    }
    this.#schedule();
  }
}

/**
 * An overloaded process answers 503 at once rather than letting latency grow without
 * bound. Probes and scrapes still answer: liveness must stay 200 (restarting an overloaded
 * pod makes things worse), and /readyz reports the overload so traffic moves away.
 * Decorates the app with `isUnderPressure()`.
 */
export function registerLoadShedding(app: FastifyInstance, limits: SheddingLimits): void {
  const gauge = new PressureGauge(limits);
  if (limits.maxEventLoopDelayMs > 0 || limits.maxHeapUsedBytes > 0) gauge.start();
  app.decorate('isUnderPressure', () => gauge.pressure() !== null);
  app.addHook('onRequest', (request, _reply, done) => {
    const pressure = gauge.pressure();
    if (pressure === null || NEVER_SHED_PATHS.has(request.url.split('?')[0] ?? '')) {
      done();
      return;
    }
    request.log.warn({ pressure }, 'shedding load');
    done(
      new HttpProblem(503, 'overloaded', 'Service overloaded', 'The service is shedding load; retry shortly', {
        'retry-after': '2',
      }),
    );
  });
  app.addHook('onClose', (_app, done) => {
    gauge.stop();
    done();
  });
}

/**
 * Resolves true once load shedding would let a request through, or false after `timeoutMs`.
 * The port opens only then. A fresh process's first event-loop sample covers its own
 * start-up (compiling routes and schemas blocks the loop for a second or more) and is taken
 * only after it, so a port opened at once shed its first requests with 503. Hence: two
 * sample periods for that sample to be taken and replaced, then until one says the loop is free.
 */
export async function untilNotShedding(
  isUnderPressure: () => boolean,
  timeoutMs: number,
  sampleMs = SAMPLE_MS,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  await new Promise((resolve) => setTimeout(resolve, 2 * sampleMs));
  while (isUnderPressure()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, sampleMs / 5));
  }
  return true;
}
