import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      env: 'development',
      port: 8080,
      host: '127.0.0.1',
      listenWaitMs: 3000,
      database: {
        url: undefined,
        poolMax: 10,
        statementTimeoutMs: 5000,
        statementDeadlineMs: 6000,
        startupPingTimeoutMs: 2000,
        readinessTimeoutMs: 1000,
        migrateOnStart: true,
        breaker: { resetTimeoutMs: 2000, volumeThreshold: 5 },
        idempotencySweepIntervalMs: 600_000,
      },
      http: { bodyLimitBytes: 65536, requireIfMatch: false, shedding: { maxEventLoopDelayMs: 1000 } },
      shutdown: {
        delayMs: 0,
        timeoutMs: 10000,
        deadlineMs: 10000,
        primaryDeadlineMs: 12000,
        telemetryFlushTimeoutMs: 2000,
      },
      auth: { mode: 'jwt' },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.database)).toBe(true);
  });

  it('parses numbers, booleans and lists', () => {
    const config = loadConfig({
      PORT: '9000',
      MIGRATE_ON_START: 'false',
      CORS_ORIGINS: 'https://a.example, https://b.example',
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://u:p@db/x',
      AUTH_JWT_SECRET: 'x'.repeat(32),
    });
    expect(config.port).toBe(9000);
    expect(config.host).toBe('0.0.0.0');
    expect(config.database.migrateOnStart).toBe(false);
    expect(config.http.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
  });

  it('reads WORKERS as a count or auto (one per available core)', () => {
    expect(loadConfig({}).workers).toBe(1);
    expect(loadConfig({ WORKERS: '3' }).workers).toBe(3);
    expect(loadConfig({ WORKERS: 'auto' }).workers).toBe(availableParallelism());
    for (const bad of ['0', '65', 'two', '-1'])
      expect(problemsOf({ WORKERS: bad }), bad).toEqual([
        expect.stringMatching(/^WORKERS: must be (auto or )?an integer between 1 and 64$/),
      ]);
  });

  it('publishes events only with NATS_URL, and checks the event settings', () => {
    expect(loadConfig({}).events.nats).toBeUndefined();
    expect(loadConfig({}).events.naming).toEqual({
      source: '/product-user-service',
      typePrefix: 'com.example.productuser',
    });
    expect(loadConfig({ NATS_URL: 'nats://a:4222,nats://b:4222' }).events.nats).toMatchObject({
      url: 'nats://a:4222,nats://b:4222',
      stream: 'PRODUCT_USER_EVENTS',
      subjectPrefix: 'productuser',
      duplicateWindowMs: 600_000,
      maxMessageBytes: -1,
    });
    const problems = problemsOf({
      NATS_URL: 'http://nats',
      NATS_STREAM: 'has space',
      EVENTS_TYPE_PREFIX: 'NoDots',
      NATS_DUPLICATE_WINDOW_MS: '7200000',
      NATS_STREAM_MAX_AGE_MS: '3600000',
    }).join('\n');
    for (const name of ['NATS_URL', 'NATS_STREAM', 'EVENTS_TYPE_PREFIX', 'NATS_DUPLICATE_WINDOW_MS']) {
      expect(problems).toContain(name);
    }
  });

  it('lists every problem at once, naming the variables', () => {
    const problems = problemsOf({ PORT: 'eighty', DB_POOL_MAX: '0', LOG_LEVEL: 'loud', MIGRATE_ON_START: 'maybe' });
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/PORT: must be an integer between 0 and 65535/);
    expect(problems.join('\n')).toMatch(/DB_POOL_MAX/);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL/);
    expect(problems.join('\n')).toMatch(/MIGRATE_ON_START: must be true or false/);
  });

  it('never prints a secret value, even an invalid one', () => {
    const secret = 'hunter2-too-short';
    const error = (() => {
      try {
        loadConfig({ AUTH_JWT_SECRET: secret, DATABASE_URL: 'mysql://root:s3cr3t@db' });
      } catch (err) {
        return err as Error;
      }
      return new Error('no error');
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toMatch(/AUTH_JWT_SECRET: must be at least 32 characters/);
    expect(error.message).not.toContain(secret);
    expect(error.message).not.toContain('s3cr3t');
  });

  it('requires DATABASE_URL and refuses AUTH_MODE=none in production', () => {
    const problems = problemsOf({ NODE_ENV: 'production', AUTH_MODE: 'none' });
    expect(problems).toContain('DATABASE_URL: is required when NODE_ENV=production');
    expect(problems).toContain('AUTH_MODE: none is refused when NODE_ENV=production');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).port).toBe(8080);
  });
});
