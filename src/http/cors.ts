import type { FastifyCorsOptions } from '@fastify/cors';

/** CORS for the given origins: the request headers the API reads, the response headers it sets. */
export function corsOptions(origins: readonly string[]): FastifyCorsOptions {
  return {
    origin: [...origins],
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: [
      'Authorization',
      'Content-Type',
      'If-Match',
      'If-None-Match',
      'Idempotency-Key',
      'X-Request-ID',
      'traceparent',
    ],
    exposedHeaders: [
      'ETag',
      'Location',
      'Link',
      'X-Request-ID',
      'Retry-After',
      'Idempotent-Replayed',
      'RateLimit-Limit',
      'RateLimit-Remaining',
      'RateLimit-Reset',
    ],
    maxAge: 600,
  };
}
