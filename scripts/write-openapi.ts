/**
 * Writes the OpenAPI document the running service serves at /openapi.json, built from the
 * same zod schemas, without a database: the services behind the routes are never called
 * while the document is generated. Used by `npm run lint:openapi`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import pino from 'pino';
import { buildApp } from '../src/http/app.js';
import { Authenticator } from '../src/http/auth.js';
import { createProductService } from '../src/services/product-service.js';
import type { ResourceRepository } from '../src/services/resource-service.js';
import { createUserService } from '../src/services/user-service.js';

const target = process.argv[2] ?? '.data/openapi.json';
const unused = new Proxy({} as ResourceRepository<never, never, never, never>, {
  get: () => () => Promise.reject(new Error('the OpenAPI generator does not serve requests')),
});
const app = await buildApp({
  logger: pino({ level: 'silent' }),
  products: createProductService(unused),
  users: createUserService(unused),
  readiness: { isAcceptingTraffic: () => false, pingDatabase: () => Promise.reject(new Error('no database')) },
  authenticator: new Authenticator({ mode: 'none' }),
  idempotency: { once: () => Promise.reject(new Error('no database')) },
  settings: {
    bodyLimitBytes: 65536,
    cursorSecret: 'openapi-generation-only-00000000000',
    requireIfMatch: false,
    corsOrigins: [],
    rateLimit: { max: 1, windowMs: 1000 },
    trustProxy: [],
    shedding: { maxEventLoopDelayMs: 0, maxHeapUsedBytes: 0 },
  },
});
await app.ready();
await mkdir(dirname(target), { recursive: true });
await writeFile(target, `${JSON.stringify(app.swagger(), null, 2)}\n`);
await app.close();
process.stdout.write(`OpenAPI document written to ${target}\n`);
