import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Config } from '../config.js';
import { announceDevelopmentToken, hmacSecret } from '../dev/development-auth.js';
import { prepareDatabase } from './database-setup.js';

/**
 * WORKERS > 1: one primary process supervises that many HTTP workers (node:cluster), so
 * the service uses more than one core. The primary owns what must happen once per pod:
 * embedded PostgreSQL, migrations, signals, and adding up the workers' metrics; it serves
 * no requests. Each worker is the ordinary single-process service (main.ts) with its own
 * pool, caches, rate-limit counters and probes.
 */

const SCRAPE_REQUEST = 'service:scrape';
const SCRAPE_RESPONSE = 'service:scrape-result';

interface ScrapeRequest {
  readonly type: typeof SCRAPE_REQUEST;
  readonly id: number;
}
interface ScrapeResponse {
  readonly type: typeof SCRAPE_RESPONSE;
  readonly id: number;
  readonly body?: string;
  readonly error?: string;
}

const isMessage = <T extends { type: string }>(message: unknown, type: T['type']): message is T =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;

export interface Primary {
  /** Resolves when every worker has drained and exited, and embedded PostgreSQL stopped. */
  readonly shutdown: () => Promise<void>;
  /** Rejects when a worker fails before it ever served (then the pod should restart). */
  readonly failed: Promise<never>;
  readonly url: string;
}

/** Starts the primary: database, migrations, then `count` workers; resolves once all listen. */
export async function startPrimary(config: Config, logger: Logger, count: number): Promise<Primary> {
  const { url: databaseUrl, embedded } = await prepareDatabase(config, logger);
  // Workers use the primary's database (the embedded one, if started) and never migrate.
  const env = { DATABASE_URL: databaseUrl, MIGRATE_ON_START: 'false' };
  try {
    // Creates the development secret file once, before workers race to read it.
    const secret = await hmacSecret(config);

    const aggregator = new AggregatorRegistry();
    let stopping = false;
    let failWith: (err: Error) => void = () => undefined;
    const failed = new Promise<never>((_resolve, reject) => (failWith = reject));
    failed.catch(() => undefined); // observed by main(); never an unhandled rejection here

    const fork = (): Worker => {
      const worker = cluster.fork(env);
      logger.info({ worker: worker.id, pid: worker.process.pid }, 'worker started');
      let served = false;
      worker.on('listening', () => (served = true));
      worker.on('message', (message: unknown) => {
        if (!isMessage<ScrapeRequest>(message, SCRAPE_REQUEST)) return;
        aggregator.clusterMetrics().then(
          (body) => worker.send({ type: SCRAPE_RESPONSE, id: message.id, body } satisfies ScrapeResponse),
          (err: unknown) =>
            worker.send({ type: SCRAPE_RESPONSE, id: message.id, error: String(err) } satisfies ScrapeResponse),
        );
      });
      worker.on('exit', (code, signal) => {
        if (stopping) return;
        if (!served) {
          failWith(new Error(`worker ${worker.id} exited during start-up (code ${code}, signal ${signal ?? 'none'})`));
          return;
        }
        // A crashed worker loses its in-flight requests, as a crashed single process would;
        // the others keep serving while a replacement starts.
        logger.error({ worker: worker.id, code, signal }, 'worker exited unexpectedly: starting a replacement');
        fork();
      });
      return worker;
    };

    const workers = Array.from({ length: count }, fork);
    try {
      // A worker that exits before listening rejects `failed`.
      await Promise.race([Promise.all(workers.map((worker) => once(worker, 'listening'))), failed]);
    } catch (err) {
      stopping = true;
      await stopWorkers(0);
      throw err;
    }
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
    await announceDevelopmentToken(config, secret, url);

    let stopped: Promise<void> | undefined;
    const shutdown = () => {
      stopped ??= (async () => {
        stopping = true;
        logger.info({ workers: Object.keys(cluster.workers ?? {}).length }, 'shutdown started: stopping workers');
        // Each worker runs its own graceful shutdown (readiness 503, delay, drain, pool end).
        const codes = await stopWorkers(config.shutdown.deadlineMs);
        await embedded?.stop();
        if (codes.some((code) => code !== 0))
          throw new Error(`a worker did not shut down cleanly (exit codes ${codes.join(', ')})`);
        logger.info('shutdown complete');
      })();
      return stopped;
    };
    return { shutdown, failed, url };
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
}

/** SIGTERM to every worker; waits for all to exit (SIGKILL past `graceMs`), returns exit codes. */
async function stopWorkers(graceMs: number): Promise<number[]> {
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
  const exits = workers.map((worker) =>
    worker.isDead()
      ? Promise.resolve(worker.process.exitCode ?? 1)
      : new Promise<number>((resolve) => worker.once('exit', (code: number | null) => resolve(code ?? 1))),
  );
  for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGTERM');
  const killer = setTimeout(() => {
    for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGKILL');
  }, graceMs + 1000);
  const codes = await Promise.all(exits);
  clearTimeout(killer);
  return codes;
}

/** Never leave workers behind: a primary that exits (even abruptly) takes them down. */
export function killWorkersOnExit(): void {
  process.on('exit', () => {
    for (const worker of Object.values(cluster.workers ?? {}))
      if (worker !== undefined && !worker.isDead()) worker.process.kill('SIGKILL');
  });
}

/**
 * In a worker: the function that answers /metrics. The scrape reaches one worker, but must
 * count the whole pod, so the worker asks the primary, which collects every worker's
 * registry through prom-client's cluster protocol and adds them up.
 */
export function clusterScrape(local: Registry, timeoutMs = 5000): () => Promise<string> {
  AggregatorRegistry.setRegistries([local]);
  // Constructing one is what makes prom-client answer the primary's requests in a worker.
  new AggregatorRegistry();
  const pending = new Map<number, { resolve: (body: string) => void; reject: (err: Error) => void }>();
  let next = 0;
  process.on('message', (message: unknown) => {
    if (!isMessage<ScrapeResponse>(message, SCRAPE_RESPONSE)) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.body !== undefined) waiter?.resolve(message.body);
    else waiter?.reject(new Error(message.error ?? 'scrape failed'));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('the primary did not answer the metrics request in time'));
      }, timeoutMs);
      const settle =
        <T>(finish: (value: T) => void) =>
        (value: T) => {
          clearTimeout(timer);
          finish(value);
        };
      pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      process.send?.({ type: SCRAPE_REQUEST, id } satisfies ScrapeRequest);
    });
}
