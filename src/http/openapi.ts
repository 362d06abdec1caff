import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { OpenAPIV3_1 } from 'openapi-types';
import { Problem } from './schemas.js';

const PROBLEM_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400:
    'Validation failed: `errors` names every failing field ' +
    '(JSON Pointer into the body, or query.<name> / path.<name>)',
  401: 'Missing, malformed, expired or badly signed token (WWW-Authenticate: Bearer error="invalid_token")',
  403: 'The token lacks the scope this operation needs (WWW-Authenticate: Bearer error="insufficient_scope")',
  404: 'No such resource',
  409: 'A unique field (sku, email) is taken, or a request with this Idempotency-Key is still running',
  412: 'If-Match does not match the current ETag',
  413: 'The body is larger than BODY_LIMIT_BYTES',
  415: 'The body is not application/json (PATCH also accepts application/merge-patch+json)',
  422: 'The Idempotency-Key was used before with a different body',
  428: 'REQUIRE_IF_MATCH is on and the write carries no If-Match',
  429: 'Rate limited: wait Retry-After seconds',
  503: 'The database is unavailable or the service is overloaded: retry after Retry-After seconds',
};

/** Problem responses for a route, as application/problem+json (RFC 9457). */
export function problems(
  ...statuses: number[]
): Record<number, { description: string; content: { 'application/problem+json': { schema: typeof Problem } } }> {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: PROBLEM_DESCRIPTIONS[status] ?? 'Error',
        content: { 'application/problem+json': { schema: Problem } },
      },
    ]),
  );
}

const header = (description: string, type: 'string' | 'integer' = 'string'): OpenAPIV3_1.HeaderObject => ({
  description,
  schema: { type },
});

const HEADERS = {
  requestId: header(
    'The caller’s X-Request-ID when it matches ^[A-Za-z0-9._:-]{1,128}$, else a new UUID; ' +
      'also in logs and error bodies',
  ),
  etag: header('Strong entity tag of the returned version, e.g. "3"; send it back in If-Match / If-None-Match'),
  location: header('URL of the created resource'),
  link: header('RFC 8288 link to the next page: </api/v1/…?…&cursor=…>; rel="next" (absent on the last page)'),
  replayed: header('"true" when the response is a replay of an earlier request with the same Idempotency-Key'),
  retryAfter: header('Seconds to wait before retrying', 'integer'),
  rateLimit: header(
    'Requests allowed per window (IETF draft RateLimit headers: ratelimit-limit, ratelimit-remaining, ratelimit-reset)',
    'integer',
  ),
};

/** Adds the headers every operation shares, so the document says what the wire says. */
function addStandardHeaders(document: OpenAPIV3_1.Document): OpenAPIV3_1.Document {
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
      const operation = item?.[method];
      if (operation === undefined) continue;
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const headers: Record<string, OpenAPIV3_1.HeaderObject> = { 'X-Request-ID': HEADERS.requestId };
        const code = Number(status);
        if (path.startsWith('/api/')) Object.assign(headers, { 'RateLimit-Limit': HEADERS.rateLimit });
        if (code === 429 || code === 503) headers['Retry-After'] = HEADERS.retryAfter;
        if (code === 201)
          Object.assign(headers, {
            Location: HEADERS.location,
            ETag: HEADERS.etag,
            'Idempotent-Replayed': HEADERS.replayed,
          });
        if ((code === 200 || code === 304) && path.endsWith('{id}')) headers.ETag = HEADERS.etag;
        if (code === 200 && method === 'get' && !path.endsWith('{id}') && path.startsWith('/api/'))
          headers.Link = HEADERS.link;
        (response as OpenAPIV3_1.ResponseObject).headers = {
          ...(response as OpenAPIV3_1.ResponseObject).headers,
          ...headers,
        };
      }
    }
  }
  return document;
}

/**
 * The zod transform emits an input and an output form of every registered schema; drop the
 * ones no operation references (repeatedly, since components reference each other).
 */
function pruneUnusedSchemas(document: OpenAPIV3_1.Document): OpenAPIV3_1.Document {
  const schemas = document.components?.schemas;
  if (schemas === undefined) return document;
  for (;;) {
    const { components, ...rest } = document;
    const text = JSON.stringify([rest, { ...components, schemas }]);
    const unused = Object.keys(schemas).filter((name) => !text.includes(`"#/components/schemas/${name}"`));
    if (unused.length === 0) return document;
    for (const name of unused) delete schemas[name];
  }
}

export const openApiOptions: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'Product and user service',
      version: '1.0.0',
      description:
        'Products and users over PostgreSQL. Errors are RFC 9457 problem details. ' +
        'Lists use keyset pagination with opaque cursors; ' +
        'single-resource reads and writes carry strong ETags; POST accepts Idempotency-Key. ' +
        'Rate limits are per caller (token subject, else client IP) and per replica.',
      license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [{ url: '/', description: 'This server' }],
    tags: [
      { name: 'products', description: 'The product catalogue' },
      { name: 'users', description: 'User accounts' },
      { name: 'events', description: 'Every change, as CloudEvents in commit order: the feed a consumer replays' },
      { name: 'operations', description: 'Probes, metrics and this document; no authentication' },
    ],
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'HS256 (AUTH_JWT_SECRET) or RS256/ES256 (AUTH_JWKS_URL). ' +
            'Scopes in `scope` (space-separated) or `scp` (array): ' +
            'products:read, products:write, users:read, users:write, events:read; :write implies :read.',
        },
      },
    },
    security: [{ bearerAuth: [] }],
  },
  transform: jsonSchemaTransform,
  transformObject: (documentObject) =>
    pruneUnusedSchemas(addStandardHeaders(jsonSchemaTransformObject(documentObject) as OpenAPIV3_1.Document)),
};
