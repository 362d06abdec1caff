import { Redis, type Result } from 'ioredis';
import type { Logger } from 'pino';
import { spreadTtl } from './expiry.js';

export interface RedisTierSettings {
  readonly url: string;
  /** Each call's bound: past it the read goes to PostgreSQL. */
  readonly timeoutMs: number;
  /** How long entries live in Redis: the staleness bound should a write fail to update Redis. */
  readonly ttlMs: number;
  /** After a failure, how long Redis is not asked at all. */
  readonly breakerMs: number;
  readonly keyPrefix: string;
}

/** An entry as the shared tier keeps it: the version, and the resource's JSON ('' for a delete). */
export interface SharedEntry {
  readonly version: number;
  readonly json: string;
}

// Sets the entry unless Redis already holds this version or a newer one (the slow reader's race,
// across replicas). Values are "<version>|<json>".
const SET_IF_NEWER = `
local current = redis.call('GET', KEYS[1])
if current then
  local version = tonumber(string.match(current, '^(%d+)|'))
  if version and version >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1`;

const CONNECT_TIMEOUT_MS = 1000;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** SET_IF_NEWER, defined on the client: sent by its SHA (EVALSHA), its text only when Redis lacks it. */
    setIfNewer(key: string, version: number, json: string, ttlMs: number): Result<number, Context>;
  }
}

/**
 * The shared tier: Redis (or Valkey) through ioredis. Never a reason to fail: every call is
 * bounded by `timeoutMs`, commands are not queued while disconnected, and after a failure the
 * tier is skipped for `breakerMs`; its callers then read PostgreSQL. A failure is logged once
 * per opening of that breaker: the calls in flight when Redis went fail too, and would each
 * write the same line.
 */
export class RedisTier {
  readonly #settings: RedisTierSettings;
  readonly #logger: Logger;
  readonly #client: Redis;
  #skipUntil = 0;

  constructor(settings: RedisTierSettings, logger: Logger) {
    this.#settings = settings;
    this.#logger = logger;
    this.#client = new Redis(settings.url, {
      commandTimeout: settings.timeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
    });
    this.#client.defineCommand('setIfNewer', { numberOfKeys: 1, lua: SET_IF_NEWER });
    this.#client.on('error', (err: Error) => this.#logger.debug({ err }, 'Redis: connection error'));
  }

  /**
   * Resolves once the client is connected, or has failed to connect once (or its connect timeout
   * passed): a start does not wait on a Redis that is down, and its first reads do not open the
   * breaker by asking before the connection is up (commands are not queued).
   */
  connected(): Promise<void> {
    if (this.#client.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#client.off('ready', done).off('error', done);
        resolve();
      };
      const timer = setTimeout(done, CONNECT_TIMEOUT_MS);
      this.#client.once('ready', done).once('error', done);
    });
  }

  /** The entry, or undefined on a miss, or when Redis cannot answer within its bound. */
  async get(key: string): Promise<SharedEntry | undefined> {
    if (Date.now() < this.#skipUntil) return undefined;
    try {
      const value = await this.#client.get(this.#settings.keyPrefix + key);
      if (value === null) return undefined;
      const bar = value.indexOf('|');
      return { version: Number(value.slice(0, bar)), json: value.slice(bar + 1) };
    } catch (err) {
      this.#failed(err);
      return undefined;
    }
  }

  /** Stores the entry unless a newer one is there. */
  async put(key: string, entry: SharedEntry): Promise<void> {
    if (Date.now() < this.#skipUntil) return;
    try {
      const full = this.#settings.keyPrefix + key;
      await this.#client.setIfNewer(full, entry.version, entry.json, spreadTtl(this.#settings.ttlMs));
    } catch (err) {
      this.#failed(err);
    }
  }

  close(): void {
    this.#client.disconnect();
  }

  #failed(err: unknown): void {
    const now = Date.now();
    if (now < this.#skipUntil) return;
    this.#skipUntil = now + this.#settings.breakerMs;
    this.#logger.warn({ err, skip_ms: this.#settings.breakerMs }, 'Redis: call failed; reading PostgreSQL meanwhile');
  }
}
