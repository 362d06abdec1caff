import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import { HttpProblem } from './error-handler.js';

/** Past these, API requests are refused with 503 instead of queueing (0 turns a limit off). */
export interface SheddingLimits {
  readonly maxEventLoopDelayMs: number;
  readonly maxHeapUsedBytes: number;
}

/** How often load shedding samples event-loop delay and heap use. */
const SAMPLE_MS = 100;

/** Probes, scrapes and the API description are never refused for load. */
const NEVER_SHED_PATHS = new Set(['/healthz', '/livez', '/readyz', '/metrics', '/openapi.json']);

/**
 * An overloaded process answers 503 at once rather than letting latency grow without
 * bound. Probes and scrapes still answer: liveness must stay 200 (restarting an overloaded
 * pod makes things worse), and /readyz reports the overload so traffic moves away.
 * Decorates the app with `isUnderPressure()`.
 */
export async function registerLoadShedding(app: FastifyInstance, limits: SheddingLimits): Promise<void> {
  await app.register(underPressure, {
    maxEventLoopDelay: limits.maxEventLoopDelayMs,
    maxHeapUsedBytes: limits.maxHeapUsedBytes,
    sampleInterval: SAMPLE_MS,
    pressureHandler: (request, _reply, type) => {
      if (NEVER_SHED_PATHS.has(request.url.split('?')[0] ?? '')) return;
      request.log.warn({ pressure: type }, 'shedding load');
      throw new HttpProblem(503, 'overloaded', 'Service overloaded', 'The service is shedding load; retry shortly', {
        'retry-after': '2',
      });
    },
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
