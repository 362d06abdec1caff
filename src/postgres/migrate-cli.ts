import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startEmbeddedPostgres } from './embedded.js';
import { migrate, type MigrationDirection } from './migrate.js';

/**
 * `npm run migrate -- [up|down] [count]`: the runner the service uses at start-up, for
 * a Kubernetes Job or by hand. Without DATABASE_URL it works on the development database.
 */
const [directionArg = 'up', countArg] = process.argv.slice(2);
if (directionArg !== 'up' && directionArg !== 'down') {
  process.stderr.write('usage: npm run migrate -- [up|down] [count]\n');
  process.exit(2);
}
const direction: MigrationDirection = directionArg;
const count = countArg === undefined ? undefined : Number(countArg);
if (count !== undefined && !(Number.isInteger(count) && count > 0)) {
  process.stderr.write('count must be a positive integer\n');
  process.exit(2);
}

const config = loadConfig(process.env);
const logger = createLogger({ level: config.logLevel, pretty: false });
const embedded = config.database.url === undefined ? await startEmbeddedPostgres({ ...config.embeddedPostgres, persistent: true, logger }) : undefined;
try {
  const ran = await migrate(config.database.url ?? embedded?.url ?? '', logger, direction, count);
  logger.info({ direction, migrations: ran }, ran.length > 0 ? `migrated ${direction}` : 'nothing to migrate');
} finally {
  await embedded?.stop();
}
