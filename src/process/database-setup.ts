import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { EmbeddedDatabase } from '../dev/embedded-postgres.js';

export interface PreparedDatabase {
  readonly url: string;
  /** Set when DATABASE_URL was unset; its owner stops it on shutdown. */
  readonly embedded?: EmbeddedDatabase;
}

/**
 * What happens once per pod before traffic: DATABASE_URL, or embedded PostgreSQL in
 * development when it is unset, then migrations when MIGRATE_ON_START. Done by the single
 * process, or by a cluster's primary before it forks workers. An embedded database started
 * here is stopped again if migrating fails.
 */
export async function prepareDatabase(config: Config, logger: Logger): Promise<PreparedDatabase> {
  let embedded: EmbeddedDatabase | undefined;
  let url = config.database.url;
  if (url === undefined) {
    logger.info(
      { dir: config.embeddedPostgres.dir, port: config.embeddedPostgres.port },
      'DATABASE_URL is unset: starting embedded PostgreSQL',
    );
    // Loaded only here: development code, and embedded-postgres is a development dependency.
    const { startEmbeddedPostgres } = await import('../dev/embedded-postgres.js');
    embedded = await startEmbeddedPostgres({ ...config.embeddedPostgres, persistent: true, logger });
    url = embedded.url;
  }
  try {
    if (config.database.migrateOnStart) {
      // Imported only here: node-pg-migrate brings jiti and glob, whose code the heap holds
      // for the process's life, and pods that never migrate on start (Kubernetes runs a Job)
      // should not carry them.
      const { migrate } = await import('../postgres/migrate.js');
      const ran = await migrate(url, logger);
      logger.info({ migrations: ran }, ran.length > 0 ? 'migrations applied' : 'schema is up to date');
    }
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
  return { url, embedded };
}
