import cluster from 'node:cluster';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { composeService, type ServiceParts } from './compose.js';
import { loadConfigOrReport, type Config } from './config.js';
import { announceDevelopmentToken } from './dev/development-auth.js';
import { createGrpcServer } from './grpc/server.js';
import type { App } from './http/app.js';
import { untilNotShedding } from './http/load-shedding.js';
import { createLogger } from './logger.js';
import { deleteExpiredIdempotencyKeys } from './postgres/idempotency-records.js';
import { createPool, pingDatabase } from './postgres/pool.js';
import { clusterScrape, killWorkersOnExit, startPrimary } from './process/cluster.js';
import { prepareDatabase } from './process/database-setup.js';
import { exitOnSignals } from './process/signals.js';
import { flushTelemetry } from './process/telemetry-flush.js';

export interface RunningService {
  readonly app: App;
  /** Base URL the server listens on, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  /** Base URL of native gRPC, e.g. http://127.0.0.1:9090. */
  readonly grpcUrl: string;
  /** Readiness → 503, wait SHUTDOWN_DELAY_MS, drain, close the pool, stop embedded PostgreSQL. */
  readonly shutdown: () => Promise<void>;
}

export interface ServiceOptions {
  /** Set in a cluster worker: /metrics then adds up every worker's registry. */
  readonly scrape?: ServiceParts['scrape'];
  /** The development token banner; a cluster's primary prints it once instead. */
  readonly banner?: boolean;
}

/**
 * Start-up: the database (embedded in development, then migrations), the pool, the wiring,
 * then the port. It opens only once the schema is in place and the database has answered,
 * so a startup probe that sees the port sees a working service.
 */
export async function startService(
  config: Config,
  logger: Logger,
  options: ServiceOptions = {},
): Promise<RunningService> {
  const { url: databaseUrl, embedded } = await prepareDatabase(config, logger);
  const pool = createPool({ ...config.database, url: databaseUrl }, logger);
  // The relay's one connection: under a burst of writes it must not wait behind them to publish.
  const relayPool = createPool({ ...config.database, url: databaseUrl, poolMax: 1 }, logger);
  try {
    await pingDatabase(pool, config.database.startupPingTimeoutMs);
    let acceptingTraffic = true;
    const { app, database, hmacSecret, rpc, events } = await composeService({
      config,
      pool,
      relayPool,
      logger,
      isAcceptingTraffic: () => acceptingTraffic,
      scrape: options.scrape,
    });
    await app.ready();
    if (!(await untilNotShedding(() => app.isUnderPressure(), config.listenWaitMs))) {
      logger.warn({ wait_ms: config.listenWaitMs }, 'still shedding load after the start-up wait; listening anyway');
    }
    const url = await app.listen({ port: config.port, host: config.host });
    const grpc = createGrpcServer(rpc, config.http.bodyLimitBytes);
    const grpcPort = await grpc.listen(config.grpcPort, config.host);
    const grpcUrl = `http://${config.host}:${grpcPort}`;
    logger.info({ url: grpcUrl }, 'gRPC listening');
    if (options.banner ?? true) await announceDevelopmentToken(config, hmacSecret, url);
    // The broker is not needed to serve: the publisher connects in the background, and events
    // wait in the outbox until it has.
    events.publisher?.start();
    events.relay.start();

    // Idempotency keys live 24 h; a periodic sweep keeps the table small. Any replica may run it.
    const sweep = setInterval(() => {
      deleteExpiredIdempotencyKeys(database).then(
        (deleted) => deleted > 0 && logger.info({ deleted }, 'expired idempotency keys deleted'),
        (err: unknown) => logger.warn({ err }, 'idempotency key clean-up failed'),
      );
    }, config.database.idempotencySweepIntervalMs);
    sweep.unref();

    let stopping: Promise<void> | undefined;
    const shutdown = () => {
      stopping ??= (async () => {
        acceptingTraffic = false;
        clearInterval(sweep);
        logger.info({ delay_ms: config.shutdown.delayMs }, 'shutdown started: readiness is now 503');
        // Keep serving while Kubernetes removes this pod from the Service's endpoints.
        await sleep(config.shutdown.delayMs);
        // Both stop accepting, then wait for requests and calls in flight.
        // gRPC connections still open a second before the deadline (a client that never finished
        // sending) are destroyed, so that the pool and telemetry still close in time.
        const grpcGraceMs = Math.max(0, config.shutdown.timeoutMs - 1000);
        // The relay finishes its pass (committed or rolled back: nothing is lost either way).
        await Promise.all([app.close(), grpc.close(grpcGraceMs), events.relay.stop()]);
        await events.publisher?.close();
        await Promise.all([pool.end(), relayPool.end()]);
        await flushTelemetry(logger, config.shutdown.telemetryFlushTimeoutMs);
        await embedded?.stop();
        logger.info('shutdown complete');
      })();
      return stopping;
    };
    return { app, url, grpcUrl, shutdown };
  } catch (err) {
    await Promise.all([pool.end().catch(() => undefined), relayPool.end().catch(() => undefined)]);
    await embedded?.stop();
    throw err;
  }
}

/** Process-level concerns: configuration errors, crashes, one process or a cluster, signals. */
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
  const exit = (code: number) => process.exit(code);
  if (cluster.isPrimary && config.workers > 1) {
    killWorkersOnExit();
    const starting = startPrimary(config, logger, config.workers);
    // Handled from the start: a SIGTERM while workers start waits for them, then stops them.
    // The primary's deadline outlasts the workers' own, which it enforces with SIGKILL.
    const deadlineMs = config.shutdown.primaryDeadlineMs;
    exitOnSignals(process, async () => (await starting).shutdown(), { logger, deadlineMs, exit });
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
    deadlineMs: config.shutdown.deadlineMs,
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
