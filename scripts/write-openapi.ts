/**
 * Writes the OpenAPI document the running service serves at /openapi.json, built by the same
 * wiring from the same zod schemas, without a database: the pool is never asked for a
 * connection while the document is generated. Used by `npm run lint:openapi`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import pino from 'pino';
import { composeService } from '../src/compose.js';
import { loadConfig } from '../src/config.js';
import { createPool } from '../src/postgres/pool.js';

const target = process.argv[2] ?? '.data/openapi.json';
const logger = pino({ level: 'silent' });
// CACHE=off: the read cache would start following the outbox, which needs the database.
const config = loadConfig({
  DATABASE_URL: 'postgres://openapi@127.0.0.1:1/never-connected',
  AUTH_MODE: 'none',
  CACHE: 'off',
});
const pool = createPool({ ...config.database, url: config.database.url ?? '' }, logger);
const { app } = await composeService({ config, pool, logger });
await app.ready();
await mkdir(dirname(target), { recursive: true });
await writeFile(target, `${JSON.stringify(app.swagger(), null, 2)}\n`);
await app.close();
await pool.end();
process.stdout.write(`OpenAPI document written to ${target}\n`);
