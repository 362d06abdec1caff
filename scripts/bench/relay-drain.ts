/**
 * The relay's own cost: 50,000 events written straight into the outbox of a fresh embedded
 * PostgreSQL, then drained by one process's relay (to a local nats-server, or with `nonats`
 * only numbered), reporting the time and the process's CPU per event.
 *   npx tsx scripts/bench/relay-drain.ts [nonats]
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { composeService } from '../../src/compose.js';
import { loadConfig } from '../../src/config.js';
import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres.js';
import { migrate } from '../../src/postgres/migrate.js';
import { createPool } from '../../src/postgres/pool.js';
import { freePort } from '../../test/helpers/database-server.js';
import { startNats } from './nats.js';

const EVENTS = 50_000;
const dir = await mkdtemp(join(tmpdir(), 'relay-drain-'));
await chmod(dir, 0o755);
const logger = pino({ level: 'silent' });
const db = await startEmbeddedPostgres({ dir: join(dir, 'pg'), port: await freePort(), persistent: false, logger });
await migrate(db.url, logger);
const natsPort = await freePort();
const nats = process.argv.includes('nonats') ? null : await startNats(natsPort, join(dir, 'nats'));
const config = loadConfig({
  DATABASE_URL: db.url,
  AUTH_MODE: 'none',
  ...(nats !== null && { NATS_URL: `nats://127.0.0.1:${natsPort}` }),
});
const pool = createPool({ ...config.database, url: db.url }, logger);
const service = await composeService({ config, pool, logger });
await pool.query(`INSERT INTO outbox (type, source, subject, resource_version, data)
  SELECT 'com.example.productuser.product.created.v1', '/bench', gen_random_uuid(), 1,
    json_build_object('id', gen_random_uuid(), 'sku', 'SKU-' || g, 'name', 'Bench product', 'description', '',
      'price', 19.99, 'currency', 'USD', 'created_at', '2026-12-03T16:27:18.605Z',
      'updated_at', '2026-12-03T16:27:18.605Z', 'version', 1)
  FROM generate_series(1, ${EVENTS}) g`);
service.events.publisher?.start();
await new Promise((resolve) => setTimeout(resolve, 1000));
const cpuBefore = process.cpuUsage();
const started = Date.now();
service.events.relay.start();
const waiting = `SELECT count(*)::int AS n FROM outbox, outbox_relay
  WHERE position IS NULL OR (${nats !== null} AND position > published_through)`;
while ((await pool.query<{ n: number }>(waiting)).rows[0]?.n !== 0) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const cpu = process.cpuUsage(cpuBefore);
process.stdout.write(
  `${EVENTS} events ${nats === null ? 'numbered' : 'published'} in ${Date.now() - started} ms, ` +
    `process CPU ${((cpu.user + cpu.system) / EVENTS).toFixed(1)} µs per event\n`,
);
await service.events.relay.stop();
await service.events.publisher?.close();
await service.app.close();
await pool.end();
nats?.kill('SIGTERM');
await db.stop();
await rm(dir, { recursive: true, force: true });
