import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';

/**
 * The one place that reads process.env. Every other module receives the frozen Config
 * object (or the slice of it that it needs) as an argument.
 */

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be an integer between ${min} and ${max}`)
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, `must be an integer between ${min} and ${max}`)
        .max(max, `must be an integer between ${min} and ${max}`),
    );

const boolean = z
  .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1');

const csv = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

const emptyAsUndefined = (v: unknown) => (v === '' ? undefined : v);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(emptyAsUndefined, schema.optional());
const withDefault = <T extends z.ZodType>(schema: T, fallback: string) =>
  z.preprocess((v) => emptyAsUndefined(v) ?? fallback, schema);

const environment = z
  .object({
    NODE_ENV: withDefault(
      z.enum(['development', 'production', 'test'], { error: 'must be development, production or test' }),
      'development',
    ),
    PORT: withDefault(integer(0, 65535), '8080'),
    GRPC_PORT: withDefault(integer(0, 65535), '50051'),
    HOST: optional(z.string()),
    WORKERS: withDefault(
      z.union([z.literal('auto').transform(() => availableParallelism()), integer(1, 64)], {
        error: 'must be auto or an integer between 1 and 64',
      }),
      '1',
    ),
    DATABASE_URL: optional(z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')),
    DB_POOL_MAX: withDefault(integer(1, 1000), '10'),
    DB_STATEMENT_TIMEOUT_MS: withDefault(integer(100, 600_000), '5000'),
    DB_CONNECT_TIMEOUT_MS: withDefault(integer(100, 60_000), '1000'),
    DB_ACQUIRE_TIMEOUT_MS: optional(integer(100, 600_000)),
    DB_IDLE_TIMEOUT_MS: withDefault(integer(1000, 3_600_000), '30000'),
    MIGRATE_ON_START: withDefault(boolean, 'true'),
    DB_BREAKER_RESET_MS: withDefault(integer(100, 600_000), '2000'),
    DB_BREAKER_VOLUME_THRESHOLD: withDefault(integer(1, 10_000), '5'),
    READINESS_TIMEOUT_MS: withDefault(integer(100, 60_000), '1000'),
    LISTEN_WAIT_MS: withDefault(integer(0, 60_000), '3000'),
    IDEMPOTENCY_SWEEP_INTERVAL_MS: withDefault(integer(1000, 86_400_000), '600000'),
    TELEMETRY_FLUSH_TIMEOUT_MS: withDefault(integer(0, 60_000), '2000'),
    SHED_MAX_EVENT_LOOP_DELAY_MS: withDefault(integer(0, 60_000), '1000'),
    SHED_MAX_HEAP_USED_MB: optional(integer(0, 1_000_000)),
    EMBEDDED_PG_PORT: withDefault(integer(1, 65535), '54329'),
    EMBEDDED_PG_DIR: withDefault(z.string(), '.data/postgres'),
    LOG_LEVEL: withDefault(
      z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        error: 'must be one of fatal, error, warn, info, debug, trace, silent',
      }),
      'info',
    ),
    BODY_LIMIT_BYTES: withDefault(integer(1024, 10 * 1024 * 1024), '65536'),
    HTTP_HEADERS_TIMEOUT_MS: withDefault(integer(100, 600_000), '10000'),
    HTTP_REQUEST_TIMEOUT_MS: withDefault(integer(100, 600_000), '30000'),
    SHUTDOWN_DELAY_MS: withDefault(integer(0, 300_000), '0'),
    SHUTDOWN_TIMEOUT_MS: withDefault(integer(100, 600_000), '10000'),
    CORS_ORIGINS: withDefault(csv, ''),
    RATE_LIMIT_MAX: withDefault(integer(1, 10_000_000), '600'),
    RATE_LIMIT_WINDOW_MS: withDefault(integer(100, 86_400_000), '60000'),
    AUTH_MODE: withDefault(z.enum(['jwt', 'none'], { error: 'must be jwt or none' }), 'jwt'),
    AUTH_JWT_SECRET: optional(z.string().min(32, 'must be at least 32 characters')),
    AUTH_JWKS_URL: optional(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })),
    AUTH_JWKS_COOLDOWN_MS: withDefault(integer(0, 3_600_000), '30000'),
    AUTH_ISSUER: optional(z.string()),
    AUTH_AUDIENCE: optional(z.string()),
    CURSOR_SECRET: optional(z.string().min(32, 'must be at least 32 characters')),
    REQUIRE_IF_MATCH: withDefault(boolean, 'false'),
    TRUST_PROXY: withDefault(
      csv.pipe(
        z.array(
          z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6(), z.enum(['loopback', 'linklocal', 'uniquelocal'])], {
            error: 'must list IP addresses or CIDR ranges (or loopback, linklocal, uniquelocal)',
          }),
        ),
      ),
      '',
    ),
    DEV_SECRET_FILE: withDefault(z.string(), '.data/dev-jwt-secret'),
    EVENTS_SOURCE: withDefault(z.string().min(1).max(200), '/product-user-service'),
    EVENTS_TYPE_PREFIX: withDefault(
      z.string().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, 'must be a reverse-DNS name such as com.example.productuser'),
      'com.example.productuser',
    ),
    NATS_URL: optional(
      z.string().regex(/^(nats|tls):\/\/\S+$/, 'must be a nats:// or tls:// URL (several: comma-separated)'),
    ),
    NATS_STREAM: withDefault(
      z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -'),
      'PRODUCT_USER_EVENTS',
    ),
    NATS_SUBJECT_PREFIX: withDefault(
      z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be NATS subject tokens separated by dots'),
      'productuser',
    ),
    NATS_STREAM_MAX_AGE_MS: withDefault(integer(60_000, 365 * 86_400_000), '604800000'),
    NATS_DUPLICATE_WINDOW_MS: withDefault(integer(1000, 86_400_000), '600000'),
    NATS_STREAM_MAX_MSG_BYTES: optional(integer(1, 64 * 1024 * 1024)),
    NATS_STREAM_REPLICAS: withDefault(integer(1, 5), '1'),
    NATS_PUBLISH_TIMEOUT_MS: withDefault(integer(100, 60_000), '2000'),
    OUTBOX_POLL_INTERVAL_MS: withDefault(integer(1, 60_000), '20'),
    OUTBOX_IDLE_POLL_INTERVAL_MS: withDefault(integer(1, 60_000), '100'),
    OUTBOX_BATCH_SIZE: withDefault(integer(1, 10_000), '500'),
    OUTBOX_MAX_ATTEMPTS: withDefault(integer(1, 1000), '5'),
    OUTBOX_RETRY_MS: withDefault(integer(10, 600_000), '1000'),
    OUTBOX_RETENTION_MS: withDefault(integer(60_000, 365 * 86_400_000), '604800000'),
    OUTBOX_SWEEP_INTERVAL_MS: withDefault(integer(1000, 86_400_000), '60000'),
    CACHE: withDefault(z.enum(['on', 'off'], { error: 'must be on or off' }), 'on'),
    CACHE_NEAR_MAX_ENTRIES: withDefault(integer(1, 10_000_000), '10000'),
    CACHE_NEAR_MAX_MB: withDefault(integer(1, 4096), '32'),
    CACHE_NEAR_TTL_MS: withDefault(integer(1, 86_400_000), '60000'),
    CACHE_STALENESS_MS: withDefault(integer(10, 60_000), '1000'),
    REDIS_URL: optional(z.string().regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL')),
    CACHE_REDIS_TIMEOUT_MS: withDefault(integer(1, 10_000), '50'),
    CACHE_REDIS_TTL_MS: withDefault(integer(1000, 86_400_000), '60000'),
    CACHE_REDIS_BREAKER_MS: withDefault(integer(100, 600_000), '5000'),
    CACHE_REDIS_KEY_PREFIX: withDefault(z.string().max(100), 'productuser:'),
  })
  .superRefine((env, ctx) => {
    const production = env.NODE_ENV === 'production';
    if (production && env.DATABASE_URL === undefined) {
      ctx.addIssue({ code: 'custom', path: ['DATABASE_URL'], message: 'is required when NODE_ENV=production' });
    }
    if (env.NATS_DUPLICATE_WINDOW_MS > env.NATS_STREAM_MAX_AGE_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['NATS_DUPLICATE_WINDOW_MS'],
        message: 'must not be longer than NATS_STREAM_MAX_AGE_MS',
      });
    }
    if (production && env.AUTH_MODE === 'none') {
      ctx.addIssue({ code: 'custom', path: ['AUTH_MODE'], message: 'none is refused when NODE_ENV=production' });
    }
    if (env.AUTH_MODE === 'jwt' && production && env.AUTH_JWT_SECRET === undefined && env.AUTH_JWKS_URL === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_JWT_SECRET'],
        message: 'AUTH_JWT_SECRET or AUTH_JWKS_URL is required when AUTH_MODE=jwt in production',
      });
    }
  });

export type Config = Readonly<ReturnType<typeof toConfig>>;

/** Replicas of one deployment share the database URL, so a key derived from it is shared too. */
function derivedCursorSecret(databaseUrl: string | undefined, embeddedPort: number): string {
  const source = databaseUrl ?? `embedded PostgreSQL on port ${embeddedPort}`;
  return createHash('sha256').update(`cursor-key\n${source}`).digest('hex');
}

function toConfig(env: z.output<typeof environment>) {
  const production = env.NODE_ENV === 'production';
  return {
    env: env.NODE_ENV,
    production,
    port: env.PORT,
    /** Native gRPC (HTTP/2 cleartext); Connect and gRPC-Web are served on PORT too. */
    grpcPort: env.GRPC_PORT,
    // In a container the probes come from outside the pod, so production listens on all
    // interfaces; a developer's laptop keeps the service on loopback.
    host: env.HOST ?? (production ? '0.0.0.0' : '127.0.0.1'),
    // HTTP worker processes (node:cluster); 1 = a single process, no primary (see process/cluster.ts).
    workers: env.WORKERS,
    logLevel: env.LOG_LEVEL,
    /** The longest the port waits, at start-up, for load shedding to let requests through. */
    listenWaitMs: env.LISTEN_WAIT_MS,
    database: {
      url: env.DATABASE_URL,
      poolMax: env.DB_POOL_MAX,
      /** The server cancels a statement after this (57014). */
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
      /** The client stops waiting a second later, for a server that stopped answering at all. */
      statementDeadlineMs: env.DB_STATEMENT_TIMEOUT_MS + 1000,
      connectTimeoutMs: env.DB_CONNECT_TIMEOUT_MS,
      /** Waiting for a pooled connection: by default as long as one statement may run, so a burst queues. */
      acquireTimeoutMs: env.DB_ACQUIRE_TIMEOUT_MS ?? env.DB_STATEMENT_TIMEOUT_MS,
      idleTimeoutMs: env.DB_IDLE_TIMEOUT_MS,
      /** The first ping at start-up may also wait for a connection. */
      startupPingTimeoutMs: env.DB_CONNECT_TIMEOUT_MS + 1000,
      /** /readyz answers 503 when a ping takes longer. */
      readinessTimeoutMs: env.READINESS_TIMEOUT_MS,
      migrateOnStart: env.MIGRATE_ON_START,
      breaker: { resetTimeoutMs: env.DB_BREAKER_RESET_MS, volumeThreshold: env.DB_BREAKER_VOLUME_THRESHOLD },
      /** How often expired idempotency keys are deleted (they live 24 h). */
      idempotencySweepIntervalMs: env.IDEMPOTENCY_SWEEP_INTERVAL_MS,
    },
    http: {
      bodyLimitBytes: env.BODY_LIMIT_BYTES,
      // A client gets 408 when its headers, or its whole request, take longer than these.
      headersTimeoutMs: Math.min(env.HTTP_HEADERS_TIMEOUT_MS, env.HTTP_REQUEST_TIMEOUT_MS),
      requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
      cursorSecret: env.CURSOR_SECRET ?? derivedCursorSecret(env.DATABASE_URL, env.EMBEDDED_PG_PORT),
      requireIfMatch: env.REQUIRE_IF_MATCH,
      corsOrigins: env.CORS_ORIGINS,
      rateLimit: { max: env.RATE_LIMIT_MAX, windowMs: env.RATE_LIMIT_WINDOW_MS },
      trustProxy: env.TRUST_PROXY,
      // Load shedding: 0 turns a limit off. Unset heap limit: 90 % of V8's heap limit.
      shedding: {
        maxEventLoopDelayMs: env.SHED_MAX_EVENT_LOOP_DELAY_MS,
        maxHeapUsedBytes:
          env.SHED_MAX_HEAP_USED_MB === undefined
            ? Math.floor(getHeapStatistics().heap_size_limit * 0.9)
            : env.SHED_MAX_HEAP_USED_MB * 2 ** 20,
      },
    },
    embeddedPostgres: { port: env.EMBEDDED_PG_PORT, dir: env.EMBEDDED_PG_DIR },
    shutdown: {
      delayMs: env.SHUTDOWN_DELAY_MS,
      timeoutMs: env.SHUTDOWN_TIMEOUT_MS,
      /** Past SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS a process gives up on a clean exit. */
      deadlineMs: env.SHUTDOWN_DELAY_MS + env.SHUTDOWN_TIMEOUT_MS,
      /** A cluster's primary outlasts its workers' deadline by 2 s, then ends them with SIGKILL. */
      primaryDeadlineMs: env.SHUTDOWN_DELAY_MS + env.SHUTDOWN_TIMEOUT_MS + 2000,
      telemetryFlushTimeoutMs: env.TELEMETRY_FLUSH_TIMEOUT_MS,
    },
    auth: {
      mode: env.AUTH_MODE,
      jwtSecret: env.AUTH_JWT_SECRET,
      jwksUrl: env.AUTH_JWKS_URL,
      jwksCooldownMs: env.AUTH_JWKS_COOLDOWN_MS,
      issuer: env.AUTH_ISSUER,
      audience: env.AUTH_AUDIENCE,
    },
    devSecretFile: env.DEV_SECRET_FILE,
    /** Reads by id through an in-process cache, served while the change feed is within stalenessMs. */
    cache: {
      enabled: env.CACHE === 'on',
      near: {
        maxEntries: env.CACHE_NEAR_MAX_ENTRIES,
        maxBytes: env.CACHE_NEAR_MAX_MB * 2 ** 20,
        ttlMs: env.CACHE_NEAR_TTL_MS,
        stalenessMs: env.CACHE_STALENESS_MS,
      },
      /** The shared tier, with REDIS_URL; without it the near tier alone. */
      redis:
        env.REDIS_URL === undefined
          ? undefined
          : {
              url: env.REDIS_URL,
              timeoutMs: env.CACHE_REDIS_TIMEOUT_MS,
              ttlMs: env.CACHE_REDIS_TTL_MS,
              breakerMs: env.CACHE_REDIS_BREAKER_MS,
              keyPrefix: env.CACHE_REDIS_KEY_PREFIX,
            },
    },
    events: {
      naming: { source: env.EVENTS_SOURCE, typePrefix: env.EVENTS_TYPE_PREFIX },
      /** Without NATS_URL, events are recorded and served by GET /api/v1/events only. */
      nats:
        env.NATS_URL === undefined
          ? undefined
          : {
              url: env.NATS_URL,
              stream: env.NATS_STREAM,
              subjectPrefix: env.NATS_SUBJECT_PREFIX,
              maxAgeMs: env.NATS_STREAM_MAX_AGE_MS,
              duplicateWindowMs: env.NATS_DUPLICATE_WINDOW_MS,
              maxMessageBytes: env.NATS_STREAM_MAX_MSG_BYTES ?? -1,
              replicas: env.NATS_STREAM_REPLICAS,
              publishTimeoutMs: env.NATS_PUBLISH_TIMEOUT_MS,
            },
      relay: {
        pollIntervalMs: env.OUTBOX_POLL_INTERVAL_MS,
        idlePollIntervalMs: env.OUTBOX_IDLE_POLL_INTERVAL_MS,
        batchSize: env.OUTBOX_BATCH_SIZE,
        maxAttempts: env.OUTBOX_MAX_ATTEMPTS,
        retryMs: env.OUTBOX_RETRY_MS,
        retentionMs: env.OUTBOX_RETENTION_MS,
        sweepIntervalMs: env.OUTBOX_SWEEP_INTERVAL_MS,
      },
    },
  };
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Parses the environment; throws ConfigError listing every problem (never a value). */
export function loadConfig(source: Readonly<Record<string, string | undefined>>): Config {
  const parsed = environment.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  return deepFreeze(toConfig(parsed.data));
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object') deepFreeze(child as object);
  }
  return Object.freeze(value);
}

/**
 * For entry points (server, CLI tools): the configuration, or null after writing the one
 * message that lists every problem, so the caller can exit 1.
 */
export function loadConfigOrReport(
  source: Readonly<Record<string, string | undefined>>,
  report: (message: string) => void,
): Config | null {
  try {
    return loadConfig(source);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    report(err.message);
    return null;
  }
}
