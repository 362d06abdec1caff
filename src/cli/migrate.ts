import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { loadConfigOrReport } from '../config.js';
import { createLogger } from '../logger.js';
import { startEmbeddedPostgres } from '../dev/embedded-postgres.js';
import { migrate } from '../postgres/migrate.js';

const USAGE = 'usage: npm run migrate -- [up|down] [count]';

/**
 * `npm run migrate -- [up|down] [count]`: the runner the service uses at start-up, for a
 * Kubernetes Job or by hand. Without DATABASE_URL it works on the development database.
 * Returns the process exit code.
 */
export async function runMigrateCommand(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  logger?: Logger,
): Promise<number> {
  const [direction = 'up', countArg, extra] = args;
  const count = countArg === undefined ? undefined : Number(countArg);
  if (
    (direction !== 'up' && direction !== 'down') ||
    extra !== undefined ||
    (count !== undefined && !(Number.isInteger(count) && count > 0))
  ) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = loadConfigOrReport(env, (message) => process.stderr.write(`${message}\n`));
  if (config === null) return 1;
  const log = logger ?? createLogger({ level: config.logLevel, pretty: false });
  const embedded =
    config.database.url === undefined
      ? await startEmbeddedPostgres({ ...config.embeddedPostgres, persistent: true, logger: log })
      : undefined;
  try {
    const ran = await migrate(config.database.url ?? embedded?.url ?? '', log, direction, count);
    log.info({ direction, migrations: ran }, ran.length > 0 ? `migrated ${direction}` : 'nothing to migrate');
    return 0;
  } finally {
    await embedded?.stop();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runMigrateCommand(process.argv.slice(2), process.env);
}
