import cluster from 'node:cluster';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { clusterScrape, killWorkersOnExit, startPrimary } from './cluster.js';
import { loadConfigOrReport, type Config } from './config.js';
import { prepareDatabase } from './database-setup.js';
import { announceDevelopmentToken, hmacSecret } from './dev-auth.js';
import { buildApp, untilNotShedding, type App, type AppDependencies } from './http/app.js';
import { Authenticator } from './http/auth.js';
import { createLogger } from './logger.js';
import { DatabaseGate } from './postgres/gate.js';
import { PostgresIdempotencyStore } from './postgres/idempotency-store.js';
import { createPool, pingDatabase } from './postgres/pool.js';
import { createProductRepository } from './postgres/product-repository.js';
import { createUserRepository } from './postgres/user-repository.js';
import { createProductService } from './services/product-service.js';
import { createUserService } from './services/user-service.js';

export interface RunningService {
  readonly app: App;
  /** Base URL the server listens on, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  /** Readiness → 503, wait SHUTDOWN_DELAY_MS, drain, close the pool, stop embedded PostgreSQL. */
  readonly shutdown: () => Promise<void>;
}

/**
 * Ends the tracer provider that the --import preload (telemetry.ts) registered, which
 * exports the spans still buffered. Reached through the OpenTelemetry API so that nothing
 * imports the preload; without a preload the API's no-op provider has nothing to end.
 */
async function flushTelemetry(logger: Logger, timeoutMs: number): Promise<void> {
  const global = trace.getTracerProvider() as { getDelegate?: () => unknown };
  const provider = (global.getDelegate?.() ?? global) as { shutdown?: () => Promise<void> };
  if (provider.shutdown === undefined) return;
  // Spans are worth a short wait, never a failed or late exit: an unreachable collector
  // would otherwise hold the process in export retries.
  const flushed = provider.shutdown().then(
    () => true,
    (err: unknown) => {
      logger.warn({ err }, 'could not export the last spans');
      return true;
    },
  );
  if (!(await Promise.race([flushed, sleep(timeoutMs).then(() => false)])))
    logger.warn({ timeout_ms: timeoutMs }, 'gave up exporting the last spans');
}

/**
 * Composition root: config → database (embedded in development) → migrations → pool →
 * repositories → services → HTTP. The port opens only once the schema is in place and the
 * database has answered, so a startup probe that sees the port sees a working service.
 */
export interface ServiceOptions {
  /** Set in a cluster worker: /metrics then adds up every worker's registry. */
  readonly scrape?: AppDependencies['scrape'];
  /** The development token banner; a cluster's primary prints it once instead. */
  readonly banner?: boolean;
}

export async function startService(
  config: Config,
  logger: Logger,
  options: ServiceOptions = {},
): Promise<RunningService> {
  const { url: databaseUrl, embedded } = await prepareDatabase(config, logger);
  const pool = createPool({ ...config.database, url: databaseUrl }, logger);
  try {
    await pingDatabase(pool, config.database.connectTimeoutMs + 1000);

    const secret = await hmacSecret(config);
    const gate = new DatabaseGate({ resetTimeoutMs: config.database.breakerResetMs, volumeThreshold: 5 }, logger);
    const idempotency = new PostgresIdempotencyStore(pool, gate);
    let acceptingTraffic = true;
    const app = await buildApp({
      logger,
      products: createProductService(createProductRepository(pool, gate)),
      users: createUserService(createUserRepository(pool, gate)),
      authenticator: new Authenticator({ ...config.auth, secret }),
      idempotency,
      readiness: { isAcceptingTraffic: () => acceptingTraffic, pingDatabase: () => pingDatabase(pool, 1000) },
      poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
      scrape: options.scrape,
      settings: {
        bodyLimitBytes: config.bodyLimitBytes,
        // Derived from the database URL when unset: replicas of one deployment share it.
        cursorSecret: config.cursorSecret ?? createHash('sha256').update(`cursor-key\n${databaseUrl}`).digest('hex'),
        requireIfMatch: config.requireIfMatch,
        corsOrigins: config.cors.origins,
        rateLimit: config.rateLimit,
        trustProxy: config.trustProxy,
        shedding: {
          maxEventLoopDelayMs: config.shedding.maxEventLoopDelayMs,
          maxHeapUsedBytes:
            config.shedding.maxHeapUsedMb === undefined
              ? Math.floor(getHeapStatistics().heap_size_limit * 0.9)
              : config.shedding.maxHeapUsedMb * 2 ** 20,
        },
      },
    });
    await app.ready();
    if (!(await untilNotShedding(() => app.isUnderPressure(), 3000)))
      logger.warn('still shedding load 3 s after start-up; listening anyway');
    const url = await app.listen({ port: config.port, host: config.host });
    if (options.banner ?? true) await announceDevelopmentToken(config, secret, url);

    // Keys live 24 h; a sweep every 10 minutes keeps the table small. Any replica may run it.
    const sweep = setInterval(() => {
      idempotency.deleteExpired().then(
        (deleted) => deleted > 0 && logger.info({ deleted }, 'expired idempotency keys deleted'),
        (err: unknown) => logger.warn({ err }, 'idempotency key clean-up failed'),
      );
    }, 10 * 60_000);
    sweep.unref();

    let stopping: Promise<void> | undefined;
    const shutdown = () => {
      stopping ??= (async () => {
        acceptingTraffic = false;
        clearInterval(sweep);
        logger.info({ delay_ms: config.shutdown.delayMs }, 'shutdown started: readiness is now 503');
        // Keep serving while Kubernetes removes this pod from the Service's endpoints.
        await sleep(config.shutdown.delayMs);
        await app.close(); // stops accepting, then waits for in-flight requests
        await pool.end();
        gate.shutdown();
        await flushTelemetry(logger, 2000);
        await embedded?.stop();
        logger.info('shutdown complete');
      })();
      return stopping;
    };
    return { app, url, shutdown };
  } catch (err) {
    await pool.end().catch(() => undefined);
    await embedded?.stop();
    throw err;
  }
}

export interface SignalOptions {
  readonly logger: Logger;
  /** SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS: past this, give up on a clean exit. */
  readonly deadlineMs: number;
  readonly exit: (code: number) => void;
  /** Default SIGTERM and SIGINT. */
  readonly signals?: readonly NodeJS.Signals[];
  /**
   * A cluster worker ignores repeated signals: a process-group or cgroup-wide SIGTERM reaches
   * it besides the primary's own, and the primary enforces the deadline anyway.
   */
  readonly ignoreRepeats?: boolean;
}

/**
 * SIGTERM/SIGINT start one graceful shutdown and exit 0 when it completes; a second signal,
 * a failed shutdown or the deadline exit non-zero at once.
 */
export function exitOnSignals(
  signals: NodeJS.EventEmitter,
  shutdown: () => Promise<void>,
  options: SignalOptions,
): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled && options.ignoreRepeats === true) return;
    if (signalled) {
      options.logger.warn({ signal }, 'second signal: exiting immediately');
      options.exit(1);
      return;
    }
    signalled = true;
    options.logger.info({ signal }, 'signal received: shutting down');
    const deadline = setTimeout(() => {
      options.logger.error({ deadline_ms: options.deadlineMs }, 'shutdown did not finish in time: exiting');
      options.exit(1);
    }, options.deadlineMs);
    deadline.unref();
    shutdown().then(
      () => {
        clearTimeout(deadline);
        options.exit(0);
      },
      (err: unknown) => {
        clearTimeout(deadline);
        options.logger.error({ err }, 'shutdown failed');
        options.exit(1);
      },
    );
  };
  for (const signal of options.signals ?? ['SIGTERM', 'SIGINT']) signals.on(signal, onSignal);
}

/** Process-level concerns: configuration errors, crashes, exit codes. */
async function main(): Promise<void> {
  const config = loadConfigOrReport(process.env, (message) => process.stderr.write(`${message}\n`));
  if (config === null) process.exit(1);
  const logger = createLogger({
    level: config.logLevel,
    pretty: !config.production && process.stdout.isTTY,
    worker: cluster.worker?.id,
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception: exiting');
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection: exiting');
    process.exit(1);
  });
  const deadlineMs = config.shutdown.delayMs + config.shutdown.timeoutMs;
  const exit = (code: number) => process.exit(code);
  if (cluster.isPrimary && config.workers > 1) {
    killWorkersOnExit();
    const starting = startPrimary(config, logger, config.workers);
    // Handled from the start: a SIGTERM while workers start waits for them, then stops them.
    // The primary's deadline outlasts the workers' own, which it enforces with SIGKILL.
    exitOnSignals(process, async () => (await starting).shutdown(), { logger, deadlineMs: deadlineMs + 2000, exit });
    const primary = await starting.catch((err: unknown) => {
      logger.fatal({ err }, 'start-up failed');
      process.exit(1);
    });
    primary.failed.catch((err: unknown) => {
      logger.fatal({ err }, 'a worker failed to start: exiting');
      primary.shutdown().then(
        () => exit(1),
        () => exit(1),
      );
    });
    logger.info({ url: primary.url, workers: config.workers }, 'listening');
    return;
  }
  const worker = cluster.isWorker;
  const service = await startService(config, logger, {
    scrape: worker ? clusterScrape : undefined,
    banner: !worker,
  }).catch((err: unknown) => {
    logger.fatal({ err }, 'start-up failed');
    process.exit(1);
  });
  // A worker stops on the primary's SIGTERM only: Ctrl-C reaches the whole process group,
  // and the primary already turns it into one SIGTERM per worker.
  exitOnSignals(process, service.shutdown, {
    logger,
    deadlineMs,
    exit,
    signals: worker ? ['SIGTERM'] : ['SIGTERM', 'SIGINT'],
    ignoreRepeats: worker,
  });
  // (A worker whose primary dies is ended by node:cluster itself, at once.)
  if (worker) process.on('SIGINT', () => undefined);
  // Announced only once signals are handled: a supervisor acting on this line must not
  // find a window in which SIGTERM still has its default, draining-free effect.
  // In a cluster, the primary announces "listening" once every worker does.
  logger.info({ url: service.url }, worker ? 'worker listening' : 'listening');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
