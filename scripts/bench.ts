/**
 * `npm run bench`: builds and starts the production server (auth, validation, logging,
 * metrics and tracing all on), seeds 10,000 products and users (and products for W1-cold), measures PostgreSQL's own
 * ceiling for the same statements with pgbench, then drives each scenario over loopback
 * with wrk (or autocannon) and prints req/s, latency, errors, server CPU per request and
 * RSS, with each scenario's ratio to the ceiling. W1-floor and G1-floor send W1's and G1's
 * load to a bare node:http(2) server instead (bench/floor.ts): the stack's own cost, in the
 * same run. Options:
 *   --rounds N (default 1)   --duration S (15)   --warmup S (5)   --connections C (64)
 *   --first-warmup S (15: added to the warm-up of the first scenario a fresh process serves,
 *     which needs that long under full load to reach its steady cost: docs/performance.md)
 *   --only W1,W3             --soak S (runs W5 for S seconds and reports memory growth)
 *   --workers N|auto (auto: one HTTP worker per core, node:cluster; 1: a single process)
 *   --log FILE (the server's stdout there, kept; else, but for a soak, it goes to a file in
 *     /dev/shm that is searched for errors at the end and deleted. On a disk, use
 *     BENCH_SERVER_LOG_LEVEL=warn: a line per request written to a disk slows the server)
 * The server runs as the production image runs it: the Dockerfile's CMD (which `npm start`
 * runs too, a test holds them equal) and the image's ENV, whose NODE_OPTIONS cap the V8 heap.
 * Environment: BENCH_DATABASE_URL uses an existing server; BENCH_SERVER_X=y sets X=y for the
 * service (experiments only, e.g. BENCH_SERVER_NODE_OPTIONS= for V8's own heap sizing; the
 * reported figures are with the defaults).
 * Results go to bench-results/ (git-ignored). Traffic only ever goes to 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { mintToken } from '../src/dev/tokens.js';
import { SCOPES } from '../src/http/auth.js';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres.js';
import { migrate } from '../src/postgres/migrate.js';
import { startFloorServer } from './bench/floor.js';
import { runGrpcLoad } from './bench/grpc-load.js';
import { startNats, watchEventLag, type EventLag } from './bench/nats.js';
import { cacheCounts, hitRatios, startRedis } from './bench/redis.js';
import { hasWrk, runLoad, type LoadResult, type Scenario } from './bench/load.js';
import { findPgbench, PGBENCH_SCRIPTS, pgbenchTps } from './bench/pgbench.js';
import { cpuSeconds, rssMiB } from './bench/process-stats.js';
import { COLD_PRODUCTS, seed } from './bench/seed.js';
import { describeServerLog, serverLog, summariseServerLog, type LogSummary } from './bench/server-log.js';
import { freePort } from '../test/helpers/database-server.js';
import { runtimeImage } from '../test/helpers/dockerfile.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '1' },
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '5' },
    'first-warmup': { type: 'string', default: '15' },
    connections: { type: 'string', default: '64' },
    only: { type: 'string' },
    soak: { type: 'string' },
    workers: { type: 'string', default: 'auto' },
    log: { type: 'string' },
  },
});
const ROUNDS = Number(args.rounds);
const DURATION = Number(args.duration);
const WARMUP = Number(args.warmup);
const FIRST_WARMUP = Number(args['first-warmup']);
const CONNECTIONS = Number(args.connections);
const SOAK = args.soak === undefined ? undefined : Number(args.soak);
const WORKERS = args.workers;
const started = Date.now();
const progress = (message: string) =>
  process.stdout.write(`[bench +${((Date.now() - started) / 1000).toFixed(0)}s] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const rand = (n: number) => 1 + Math.floor(Math.random() * n);
const hex = (n: number) => n.toString(16).padStart(12, '0');
const productPath = () => `/api/v1/products/01900000-0000-7000-8000-${hex(rand(10_000))}`;
const newProduct = () =>
  JSON.stringify({ sku: `A-${Date.now()}-${randomBytes(6).toString('hex')}`, name: 'Bench product', price: 19.99 });

let coldRead = 0;

function scenarios(deepCursor: string): Scenario[] {
  const w1: Scenario = {
    name: 'W1',
    lua: `request = function()
  return wrk.format("GET", "/api/v1/products/" .. product_id(math.random(1, 10000)))
end`,
    next: () => ({ method: 'GET', path: productPath() }),
    // Warm: with the read cache on, every id has been read once before the warm-up.
    pass: Array.from({ length: 10_000 }, (_, i) => `/api/v1/products/01900000-0000-7000-8000-${hex(i + 1)}`),
  };
  return [
    w1,
    // The HTTP stack's floor: W1's requests answered by a bare node:http server (floor.ts).
    { name: 'W1-floor', lua: w1.lua, next: w1.next, floor: true },
    {
      // Cold: every request reads a product nothing has read before (each wrk thread walks its
      // own half of the cold ids); the warm-up runs W1's requests, so the JIT is warm, not the cache.
      name: 'W1-cold',
      lua: `local threads = 0
function setup(thread)
  thread:set("first", threads * ${COLD_PRODUCTS / 2})
  threads = threads + 1
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/v1/products/" .. cold_product_id(first + n))
end`,
      next: () => ({ method: 'GET', path: `/api/v1/products/01900000-0000-7000-a000-${hex(++coldRead)}` }),
      warmup: w1,
    },
    // GetProduct over native gRPC: W1's request, driven by runGrpcLoad instead of wrk; warm as
    // W1 is (W1-cold, run before it, pushes W1's ids out of the near tier).
    { name: 'G1', lua: '', next: () => ({ method: 'GET', path: productPath() }), pass: w1.pass, grpc: true },
    // G1's floor: the same calls answered by a bare node:http2 server (floor.ts).
    { name: 'G1-floor', lua: '', next: () => ({ method: 'GET', path: productPath() }), grpc: true, floor: true },
    {
      name: 'W2',
      lua: 'request = function() return wrk.format("GET", "/api/v1/products?limit=20") end',
      next: () => ({ method: 'GET', path: '/api/v1/products?limit=20' }),
    },
    {
      name: 'W2-deep',
      lua: `request = function() return wrk.format("GET", "/api/v1/products?limit=20&cursor=${deepCursor}") end`,
      next: () => ({ method: 'GET', path: `/api/v1/products?limit=20&cursor=${deepCursor}` }),
    },
    {
      name: 'W3',
      lua: `request = function()
  local body = '{"sku":"' .. unique_sku() .. '","name":"Bench product","price":19.99}'
  return wrk.format("POST", "/api/v1/products", nil, body)
end`,
      next: () => ({ method: 'POST', path: '/api/v1/products', body: newProduct() }),
    },
    {
      name: 'W4',
      lua: 'request = function() return wrk.format("GET", "/api/v1/users/" .. user_id(math.random(1, 10000))) end',
      next: () => ({ method: 'GET', path: `/api/v1/users/01900000-0000-7000-9000-${hex(rand(10_000))}` }),
    },
    {
      name: 'W5',
      lua: `request = function()
  if math.random() < 0.9 then return wrk.format("GET", "/api/v1/products/" .. product_id(math.random(1, 10000))) end
  local body = '{"sku":"' .. unique_sku() .. '","name":"Bench product","price":19.99}'
  return wrk.format("POST", "/api/v1/products", nil, body)
end`,
      next: () =>
        Math.random() < 0.9
          ? { method: 'GET', path: productPath() }
          : { method: 'POST', path: '/api/v1/products', body: newProduct() },
    },
  ];
}

/** A stand-in OTLP/HTTP collector: spans are really exported, then discarded. */
async function otlpSink(): Promise<{ url: string; server: Server; received: () => number }> {
  let requests = 0;
  const server = createServer((request, response) => {
    request.resume().on('end', () => {
      requests++;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`,
    server,
    received: () => requests,
  };
}

/** Starts the server with the image's command line (which `npm start` runs too) and `env`. */
async function startServer(
  command: readonly string[],
  env: Record<string, string>,
  logPath: string | undefined,
): Promise<ChildProcess> {
  const [program, ...rest] = command;
  if (program !== 'node') throw new Error(`the image does not run node directly: ${command.join(' ')}`);
  const child = spawn(process.execPath, rest, {
    env: { PATH: process.env.PATH ?? '', ...env },
    // Production logs a JSON line per request to stdout: written to a file in memory, or discarded.
    stdio: ['ignore', logPath === undefined ? 'ignore' : openSync(logPath, 'a'), 'inherit'],
  });
  const url = `http://127.0.0.1:${env.PORT}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return child;
    await sleep(100);
  }
  throw new Error('server did not become ready');
}

/**
 * What the server answered other than 2xx since it started, by status and route, from its
 * own http_requests_total (wrk only counts them): the first thing to know about an error.
 */
async function nonSuccessResponses(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const found: string[] = [];
  for (const match of text.matchAll(/^http_requests_total\{([^}]*)\} (\d+)/gm)) {
    const labels = new Map([...(match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1] ?? '', l[2] ?? '']));
    const status = labels.get('status_code') ?? '?';
    if (!status.startsWith('2'))
      found.push(`${status} ${labels.get('method') ?? '?'} ${labels.get('route') ?? '?'}: ${match[2] ?? '?'}`);
  }
  return found.length === 0 ? 'none' : found.join('; ');
}

async function scrapeHeapMiB(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? 0) / 1024 / 1024;
}

interface Measured extends LoadResult {
  readonly name: string;
  /** Hit ratio per cache tier over the measured run ('' with the cache off). */
  readonly cacheHits: string;
  readonly cpuUsPerRequest: number;
  readonly rssMaxMiB: number;
}

async function measure(
  generator: 'wrk' | 'autocannon',
  urls: { rest: string; grpc: string },
  scenario: Scenario,
  token: string,
  pid: number,
  dir: string,
  warmupSeconds: number,
): Promise<Measured> {
  const load = (seconds: number) =>
    scenario.grpc === true
      ? runGrpcLoad(urls.grpc, token, CONNECTIONS, seconds)
      : runLoad(generator, urls.rest, scenario, token, CONNECTIONS, seconds, dir);
  if (scenario.pass !== undefined) await readOnce(urls.rest, scenario.pass, token);
  const warmup = scenario.warmup ?? scenario;
  if (warmupSeconds > 0) {
    if (warmup === scenario) await load(warmupSeconds);
    else await runLoad(generator, urls.rest, warmup, token, CONNECTIONS, warmupSeconds, dir);
  }
  // The floor server has no cache and no /metrics.
  const counts = () => (scenario.floor === true ? Promise.resolve({}) : cacheCounts(urls.rest));
  const cacheBefore = await counts();
  let rssMax = 0;
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, ...rssMiB(pid))), 500);
  const cpuBefore = cpuSeconds(pid);
  const result = await load(DURATION);
  const cpu = cpuSeconds(pid) - cpuBefore;
  clearInterval(sampler);
  return {
    name: scenario.name,
    ...result,
    cacheHits: hitRatios(cacheBefore, await counts()),
    cpuUsPerRequest: result.requests > 0 ? (cpu * 1e6) / result.requests : NaN,
    rssMaxMiB: rssMax,
  };
}

/** Reads each path once (32 at a time), as a client would: W1's pass that warms the read cache. */
async function readOnce(url: string, paths: readonly string[], token: string): Promise<void> {
  let next = 0;
  const reader = async () => {
    while (next < paths.length) {
      const response = await fetch(`${url}${paths[next++]}`, { headers: { authorization: `Bearer ${token}` } });
      if (!response.ok) throw new Error(`the pass over W1's ids: ${response.status} ${await response.text()}`);
      await response.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: 32 }, reader));
}

const median = (values: number[]) => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return sorted.length === 0
    ? NaN
    : sorted.length % 2 === 1
      ? (sorted[(sorted.length - 1) / 2] ?? NaN)
      : ((sorted[sorted.length / 2 - 1] ?? 0) + (sorted[sorted.length / 2] ?? 0)) / 2;
};
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-'));
  await chmod(dir, 0o755);
  // Run in reverse order, once, whether the bench ends, fails, is interrupted or runs out of
  // time: the server and the database it started would otherwise outlive it. (wrk and
  // pgbench, if running, stop by themselves at the end of their fixed duration.)
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  const cleanUp = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  const stop = (code: number, why: string) => {
    process.stderr.write(`bench: ${why}, stopping the server and the database\n`);
    // A cleanup that hangs (a server that ignores SIGTERM) must not keep the bench alive.
    setTimeout(() => process.exit(code), 30_000).unref();
    void cleanUp().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => stop(130, 'interrupted'));
  process.once('SIGTERM', () => stop(143, 'terminated'));
  const hardStop = setTimeout(
    () => stop(2, 'hard time limit reached'),
    ((SOAK ?? 0) + ROUNDS * 10 * (DURATION + WARMUP + 20) + 2 * FIRST_WARMUP + 300) * 1000,
  );
  hardStop.unref();
  try {
    const generator = (await hasWrk()) ? 'wrk' : 'autocannon';
    const pgbench = findPgbench();
    progress(
      `machine: ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), ` +
        `${(totalmem() / 2 ** 30).toFixed(0)} GiB; load generator: ${generator}; pgbench: ${pgbench ?? 'not found'}`,
    );

    let databaseUrl = process.env.BENCH_DATABASE_URL;
    if (databaseUrl === undefined) {
      progress('starting a dedicated embedded PostgreSQL');
      const db = await startEmbeddedPostgres({
        dir: join(dir, 'pg'),
        port: await freePort(),
        persistent: false,
        logger: pino({ level: 'silent' }),
      });
      cleanups.push(() => db.stop());
      databaseUrl = db.url;
    }
    progress(`migrating and seeding 10,000 products and 10,000 users, and ${fmt(COLD_PRODUCTS)} products for W1-cold`);
    await migrate(databaseUrl, pino({ level: 'silent' }));
    await seed(databaseUrl);

    // Events published to a local JetStream, as with every feature on; without the binary the
    // outbox still records them (the feed), and the report says so.
    const natsPort = await freePort();
    const nats = await startNats(natsPort, join(dir, 'nats'));
    if (nats === null) progress('nats-server not found: events are recorded but not published');
    else cleanups.push(() => Promise.resolve(nats.kill('SIGTERM')));
    const natsUrl = nats === null ? undefined : `nats://127.0.0.1:${natsPort}`;

    // The shared read cache, as with every feature on; without the binary, the near cache alone.
    const redisPort = await freePort();
    const redis = await startRedis(redisPort);
    if (redis === null) progress('redis-server not found: the read cache runs its near tier only');
    else cleanups.push(() => Promise.resolve(redis.kill('SIGTERM')));

    const sink = await otlpSink();
    cleanups.push(() => new Promise((resolve) => sink.server.close(resolve)));
    const secret = randomBytes(32).toString('hex');
    const port = String(await freePort());
    const grpcPort = String(await freePort());
    const image = runtimeImage();
    const serverEnv: Record<string, string> = {
      // The production image's ENV first (its NODE_OPTIONS cap the heap), then the bench's own.
      ...image.env,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: port,
      GRPC_PORT: grpcPort,
      DATABASE_URL: databaseUrl,
      AUTH_JWT_SECRET: secret,
      MIGRATE_ON_START: 'false',
      WORKERS,
      LOG_LEVEL: 'info',
      // The limiter still counts every request; the limit itself is lifted so one caller can load the server.
      RATE_LIMIT_MAX: '10000000',
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
      ...(natsUrl !== undefined && { NATS_URL: natsUrl, NATS_STREAM: 'BENCH_EVENTS' }),
      ...(redis !== null && { REDIS_URL: `redis://127.0.0.1:${redisPort}` }),
      // Experiments: BENCH_SERVER_X=y reaches the server as X=y (e.g. BENCH_SERVER_OTEL_SDK_DISABLED=true).
      ...Object.fromEntries(
        Object.entries(process.env)
          .filter(([k]) => k.startsWith('BENCH_SERVER_'))
          .map(([k, v]) => [k.slice('BENCH_SERVER_'.length), v ?? '']),
      ),
    };
    progress(
      `starting the production server (NODE_ENV=production, NODE_OPTIONS=${serverEnv.NODE_OPTIONS || '(none)'}, ` +
        `MALLOC_ARENA_MAX=${serverEnv.MALLOC_ARENA_MAX || '(unset)'}, WORKERS=${WORKERS}, ` +
        `auth, logging, metrics, tracing → OTLP sink, events → ${natsUrl ?? 'outbox only'}) on 127.0.0.1:${port}`,
    );
    const log = await serverLog(args.log, SOAK !== undefined);
    let logRead = false;
    cleanups.push(async () => {
      if (!log.temporary || log.path === undefined) return;
      // Kept when the run failed before reading it: what the server said is then the first thing to see.
      if (logRead) await rm(log.path, { force: true });
      else process.stderr.write(`bench: the server's log is kept in ${log.path}\n`);
    });
    const server = await startServer(image.command, serverEnv, log.path);
    cleanups.push(async () => {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    });
    const url = `http://127.0.0.1:${port}`;
    const token = await mintToken(secret, { subject: 'bench', scopes: SCOPES, ttlSeconds: 3 * 3600 });

    let cursor = '';
    for (let page = 0; page < 450; page++) {
      const response = await fetch(`${url}/api/v1/products?limit=20${cursor ? `&cursor=${cursor}` : ''}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      // A failed page would otherwise restart the walk from the first page, unnoticed.
      if (!response.ok)
        throw new Error(
          `taking the W2-deep cursor: page ${page + 1} answered ${response.status}: ${await response.text()}`,
        );
      cursor = ((await response.json()) as { next_cursor: string }).next_cursor;
    }
    progress('W2-deep cursor taken 9,000 rows into the default sort');

    const all = scenarios(cursor);
    const chosen = args.only === undefined ? all : all.filter((s) => args.only?.split(',').includes(s.name));

    if (SOAK !== undefined) {
      await soak(generator, url, all.find((s) => s.name === 'W5') ?? all[0]!, token, server.pid ?? 0, dir);
      return;
    }

    // Started when a scenario first asks for it, as many processes as the service has.
    let floor: { url: string; grpcUrl: string; pid: number } | undefined;
    const floorServer = async () => {
      if (floor === undefined) {
        const [floorPort, floorGrpcPort] = [await freePort(), await freePort()];
        const workers = WORKERS === 'auto' ? availableParallelism() : Number(WORKERS);
        const nodeOptions = (serverEnv.NODE_OPTIONS ?? '').split(' ').filter((option) => option !== '');
        const child = await startFloorServer(floorPort, floorGrpcPort, workers, dir, nodeOptions);
        cleanups.push(() => Promise.resolve(child.kill('SIGTERM')));
        floor = {
          url: `http://127.0.0.1:${floorPort}`,
          grpcUrl: `http://127.0.0.1:${floorGrpcPort}`,
          pid: child.pid ?? 0,
        };
      }
      return floor;
    };

    const rounds: Round[] = [];
    const warmedUp = new Set<number>();
    for (let round = 1; round <= ROUNDS; round++) {
      let pg: { W1: number; W3: number } | null = null;
      if (pgbench !== null) {
        progress(`round ${round}/${ROUNDS}: pgbench W1 (16 clients, -j 1, -M prepared, ${DURATION} s)`);
        const w1 = await pgbenchTps(pgbench, databaseUrl, PGBENCH_SCRIPTS.W1, DURATION, dir);
        progress(`round ${round}/${ROUNDS}: pgbench W3`);
        const w3 = await pgbenchTps(pgbench, databaseUrl, PGBENCH_SCRIPTS.W3, DURATION, dir);
        pg = { W1: w1, W3: w3 };
        progress(`round ${round}/${ROUNDS}: database ceiling W1 ${fmt(w1)} tps, W3 ${fmt(w3)} tps`);
      }
      const results: Measured[] = [];
      const eventLags: EventLag[] = [];
      for (const scenario of chosen) {
        const target =
          scenario.floor === true
            ? await floorServer()
            : { url, grpcUrl: `http://127.0.0.1:${grpcPort}`, pid: server.pid ?? 0 };
        // A fresh process compiles its hot code under the load itself: two workers sharing two
        // cores with the load took about ten seconds of W1 to settle (112 µs per request in the
        // first second, 37 µs by the tenth), so the first scenario each process serves is warmed longer.
        const warmupSeconds = WARMUP + (warmedUp.has(target.pid) ? 0 : FIRST_WARMUP);
        warmedUp.add(target.pid);
        progress(
          `round ${round}/${ROUNDS}: ${scenario.name} ` +
            `(${warmupSeconds} s warm-up, ${DURATION} s measured, ${CONNECTIONS} connections)`,
        );
        const urls = { rest: target.url, grpc: target.grpcUrl };
        // Under W3 an independent subscriber times each event from its change to its arrival.
        const lag =
          scenario.name === 'W3' && natsUrl !== undefined ? await watchEventLag(natsUrl, 'BENCH_EVENTS') : null;
        const result = await measure(generator, urls, scenario, token, target.pid, dir, warmupSeconds);
        if (lag !== null) {
          await sleep(2000);
          eventLags.push(await lag.stop());
        }
        results.push(result);
        progress(
          `round ${round}/${ROUNDS}: ${scenario.name} ${fmt(result.rps)} req/s, ` +
            `p99 ${fmt(result.p99Ms, 1)} ms, ${fmt(result.cpuUsPerRequest)} µs CPU/req` +
            (result.cacheHits === '' ? '' : `, cache hit ratio ${result.cacheHits}`),
        );
      }
      rounds.push({ pg, results, eventLag: eventLags.at(-1) });
    }
    const refused = await nonSuccessResponses(url);
    const logSummary = log.path === undefined ? undefined : await summariseServerLog(log.path);
    logRead = true;
    report(rounds, generator, sink.received(), refused, logSummary);
  } finally {
    await cleanUp();
  }
}

interface Round {
  readonly pg: { W1: number; W3: number } | null;
  readonly results: Measured[];
  /** Under W3, with a broker: change → message in the stream, as a subscriber saw it. */
  readonly eventLag: EventLag | undefined;
}

function report(
  rounds: Round[],
  generator: string,
  spanExports: number,
  refused: string,
  logSummary: LogSummary | undefined,
): void {
  const names = rounds[0]?.results.map((r) => r.name) ?? [];
  const pgW1 = median(rounds.map((r) => r.pg?.W1 ?? NaN));
  const pgW3 = median(rounds.map((r) => r.pg?.W3 ?? NaN));
  const ceiling = (name: string) => (name === 'W3' ? pgW3 : pgW1);
  const rows = names.map((name) => {
    const of = (key: keyof Measured) =>
      median(rounds.map((r) => Number(r.results.find((m) => m.name === name)?.[key] ?? NaN)));
    return {
      name,
      rps: of('rps'),
      p50Ms: of('p50Ms'),
      p99Ms: of('p99Ms'),
      non2xx: of('non2xx'),
      socketErrors: of('socketErrors'),
      cpuUsPerRequest: of('cpuUsPerRequest'),
      rssMaxMiB: of('rssMaxMiB'),
      ratio: of('rps') / ceiling(name),
    };
  });
  const lines = [
    '',
    'scenario   req/s    p50 ms   p99 ms   errors   CPU µs/req   RSS MiB   ' +
      `ratio to pgbench (${ROUNDS} round${ROUNDS === 1 ? '' : 's'}, median)`,
    ...rows.map((r) =>
      [
        r.name.padEnd(9),
        fmt(r.rps).padStart(7),
        fmt(r.p50Ms, 2).padStart(8),
        fmt(r.p99Ms, 2).padStart(8),
        fmt(r.non2xx + r.socketErrors).padStart(8),
        fmt(r.cpuUsPerRequest).padStart(12),
        fmt(r.rssMaxMiB).padStart(9),
        `${fmt(r.ratio, 2)} × ${r.name === 'W3' ? 'pgbench-W3' : 'pgbench-W1'}`.padStart(24),
      ].join(' '),
    ),
    `pgbench    W1 ${fmt(pgW1)} tps, W3 ${fmt(pgW3)} tps   (span exports received by the OTLP sink: ${spanExports})`,
    "non-2xx answers by the server's own count since it started, readiness polls included " +
      `(status method route: n): ${refused}`,
  ];
  const get = (name: string) => rows.find((r) => r.name === name);
  const [service, bare] = [get('W1'), get('W1-floor')];
  if (service !== undefined && bare !== undefined) {
    // What the service adds to the HTTP stack, in terms that move less with the machine's hour.
    const times = (of: (r: NonNullable<typeof service>) => number) => `${fmt(of(service) / of(bare), 2)} ×`;
    lines.push(
      `W1 against W1-floor (the bare node:http server): CPU per request ${times((r) => r.cpuUsPerRequest)}, ` +
        `p99 ${times((r) => r.p99Ms)}, req/s ${times((r) => r.rps)}`,
    );
  }
  if (logSummary !== undefined) lines.push(...describeServerLog(logSummary));
  const hits = names.flatMap((name) => {
    const perRound = rounds.map((r) => r.results.find((m) => m.name === name)?.cacheHits ?? '').filter((h) => h);
    return perRound.length === 0 ? [] : [`${name} ${perRound.join(' | ')}`];
  });
  if (hits.length > 0) lines.push(`cache hit ratio over each measured run: ${hits.join('; ')}`);
  const lagP99 = median(rounds.map((r) => r.eventLag?.p99Ms ?? NaN));
  if (rounds.some((r) => r.eventLag !== undefined)) {
    lines.push(
      `W3 events  ${fmt(median(rounds.map((r) => r.eventLag?.received ?? NaN)))} received by a subscriber, ` +
        `lag change → stream p50 ${fmt(median(rounds.map((r) => r.eventLag?.p50Ms ?? NaN)))} ms, p99 ${fmt(lagP99)} ms`,
    );
  }
  const targets: [string, boolean | null][] = [
    ['W1 ≥ 0.55 × pgbench-W1', get('W1') ? (get('W1')?.ratio ?? 0) >= 0.55 : null],
    ['W2 ≥ 0.25 × pgbench-W1', get('W2') ? (get('W2')?.ratio ?? 0) >= 0.25 : null],
    ['W3 ≥ 0.55 × pgbench-W3', get('W3') ? (get('W3')?.ratio ?? 0) >= 0.55 : null],
    ['W1 server CPU ≤ 80 µs/request', get('W1') ? (get('W1')?.cpuUsPerRequest ?? Infinity) <= 80 : null],
    [
      'W2-deep ≥ 0.9 × W2',
      get('W2') && get('W2-deep') ? (get('W2-deep')?.rps ?? 0) >= 0.9 * (get('W2')?.rps ?? Infinity) : null,
    ],
    ['zero non-2xx and socket errors', rows.every((r) => r.non2xx + r.socketErrors === 0)],
    ['W1 p99 ≤ 25 ms', get('W1') ? (get('W1')?.p99Ms ?? Infinity) <= 25 : null],
    [
      'G1 (gRPC GetProduct) ≥ W1',
      get('G1') && get('W1') ? (get('G1')?.rps ?? 0) >= (get('W1')?.rps ?? Infinity) : null,
    ],
    ['RSS ≤ 160 MiB per process', rows.filter((r) => !r.name.endsWith('-floor')).every((r) => r.rssMaxMiB <= 160)],
    ['W3 event lag p99 ≤ 100 ms', Number.isFinite(lagP99) ? lagP99 <= 100 : null],
  ];
  // The read cache's own targets (issue 23), when it was on: W1 is then the warm run.
  const cached = rounds.some((r) => r.results.some((m) => m.cacheHits !== ''));
  const warm = get('W1');
  targets.push(
    ['cache on: W1 (warm) ≥ 1.0 × pgbench-W1', cached && warm ? warm.ratio >= 1 : null],
    ['cache on: W1 (warm) server CPU ≤ 40 µs/request', cached && warm ? warm.cpuUsPerRequest <= 40 : null],
    ['cache on: W1 (warm) p99 ≤ 10 ms', cached && warm ? warm.p99Ms <= 10 : null],
  );
  lines.push(
    '',
    'targets:',
    ...targets.map(([label, ok]) => `  ${ok === null ? 'n/a ' : ok ? 'met ' : 'MISS'}  ${label}`),
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  void saveResults({
    generator,
    seconds: { duration: DURATION, warmup: WARMUP, firstWarmup: FIRST_WARMUP },
    rounds,
    rows,
    pgbench: { W1: pgW1, W3: pgW3 },
    targets: Object.fromEntries(targets),
    refused,
    serverLog: logSummary,
  });
}

async function saveResults(data: unknown): Promise<void> {
  await mkdir('bench-results', { recursive: true });
  const file = join('bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(
    file,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        duration: DURATION,
        connections: CONNECTIONS,
        workers: WORKERS,
        ...(data as object),
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`results written to ${file}\n`);
}

async function soak(
  generator: 'wrk' | 'autocannon',
  url: string,
  scenario: Scenario,
  token: string,
  pid: number,
  dir: string,
): Promise<void> {
  const chunk = 30;
  const chunks = Math.max(2, Math.round((SOAK ?? 600) / chunk));
  // RSS takes about a minute of load to settle (V8 grows its heap, then holds it), so the
  // soak's baseline is taken after a 60 s warm-up unless --warmup asks for longer.
  const warmup = Math.max(WARMUP, 60);
  progress(`soak: ${scenario.name} for ${chunks * chunk} s in ${chunk} s steps, after a ${warmup} s warm-up`);
  await runLoad(generator, url, scenario, token, CONNECTIONS, warmup, dir);
  // Heap and RSS follow the collector's sawtooth (here 230–380 MiB within a minute), so a
  // point taken at the start and one at the end mostly say where each fell on a tooth. A
  // leak shows as a rising floor: memory is sampled every 2 s, and the lowest value of each
  // third of the run (after a collection) is compared, with the peaks shown beside.
  const points: { at: number; heapMiB: number; rssMiB: number }[] = [];
  const begun = Date.now();
  let sampling = Promise.resolve();
  const sampler = setInterval(() => {
    sampling = sampling
      .then(
        async () =>
          void points.push({
            at: (Date.now() - begun) / 1000,
            heapMiB: await scrapeHeapMiB(url),
            rssMiB: Math.max(...rssMiB(pid)),
          }),
      )
      .catch(() => undefined);
  }, 2000);
  const chunkResults: { at: number; rps: number; errors: number; non2xx: number; socketErrors: number }[] = [];
  const range = (from: number, to: number, key: 'heapMiB' | 'rssMiB') => {
    const values = points.filter((p) => p.at >= from && p.at < to).map((p) => p[key]);
    return { floor: Math.min(...values), peak: Math.max(...values) };
  };
  for (let i = 1; i <= chunks; i++) {
    const result = await runLoad(generator, url, scenario, token, CONNECTIONS, chunk, dir);
    const errors = result.non2xx + result.socketErrors;
    chunkResults.push({
      at: i * chunk,
      rps: result.rps,
      errors,
      non2xx: result.non2xx,
      socketErrors: result.socketErrors,
    });
    const heap = range((i - 1) * chunk, i * chunk, 'heapMiB');
    const rss = range((i - 1) * chunk, i * chunk, 'rssMiB');
    progress(
      `soak ${i * chunk}/${chunks * chunk} s: ${fmt(result.rps)} req/s, ` +
        `heap ${fmt(heap.floor, 1)}–${fmt(heap.peak, 1)} MiB, RSS ${fmt(rss.floor, 1)}–${fmt(rss.peak, 1)} MiB, ` +
        `errors ${errors}${errors > 0 ? ` (non-2xx ${result.non2xx}, socket ${result.socketErrors})` : ''}`,
    );
  }
  clearInterval(sampler);
  const refused = await nonSuccessResponses(url);
  await sampling;
  const total = chunks * chunk;
  const thirds = (['start', 'middle', 'end'] as const).map((label, k) => {
    const [from, to] = [(k * total) / 3, ((k + 1) * total) / 3];
    return { label, from, to, heap: range(from, to, 'heapMiB'), rss: range(from, to, 'rssMiB') };
  });
  const growth = (a: number | undefined, b: number | undefined) => (((b ?? 0) - (a ?? 0)) / (a ?? 1)) * 100;
  const [first, , last] = thirds;
  const span = (r: { floor: number; peak: number }) => `${fmt(r.floor, 1).padStart(7)} / ${fmt(r.peak, 1).padEnd(7)}`;
  process.stdout.write(
    [
      '',
      'soak     window s    heap MiB floor / peak   RSS MiB floor / peak   ' +
        `(${points.length} samples, heap summed over processes, RSS of the largest)`,
      ...thirds.map(
        (t) =>
          `${t.label.padEnd(8)} ${`${fmt(t.from)}–${fmt(t.to)}`.padEnd(10)}  ` +
          `${span(t.heap).padEnd(22)}  ${span(t.rss)}`,
      ),
      `growth of the floor, start→end: heap ${fmt(growth(first?.heap.floor, last?.heap.floor), 1)} %, ` +
        `RSS ${fmt(growth(first?.rss.floor, last?.rss.floor), 1)} % (target ≤ 10 %); ` +
        `errors ${chunkResults.reduce((n, c) => n + c.errors, 0)}`,
      "non-2xx answers by the server's own count since it started, readiness polls included " +
        `(status method route: n): ${refused}`,
      '',
    ].join('\n'),
  );
  await saveResults({ generator, soak: { chunks: chunkResults, points, thirds, refused } });
}

await main();
